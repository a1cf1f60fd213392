"""Byte layouts of everything the mailing store writes to disk.

Every record starts with a one-byte version and is packed with an explicit
little-endian ``struct`` format, so a store written on one machine reads the
same on any other, and a future layout can still read today's records. Keys
are big-endian where their order matters (cursors walk them in id order).

Layouts, version 1:

- index value (mega-shingle, I-Match, LSH band, union-find parent):
  ``<BQI`` version, mailing id, hour last written (hours since the epoch).
- message record: ``<BQI`` version, mailing id at insertion, hour; then the
  Message-ID and the source as u8-length-prefixed UTF-8 (cut at 255 bytes).
- message tombstone: ``<BBI`` version, 0xFF, the hour it expires for good. What
  retention leaves of a message record it expires, so a rerun within one more
  window finds the message already seen; retention removes it at that hour.
- member value: ``<BI`` version, hour.
- IP counters: ``<BIIIII`` version, messages, messages that joined an existing
  mailing, messages with SPF fail or softfail, first hour, last hour.
- mailing statistics: the fixed head ``STATS_HEAD`` (see ``Stats``), then three
  distinct counters (IPs, /24 networks, recipients), the sender domains and
  the representative subject and Message-ID. Version 2 (``STATS_VERSION``) adds
  two distinct counters at the end: the /24 networks of the copies that
  authenticate for their sending domain, and those of the others; version 1
  records read as having none.
- distinct counter: u8 kind; kind 0: u8 n, n x u64 hashes (exact); kind 1:
  ``HLL_REGISTERS`` bytes of HyperLogLog registers.

The verdict engine and the social graph keep their own records in the same
environment; their layouts live with them (``shingles.verdicts.layout``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import struct
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from shingles.errors import StoreFormatError
from shingles.scheme import NUM_PERM

__all__ = [
    "AUTH_RESULTS",
    "BULK_SIGNS",
    "HOUR_AT",
    "STORE_DATABASES",
    "Database",
    "check_version",
    "decoder",
    "RECORD_VERSION",
    "DistinctCounter",
    "IpCounters",
    "Stats",
    "pack_index",
    "pack_member",
    "pack_merge",
    "reps_header",
    "unpack_merge",
    "pack_message",
    "pack_tombstone",
    "unpack_index",
    "unpack_message",
    "unpack_stored_message",
    "unpack_tombstone",
]

RECORD_VERSION = 1
#: Statistics records have their own version: 2 added the per-identity networks.
STATS_VERSION = 2

#: Result names counted per mailing for SPF, DKIM and DMARC, in record order;
#: two more slots follow: any other word, and no result at all.
AUTH_RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
AUTH_SLOTS = len(AUTH_RESULTS) + 2
#: Signs of an honest bulk mailing, in record order.
BULK_SIGNS = ("list-unsubscribe", "list-unsubscribe-post", "list-id", "precedence-bulk",
              "feedback-id")

INDEX = struct.Struct("<BQI")
MEMBER = struct.Struct("<BI")
IP = struct.Struct("<BIIIII")
_U8 = struct.Struct("<B")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
#: Bytes of one representative's min-hashes in a reps record (recall mode).
REP_BYTES = 8 * NUM_PERM

#: Version, size, merged mailings, first seen, last seen (unix seconds), hour of
#: the last change (what retention looks at), recipients, complaints, traps,
#: SPF / DKIM / DMARC counts, honest-bulk sign counts.
STATS_HEAD = struct.Struct(f"<BQIqqIQII{3 * AUTH_SLOTS}I{len(BULK_SIGNS)}I")
_TOUCHED_AT = struct.calcsize("<BQIqq")

#: Where each swept record keeps the u32 hour retention compares (its last
#: change), by database: index values and messages at 9, members at 1, IP
#: counters (last hour) at 17, statistics (touched) in the head.
HOUR_AT = {"mega": 9, "band": 9, "imatch": 9, "parent": 9, "messages": 9, "members": 1,
           "ips": 17, "stats": _TOUCHED_AT, "merges": 1}

#: Distinct values are kept exactly up to this many, then estimated.
EXACT_CAP = 32
#: HyperLogLog with 2^8 registers: about 6.5% standard error in 256 bytes.
HLL_BITS = 8
HLL_REGISTERS = 1 << HLL_BITS
_HLL_ALPHA = 0.7213 / (1 + 1.079 / HLL_REGISTERS)
_MASK64 = (1 << 64) - 1

# Packers of an exact counter by its size (u8 kind 0, u8 n, n x u64): packed at
# every commit for every mailing the batch touched.
_EXACT = [struct.Struct(f"<BB{n}Q").pack for n in range(EXACT_CAP + 1)]

#: Sender domains kept with their counts per mailing; the rest are summed.
TOP_DOMAINS = 8
MAX_TEXT = 255


def check_version(data: bytes, version: int, what: str, newest: int = RECORD_VERSION) -> None:
    """Raise StoreFormatError unless version is one this code reads."""
    if not 1 <= version <= newest:
        raise StoreFormatError(f"{what} record version {version} is unknown "
                               f"(this shingles reads versions 1 to {newest})")


_check = check_version
_F = TypeVar("_F", bound=Callable[..., Any])


def decoder(unpack: _F) -> _F:
    """Make unpack raise StoreFormatError for bytes it cannot read (short, cut, not UTF-8).

    A damaged or foreign record must stop with the store's own error, which the
    command line turns into one line, never with an IndexError or struct.error.
    """
    @functools.wraps(unpack)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return unpack(*args, **kwargs)
        except (struct.error, IndexError, UnicodeDecodeError, ValueError, TypeError) as exc:
            if isinstance(exc, StoreFormatError):
                raise
            raise StoreFormatError(f"a {unpack.__name__.replace('unpack_', '')} record "
                                   f"cannot be read ({exc}); run 'shingles store check'"
                                   ) from None
    return checked  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True)
class Database:
    """A named LMDB database a stage keeps in the store's environment.

    Attributes:
        name: The database name.
        hour_at: Where its values keep the u32 hour retention compares (None: not swept).
        dupsort: Keys may hold several sorted values.
        decode: Reads one value, raising StoreFormatError when it cannot
            (``shingles store check`` runs it on every record); None: not checked.
    """

    name: str
    hour_at: int | None = None
    dupsort: bool = False
    decode: Callable[[bytes], Any] | None = None


def pack_str(text: str | None) -> bytes:
    """Return text as u8 length + UTF-8, cut at a character boundary within 255 bytes."""
    raw = (text or "").encode("utf-8", "replace")
    if len(raw) > MAX_TEXT:
        raw = raw[:MAX_TEXT].decode("utf-8", "ignore").encode("utf-8")
    return _U8.pack(len(raw)) + raw


@decoder
def unpack_str(data: bytes, offset: int) -> tuple[str, int]:
    """Return (the string at offset, the offset after it)."""
    n = data[offset]
    return data[offset + 1:offset + 1 + n].decode("utf-8"), offset + 1 + n


def pack_index(mailing: int, hour: int) -> bytes:
    """Return the value of an index key (or a union-find parent link)."""
    return INDEX.pack(RECORD_VERSION, mailing, hour)


@decoder
def unpack_index(data: bytes) -> tuple[int, int]:
    """Return (mailing id, hour) of an index value; raise StoreFormatError if unknown."""
    version, mailing, hour = INDEX.unpack(data)
    _check(data, version, "index")
    return mailing, hour


def pack_message(mailing: int, hour: int, message_id: str | None, source: str) -> bytes:
    """Return a message record."""
    return INDEX.pack(RECORD_VERSION, mailing, hour) + pack_str(message_id) + pack_str(source)


@decoder
def unpack_message(data: bytes) -> tuple[int, int, str | None, str]:
    """Return (mailing id, hour, Message-ID or None, source) of a message record."""
    mailing, hour = unpack_index(data[:INDEX.size])
    message_id, offset = unpack_str(data, INDEX.size)
    source, _ = unpack_str(data, offset)
    return mailing, hour, message_id or None, source


#: A message record retention has expired (see the module's layouts).
TOMBSTONE = struct.Struct("<BBI")
_FORGOTTEN = 0xFF


def pack_tombstone(hour: int) -> bytes:
    """Return the tombstone of an expired message, removed for good at hour."""
    return TOMBSTONE.pack(RECORD_VERSION, _FORGOTTEN, hour)


def is_tombstone(data: bytes) -> bool:
    """Return whether a messages record is a tombstone (a message record has 15+ bytes)."""
    return len(data) == TOMBSTONE.size


@decoder
def unpack_tombstone(data: bytes) -> int:
    """Return the hour a tombstone is removed at."""
    version, flag, hour = TOMBSTONE.unpack(data)
    _check(data, version, "tombstone")
    if flag != _FORGOTTEN:
        raise StoreFormatError(f"a tombstone has flag {flag}, not {_FORGOTTEN}")
    return int(hour)


def unpack_stored_message(data: bytes) -> tuple[int, int, str | None, str] | int:
    """Return what a messages record holds: a message (as unpack_message) or, for a
    tombstone, the hour it goes (``shingles store check`` reads both)."""
    return unpack_tombstone(data) if is_tombstone(data) else unpack_message(data)


def pack_member(hour: int) -> bytes:
    """Return the value of a (mailing, message) membership entry."""
    return MEMBER.pack(RECORD_VERSION, hour)


@decoder
def unpack_member(data: bytes) -> int:
    """Return the hour of a membership entry."""
    version, hour = MEMBER.unpack(data)
    _check(data, version, "member")
    return int(hour)


#: Version byte of a representatives record of index keys (paper mode): each entry
#: a u8 count and that many 8-byte mega-shingle and I-Match keys. Version 1 records
#: hold min-hash vectors (recall mode).
REPS_OF_KEYS = 2


def reps_header(mode: str) -> bytes:
    """Return the version byte a new representatives record of a store in mode starts with."""
    return bytes([REPS_OF_KEYS if mode == "paper" else RECORD_VERSION])


@decoder
def unpack_reps(data: bytes) -> list[bytes]:
    """Return the entries of a reps record (min-hash vectors, or u8 count + index keys)."""
    _check(data, data[0], "representatives", REPS_OF_KEYS)
    entries = []
    at = 1
    while at < len(data):
        end = at + (1 + 8 * data[at] if data[0] == REPS_OF_KEYS else REP_BYTES)
        if end > len(data):
            raise StoreFormatError(f"a representatives record has {len(data)} bytes")
        entries.append(data[at:end])
        at = end
    if not entries:
        raise StoreFormatError("a representatives record holds none")
    return entries


@decoder
def unpack_id(data: bytes) -> int:
    """Return a mailing id as the children database keeps it (8 bytes, big-endian)."""
    return int(struct.unpack(">Q", data)[0])


@dataclasses.dataclass
class IpCounters:
    """Traffic of one source IP (mutable while a batch is open).

    Attributes:
        messages: Messages from the IP.
        clustered: Of them, messages that joined an existing mailing.
        spf_failed: Of them, messages whose SPF result was fail or softfail.
        first_hour: Hour (since the epoch) of the first message.
        last_hour: Hour of the latest message.
    """

    messages: int = 0
    clustered: int = 0
    spf_failed: int = 0
    first_hour: int = 0
    last_hour: int = 0

    def pack(self) -> bytes:
        """Return the record bytes."""
        return IP.pack(RECORD_VERSION, self.messages, self.clustered, self.spf_failed,
                       self.first_hour, self.last_hour)

    @classmethod
    @decoder
    def unpack(cls, data: bytes) -> IpCounters:
        """Return the counters in data; raise StoreFormatError if the version is unknown."""
        version, *fields = IP.unpack(data)
        _check(data, version, "IP")
        return cls(*fields)


class DistinctCounter:
    """Count distinct 64-bit hashes: exactly up to EXACT_CAP, then by HyperLogLog.

    Exact counts matter for small mailings (1 IP or 3 IPs is the whole story of
    rule 1); beyond a few dozen an estimate is enough and stays 256 bytes.
    """

    __slots__ = ("exact", "registers")

    def __init__(self) -> None:
        self.exact: set[int] | None = set()
        self.registers: bytearray | None = None

    def add(self, value: int) -> None:
        """Count a hash (an unsigned 64-bit int)."""
        if self.exact is not None:
            self.exact.add(value)
            if len(self.exact) > EXACT_CAP:
                self._to_sketch()
            return
        assert self.registers is not None
        index = value >> (64 - HLL_BITS)
        rest = (value << HLL_BITS) & _MASK64
        rank = min(64 - HLL_BITS, 64 - rest.bit_length()) + 1
        self.registers[index] = max(self.registers[index], rank)

    def _to_sketch(self) -> None:
        values, self.exact = self.exact or set(), None
        self.registers = bytearray(HLL_REGISTERS)
        for value in values:
            self.add(value)

    @property
    def estimated(self) -> bool:
        """Return whether the count is an estimate (past the exact cap)."""
        return self.exact is None

    def count(self) -> int:
        """Return the number of distinct hashes added (estimated past the cap)."""
        if self.exact is not None:
            return len(self.exact)
        assert self.registers is not None
        m = HLL_REGISTERS
        raw = _HLL_ALPHA * m * m / sum(2.0 ** -r for r in self.registers)
        zeros = self.registers.count(0)
        if raw <= 2.5 * m and zeros:
            raw = m * math.log(m / zeros)  # linear counting: better for small counts
        # Never report fewer than the exact phase had seen.
        return max(EXACT_CAP + 1, round(raw))

    def merge(self, other: DistinctCounter) -> None:
        """Add every hash other has counted (its estimate when it is a sketch)."""
        if other.exact is not None:
            for value in other.exact:
                self.add(value)
            return
        if self.registers is None:
            self._to_sketch()
        assert self.registers is not None and other.registers is not None
        self.registers = bytearray(max(a, b) for a, b in zip(self.registers, other.registers))

    def pack(self) -> bytes:
        """Return the counter's bytes."""
        if self.exact is not None:
            n = len(self.exact)
            return _EXACT[n](0, n, *sorted(self.exact))
        assert self.registers is not None
        return b"\x01" + bytes(self.registers)

    @classmethod
    def unpack(cls, data: bytes, offset: int) -> tuple[DistinctCounter, int]:
        """Return (the counter at offset, the offset after it)."""
        counter = cls()
        kind = data[offset]
        if kind == 0:
            n = data[offset + 1]
            end = offset + 2 + 8 * n
            counter.exact = set(struct.unpack_from(f"<{n}Q", data, offset + 2))
            return counter, end
        if kind == 1:
            end = offset + 1 + HLL_REGISTERS
            counter.exact, counter.registers = None, bytearray(data[offset + 1:end])
            return counter, end
        raise StoreFormatError(f"distinct counter kind {kind} is unknown")


def _auth_slot(result: str | None) -> int:
    if result is None:
        return AUTH_SLOTS - 1
    try:
        return AUTH_RESULTS.index(result.lower())
    except ValueError:
        return AUTH_SLOTS - 2


def _add_counts(into: list[int], other: Iterable[int]) -> None:
    for i, value in enumerate(other):
        into[i] += value


class Stats:
    """What is known about one mailing; mutable while a batch is open, packed at commit.

    Times are unix seconds; ``touched`` is the store's clock hour at the last
    change, which retention compares with its window.
    """

    __slots__ = (
        "bulk",
        "complaints",
        "dkim",
        "dmarc",
        "domains",
        "first_seen",
        "anon_nets",
        "auth_nets",
        "ips",
        "last_seen",
        "merged",
        "message_id",
        "nets",
        "other_domains",
        "rcpts",
        "recipients",
        "size",
        "spf",
        "subject",
        "touched",
        "traps",
    )

    def __init__(self, subject: str = "", message_id: str | None = None) -> None:
        self.size = 0
        self.merged = 0
        self.first_seen = 0
        self.last_seen = 0
        self.touched = 0
        self.recipients = 0
        self.complaints = 0
        self.traps = 0
        self.spf = [0] * AUTH_SLOTS
        self.dkim = [0] * AUTH_SLOTS
        self.dmarc = [0] * AUTH_SLOTS
        self.bulk = [0] * len(BULK_SIGNS)
        self.ips = DistinctCounter()
        self.nets = DistinctCounter()
        self.rcpts = DistinctCounter()
        # Networks per sender identity: copies that authenticate for their domain,
        # and the rest, so forged copies cannot spread a genuine mailing's count.
        self.auth_nets = DistinctCounter()
        self.anon_nets = DistinctCounter()
        self.domains: dict[str, int] = {}
        self.other_domains = 0
        self.subject = subject
        self.message_id = message_id

    def count_message(self, *, seen: int, hour: int, ip: int | None, net: int | None,
                      domain: str | None, recipients: Iterable[int], spf: str | None,
                      dkim: str | None, dmarc: str | None, bulk_signs: Iterable[str],
                      authenticated: bool = False) -> None:
        """Count one message; ip, net and recipients are hashes, seen is unix seconds."""
        self.size += 1
        self.first_seen = seen if self.size == 1 else min(self.first_seen, seen)
        self.last_seen = max(self.last_seen, seen)
        self.touched = max(self.touched, hour)
        if ip is not None:
            self.ips.add(ip)
        if net is not None:
            self.nets.add(net)
            (self.auth_nets if authenticated else self.anon_nets).add(net)
        for rcpt in recipients:
            self.recipients += 1
            self.rcpts.add(rcpt)
        if domain:
            if domain in self.domains or len(self.domains) < TOP_DOMAINS:
                self.domains[domain] = self.domains.get(domain, 0) + 1
            else:
                self.other_domains += 1
        self.spf[_auth_slot(spf)] += 1
        self.dkim[_auth_slot(dkim)] += 1
        self.dmarc[_auth_slot(dmarc)] += 1
        for sign in bulk_signs:
            if sign in BULK_SIGNS:
                self.bulk[BULK_SIGNS.index(sign)] += 1

    def merge(self, other: Stats) -> None:
        """Fold another mailing's statistics into this one (this one's representative stays)."""
        self.first_seen = (min(self.first_seen, other.first_seen) if self.size and other.size
                           else self.first_seen or other.first_seen)
        self.size += other.size
        self.merged += other.merged + 1
        self.last_seen = max(self.last_seen, other.last_seen)
        self.touched = max(self.touched, other.touched)
        self.recipients += other.recipients
        self.complaints += other.complaints
        self.traps += other.traps
        for mine, theirs in ((self.spf, other.spf), (self.dkim, other.dkim),
                             (self.dmarc, other.dmarc), (self.bulk, other.bulk)):
            _add_counts(mine, theirs)
        self.ips.merge(other.ips)
        self.nets.merge(other.nets)
        self.rcpts.merge(other.rcpts)
        self.auth_nets.merge(other.auth_nets)
        self.anon_nets.merge(other.anon_nets)
        counts = dict(self.domains)
        for domain, n in other.domains.items():
            counts[domain] = counts.get(domain, 0) + n
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        self.domains = dict(ranked[:TOP_DOMAINS])
        self.other_domains += other.other_domains + sum(n for _, n in ranked[TOP_DOMAINS:])

    def pack(self) -> bytes:
        """Return the record bytes."""
        parts = [STATS_HEAD.pack(STATS_VERSION, self.size, self.merged, self.first_seen,
                                 self.last_seen, self.touched, self.recipients,
                                 self.complaints, self.traps, *self.spf, *self.dkim,
                                 *self.dmarc, *self.bulk),
                 self.ips.pack(), self.nets.pack(), self.rcpts.pack(),
                 _U8.pack(len(self.domains))]
        for domain, n in self.domains.items():
            parts.append(pack_str(domain))
            parts.append(_U32.pack(n))
        parts += [_U32.pack(self.other_domains), pack_str(self.subject),
                  pack_str(self.message_id), self.auth_nets.pack(), self.anon_nets.pack()]
        return b"".join(parts)

    @classmethod
    @decoder
    def unpack(cls, data: bytes) -> Stats:
        """Return the statistics in data; raise StoreFormatError if the version is unknown."""
        head = STATS_HEAD.unpack_from(data)
        _check(data, head[0], "statistics", STATS_VERSION)
        stats = cls()
        (stats.size, stats.merged, stats.first_seen, stats.last_seen, stats.touched,
         stats.recipients, stats.complaints, stats.traps) = head[1:9]
        counts = list(head[9:])
        stats.spf = counts[:AUTH_SLOTS]
        stats.dkim = counts[AUTH_SLOTS:2 * AUTH_SLOTS]
        stats.dmarc = counts[2 * AUTH_SLOTS:3 * AUTH_SLOTS]
        stats.bulk = counts[3 * AUTH_SLOTS:]
        offset = STATS_HEAD.size
        stats.ips, offset = DistinctCounter.unpack(data, offset)
        stats.nets, offset = DistinctCounter.unpack(data, offset)
        stats.rcpts, offset = DistinctCounter.unpack(data, offset)
        n = data[offset]
        offset += 1
        for _ in range(n):
            domain, offset = unpack_str(data, offset)
            stats.domains[domain] = _U32.unpack_from(data, offset)[0]
            offset += 4
        stats.other_domains = _U32.unpack_from(data, offset)[0]
        stats.subject, offset = unpack_str(data, offset + 4)
        message_id, offset = unpack_str(data, offset)
        stats.message_id = message_id or None
        if head[0] >= 2:
            stats.auth_nets, offset = DistinctCounter.unpack(data, offset)
            stats.anon_nets, offset = DistinctCounter.unpack(data, offset)
        return stats


_MERGE = struct.Struct("<BIB16s")


def pack_merge(hour: int, accepted: bool, message: bytes) -> bytes:
    """Return a merge record: version, u32 hour, whether the merge happened, the bridging
    message's key (16 bytes), kept under survivor id + other id in ``merges``."""
    return _MERGE.pack(RECORD_VERSION, hour, accepted, message)


@decoder
def unpack_merge(raw: bytes) -> tuple[int, bool, bytes]:
    """Return (hour, accepted, message key) of a merge record; raise StoreFormatError."""
    version, hour, accepted, message = _MERGE.unpack(raw)
    check_version(raw, version, "merge")
    return hour, bool(accepted), message


#: The mailing store's own databases (see shingles.store.reader); other stages
#: declare theirs and attach them (``Store.attach``).
STORE_DATABASES = (
    Database("meta"),
    Database("mega", HOUR_AT["mega"], decode=unpack_index),
    Database("band", HOUR_AT["band"], decode=unpack_index),
    Database("reps", decode=unpack_reps),
    Database("imatch", HOUR_AT["imatch"], decode=unpack_index),
    Database("stats", HOUR_AT["stats"], decode=Stats.unpack),
    Database("parent", HOUR_AT["parent"], decode=unpack_index),
    Database("children", dupsort=True, decode=unpack_id),
    Database("messages", HOUR_AT["messages"], decode=unpack_stored_message),
    Database("members", HOUR_AT["members"], decode=unpack_member),
    Database("ips", HOUR_AT["ips"], decode=IpCounters.unpack),
    Database("merges", HOUR_AT["merges"], decode=unpack_merge),
)
