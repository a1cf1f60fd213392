"""Byte layouts of the verdict engine's and the social graph's records.

They share the store's LMDB environment and its conventions
(``shingles.store.layout``): a one-byte version first, explicit little-endian
``struct`` formats, decoding errors raised as ``StoreFormatError``.

Layouts, version 1:

- zone counters (verdict engine, per source IP): ``<BIdd`` version, hour of the
  last update, messages and messages in spam mailings, both decayed to that hour.
- held message: ``<BIqQ`` version, hour, deadline (unix seconds), mailing id at
  hold; then the facts to judge it again as UTF-8 JSON.
- verdict: ``<BI`` version, hour; then the verdict record as UTF-8 JSON (its
  reasons vary in number and kind, which a fixed layout cannot hold).
- social edge (author -> recipient): ``<BIIIdB`` version, first hour, last hour,
  messages, weight decayed to the last hour, pinned (0/1).
- outgoing recipient domain: ``<BII`` version, last hour, messages; then a
  distinct counter of the local authors who wrote to it.
- domain networks: ``<BI`` version, last hour; u8 n, then n networks as
  u8-length-prefixed text ("192.0.2.0/24"), the most recent last.
- author day / flagged author: ``<BII`` version, hour, count.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from typing import Any

from shingles.store.layout import (
    RECORD_VERSION,
    DistinctCounter,
    check_version as _check,
    decoder,
    pack_str,
    unpack_str,
)

__all__ = [
    "EDGE",
    "HELD",
    "VERDICT",
    "ZONE",
    "Edge",
    "pack_count",
    "pack_domain_out",
    "pack_held",
    "pack_networks",
    "pack_verdict",
    "pack_zone",
    "unpack_count",
    "unpack_domain_out",
    "unpack_held",
    "unpack_networks",
    "unpack_verdict",
    "unpack_zone",
]

ZONE = struct.Struct("<BIdd")
HELD = struct.Struct("<BIqQ")
VERDICT = struct.Struct("<BI")
EDGE = struct.Struct("<BIIIdB")
COUNT = struct.Struct("<BII")
_U8 = struct.Struct("<B")


def pack_zone(hour: int, messages: float, spam: float) -> bytes:
    """Return a zone counters record."""
    return ZONE.pack(RECORD_VERSION, hour, messages, spam)


@decoder
def unpack_zone(data: bytes) -> tuple[int, float, float]:
    """Return (hour, messages, spam) of a zone record; raise StoreFormatError if unknown."""
    version, hour, messages, spam = ZONE.unpack(data)
    _check(data, version, "zone")
    return hour, messages, spam


def pack_held(hour: int, deadline: int, mailing: int, facts: dict[str, Any]) -> bytes:
    """Return a held-message record."""
    return HELD.pack(RECORD_VERSION, hour, deadline, mailing) + json.dumps(facts).encode()


@decoder
def unpack_held(data: bytes) -> tuple[int, int, int, dict[str, Any]]:
    """Return (hour, deadline, mailing, facts) of a held record."""
    version, hour, deadline, mailing = HELD.unpack_from(data)
    _check(data, version, "held")
    return hour, deadline, mailing, json.loads(data[HELD.size:])


def pack_verdict(hour: int, record: dict[str, Any]) -> bytes:
    """Return a verdict record."""
    return VERDICT.pack(RECORD_VERSION, hour) + json.dumps(record).encode()


@decoder
def unpack_verdict(data: bytes) -> dict[str, Any]:
    """Return the verdict record in data; raise StoreFormatError if the version is unknown."""
    version, _ = VERDICT.unpack_from(data)
    _check(data, version, "verdict")
    record: dict[str, Any] = json.loads(data[VERDICT.size:])
    return record


@dataclasses.dataclass(frozen=True)
class Edge:
    """One author -> recipient edge of the social graph.

    Attributes:
        first_hour, last_hour: Hours (since the epoch) of the first and latest message.
        messages: Messages the author wrote to the recipient.
        weight: Messages decayed by the graph's half-life, as of last_hour.
        pinned: Kept whatever its age (set by hand).
    """

    first_hour: int
    last_hour: int
    messages: int
    weight: float
    pinned: bool = False

    def pack(self) -> bytes:
        """Return the record bytes."""
        return EDGE.pack(RECORD_VERSION, self.first_hour, self.last_hour, self.messages,
                         self.weight, self.pinned)

    @classmethod
    @decoder
    def unpack(cls, data: bytes) -> Edge:
        """Return the edge in data; raise StoreFormatError if the version is unknown."""
        version, first, last, messages, weight, pinned = EDGE.unpack(data)
        _check(data, version, "edge")
        return cls(first, last, messages, weight, bool(pinned))


def pack_count(hour: int, count: int) -> bytes:
    """Return an (hour, count) record: author days and flagged authors."""
    return COUNT.pack(RECORD_VERSION, hour, count)


@decoder
def unpack_count(data: bytes) -> tuple[int, int]:
    """Return (hour, count) of an author-day or flagged-author record."""
    version, hour, count = COUNT.unpack(data)
    _check(data, version, "count")
    return hour, count


def pack_domain_out(hour: int, messages: int, authors: DistinctCounter) -> bytes:
    """Return an outgoing-recipient-domain record."""
    return COUNT.pack(RECORD_VERSION, hour, messages) + authors.pack()


@decoder
def unpack_domain_out(data: bytes) -> tuple[int, int, DistinctCounter]:
    """Return (last hour, messages, distinct authors) of a recipient-domain record."""
    hour, messages = unpack_count(data[:COUNT.size])
    authors, _ = DistinctCounter.unpack(data, COUNT.size)
    return hour, messages, authors


def pack_networks(hour: int, networks: list[str]) -> bytes:
    """Return a domain-networks record (at most 255 networks, the most recent last)."""
    return b"".join([VERDICT.pack(RECORD_VERSION, hour), _U8.pack(len(networks[-255:]))]
                    + [pack_str(n) for n in networks[-255:]])


@decoder
def unpack_networks(data: bytes) -> tuple[int, list[str]]:
    """Return (last hour, networks) of a domain-networks record."""
    version, hour = VERDICT.unpack_from(data)
    _check(data, version, "domain networks")
    offset, networks = VERDICT.size + 1, []
    for _ in range(data[VERDICT.size]):
        network, offset = unpack_str(data, offset)
        networks.append(network)
    return hour, networks
