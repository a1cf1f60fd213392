"""Adaptive allowlists from the social graph of correspondents (SEED-NOTES section 4).

Outgoing mail (a local author, entering through our own trusted zone) adds
author -> recipient edges. Incoming mail to a user from someone the user wrote
to is allowlisted, provided the sender is verified: SPF or DKIM pass for the
sender's domain, or a source IP inside the networks earlier verified mail of
that domain came from. A correspondent of a correspondent lowers the score
instead. Domains that many local users write to, with their verified networks,
join the trusted zone used to find a message's source IP.

Poisoning resistance: only outgoing mail from inside builds edges, so nobody
outside can write themselves onto a list; automatic mail (auto-replies, bounces,
reports, bulk) builds none, or an out-of-office reply to a spammer would
allowlist the spammer; an account that writes to more new addresses a day than
``new_recipients_per_day`` is flagged as possibly compromised, and until the flag
is cleared it adds no edges and its edges (direct or second-degree) allowlist
nothing; addresses too long to be addresses (over 254 bytes) are left out, which
also keeps every key under LMDB's 511 bytes; a domain needs ``trusted_min_authors`` distinct local authors to be
trusted, so one (compromised) account cannot make it trusted on its own.

All of it lives in the store's LMDB environment (databases edges, outdomains,
domnets, authorday, flagged), written in the scan's own batches.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from shingles.config import SocialSettings
from shingles.verdicts.judge import Reason, decayed
from shingles.store.layout import Database, DistinctCounter
from shingles.verdicts.layout import (
    Edge,
    pack_count,
    pack_domain_out,
    pack_networks,
    unpack_count,
    unpack_domain_out,
    unpack_networks,
)
from shingles.mail.identity import authenticates
from shingles.store.reader import Store
from shingles.store.views import MailLike

__all__ = ["DATABASES", "AllowEntry", "Allowance", "SocialGraph", "TrustedDomain"]

HOUR = 3600
_SEP = b"\x00"
# RFC 5321 4.5.3.1.3: a path is at most 256 octets with its brackets. A longer
# "address" is no address, and keys built from it could pass LMDB's 511 bytes.
_MAX_ADDRESS = 254


def _usable(address: str) -> bool:
    return 0 < len(address.encode("utf-8", "surrogatepass")) <= _MAX_ADDRESS

#: The graph's databases in the store (not swept: ``expire`` ages edges by weight):
#: author -> recipient edges, recipient domains of outgoing mail, sending networks
#: per domain, daily new recipients per author, flagged authors.
DATABASES = (Database("edges", decode=Edge.unpack),
             Database("outdomains", decode=unpack_domain_out),
             Database("domnets", decode=unpack_networks),
             Database("authorday", decode=unpack_count),
             Database("flagged", decode=unpack_count))




@dataclasses.dataclass(frozen=True)
class AllowEntry:
    """One correspondent on a user's allowlist, with its evidence."""

    correspondent: str
    level: str  # "direct"
    messages: int
    weight: float
    first_contact: datetime
    last_contact: datetime
    pinned: bool

    def to_json(self) -> dict[str, Any]:
        """Return the entry as JSON-ready data."""
        out = dataclasses.asdict(self)
        out["first_contact"] = self.first_contact.isoformat()
        out["last_contact"] = self.last_contact.isoformat()
        out["weight"] = round(self.weight, 4)
        return out


@dataclasses.dataclass(frozen=True)
class TrustedDomain:
    """A domain local users write to, whether it is trusted, and why."""

    domain: str
    authors: int
    messages: int
    networks: tuple[str, ...]
    trusted: bool
    why: str

    def to_json(self) -> dict[str, Any]:
        """Return the domain as JSON-ready data."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Allowance:
    """What the social graph says of one incoming message."""

    level: str  # "direct", "second-degree" or "unverified"
    reason: Reason


class _Records(Protocol):
    def get(self, name: str, key: bytes) -> bytes | None: ...
    def put(self, name: str, key: bytes, value: bytes) -> None: ...
    def delete(self, name: str, key: bytes) -> None: ...
    def scan_prefix(self, name: str, prefix: bytes, limit: int = ...
                    ) -> list[tuple[bytes, bytes]]: ...


def _hour(when: datetime) -> int:
    return int(when.timestamp()) // HOUR


def _at(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * HOUR, timezone.utc)


def _domain(address: str | None) -> str | None:
    return address.rpartition("@")[2].lower() if address and "@" in address else None


def _network(ip: str) -> str:
    return str(ipaddress.ip_network(f"{ip}/{24 if ':' not in ip else 48}", strict=False))


class SocialGraph:
    """The correspondents graph of a store; write through a Session, read from the Store."""

    def __init__(self, settings: SocialSettings) -> None:
        self.settings = settings
        self._local = tuple(d.lower() for d in settings.local_domains)

    # -- classification ------------------------------------------------------

    def is_local(self, address: str | None) -> bool:
        """Return whether address belongs to one of our users."""
        return _domain(address) in self._local

    def is_outgoing(self, mail: MailLike) -> bool:
        """Return whether mail is outgoing: a local author, entered from inside (no
        outside source IP on its Received chain)."""
        return self.is_local(getattr(mail, "from_addr", None)) and mail.source_ip is None

    # -- writing ---------------------------------------------------------------

    def record_outgoing(self, records: _Records, mail: MailLike, now: datetime) -> list[Reason]:
        """Add the mail's author -> recipient edges; return notes (automatic mail, a
        flagged author, one flagged now)."""
        author = (getattr(mail, "from_addr", None) or "").lower()
        automatic = getattr(mail, "automatic", None)
        if automatic:
            return [Reason("automatic-mail", 1, 0, f"automatic mail ({automatic}): no "
                                                   "allowlist edges")]
        if not _usable(author):
            return []
        flag = records.get("flagged", author.encode())
        if flag is not None:
            since, count = unpack_count(flag)
            return [Reason("flagged-account", count, self.settings.new_recipients_per_day,
                           f"{author} is flagged as possibly compromised since "
                           f"{_at(since):%Y-%m-%d %H:00}: no allowlist edges until the flag "
                           "is cleared (shingles allowlist --clear-flag)")]
        hour, notes = _hour(now), list[Reason]()
        day_key = author.encode() + _SEP + str(hour // 24).encode()
        raw = records.get("authorday", day_key)
        new_today = unpack_count(raw)[1] if raw else 0
        for recipient in dict.fromkeys(r.lower() for r in mail.recipients):
            if recipient == author or not _usable(recipient):
                continue
            key = author.encode() + _SEP + recipient.encode()
            raw = records.get("edges", key)
            if raw is None:
                if new_today >= self.settings.new_recipients_per_day:
                    notes.append(self._flag(records, author, hour, new_today))
                    break  # flagged: no more edges, old or new
                new_today += 1
                edge = Edge(hour, hour, 1, 1.0)
            else:
                old = Edge.unpack(raw)
                weight = decayed(old.weight, _at(hour) - _at(old.last_hour),
                                 self.settings.half_life_days) + 1
                edge = dataclasses.replace(old, last_hour=hour, messages=old.messages + 1,
                                           weight=weight)
            records.put("edges", key, edge.pack())
            self._count_domain(records, recipient, author, hour)
        records.put("authorday", day_key, pack_count(hour, new_today))
        return notes

    def _flag(self, records: _Records, author: str, hour: int, count: int) -> Reason:
        records.put("flagged", author.encode(), pack_count(hour, count))
        return Reason("new-recipients-cap", count, self.settings.new_recipients_per_day,
                      f"{author} wrote to {count} new addresses today: flagged as possibly "
                      "compromised, no allowlist edges until the flag is cleared")

    def flag(self, store: Store, user: str) -> tuple[datetime, int] | None:
        """Return (since, new addresses that day) when user is flagged, else None."""
        raw = store.record("flagged", user.lower().encode()) if _usable(user) else None
        if raw is None:
            return None
        hour, count = unpack_count(raw)
        return _at(hour), count

    def clear_flag(self, records: _Records, user: str) -> None:
        """Lift the compromised-account flag (and the day's count that set it)."""
        key = user.lower().encode()
        records.delete("flagged", key)
        for day_key, _ in records.scan_prefix("authorday", key + _SEP, 1 << 20):
            records.delete("authorday", day_key)

    def _count_domain(self, records: _Records, recipient: str, author: str, hour: int) -> None:
        domain = _domain(recipient)
        if not domain or domain in self._local:
            return
        raw = records.get("outdomains", domain.encode())
        _, messages, authors = unpack_domain_out(raw) if raw else (hour, 0, DistinctCounter())
        authors.add(hash_address(author))
        records.put("outdomains", domain.encode(), pack_domain_out(hour, messages + 1, authors))

    def learn_networks(self, records: _Records, mail: MailLike, now: datetime) -> None:
        """Remember the /24 a verified (authenticated) message of a domain came from."""
        domain = _domain(getattr(mail, "from_addr", None)) or mail.from_domain
        if not domain or not _usable(domain) or not mail.source_ip or not _verified_by_auth(mail):
            return
        raw = records.get("domnets", domain.encode())
        networks = unpack_networks(raw)[1] if raw else []
        network = _network(mail.source_ip)
        if network in networks:
            networks.remove(network)
        networks.append(network)  # the most recent last; the oldest fall off past 255
        records.put("domnets", domain.encode(), pack_networks(_hour(now), networks))

    # -- judging ----------------------------------------------------------------

    def allowance(self, records: _Records, mail: MailLike, now: datetime) -> Allowance | None:
        """Return what the graph says of an incoming message, or None if nothing."""
        sender = (getattr(mail, "from_addr", None) or "").lower()
        # A flagged account's edges vouch for nobody until the flag is cleared.
        users = [r.lower() for r in mail.recipients if self.is_local(r) and _usable(r)
                 and records.get("flagged", r.lower().encode()) is None]
        if not _usable(sender) or not users or self.is_local(sender):
            return None
        verified, how = self._verified(records, mail)
        for user in users:
            edge = self._edge(records, user, sender, now)
            if edge is None:
                continue
            evidence = (f"{user} wrote to {sender} {edge.messages} time(s), last on "
                        f"{_at(edge.last_hour):%Y-%m-%d}")
            if not verified:
                return Allowance("unverified", Reason(
                    "allowlist-unverified", edge.messages, 1,
                    f"{evidence}, but this message is not verified ({how}): not allowlisted"))
            return Allowance("direct", Reason("allowlist-direct", round(edge.weight, 4), 0,
                                              f"{evidence}; verified by {how}"))
        if not verified:
            return None
        for user in users:
            for key, _ in records.scan_prefix("edges", user.encode() + _SEP, 200):
                friend = key.split(_SEP, 1)[1].decode()
                if not self.is_local(friend) or self._edge(records, user, friend, now) is None \
                        or records.get("flagged", friend.encode()) is not None:
                    continue
                edge = self._edge(records, friend, sender, now)
                if edge is not None:
                    return Allowance("second-degree", Reason(
                        "allowlist-second-degree", self.settings.second_degree_discount, 1,
                        f"{user} writes to {friend}, who wrote to {sender} {edge.messages} "
                        f"time(s); verified by {how}"))
        return None

    def _verified(self, records: _Records, mail: MailLike) -> tuple[bool, str]:
        if _verified_by_auth(mail):
            return True, "SPF or DKIM pass for the sender's domain"
        domain = _domain(getattr(mail, "from_addr", None))
        if domain and _usable(domain) and mail.source_ip:
            raw = records.get("domnets", domain.encode())
            if raw and _network(mail.source_ip) in unpack_networks(raw)[1]:
                return True, f"source IP inside {domain}'s known networks"
        return False, "no SPF or DKIM pass, source IP outside the sender domain's known networks"

    def _edge(self, records: _Records, user: str, other: str, now: datetime) -> Edge | None:
        if not _usable(user) or not _usable(other):
            return None
        raw = records.get("edges", user.encode() + _SEP + other.encode())
        if raw is None:
            return None
        edge = Edge.unpack(raw)
        age = now - _at(edge.last_hour)
        if not edge.pinned and age > timedelta(days=self.settings.expire_days):
            return None
        return dataclasses.replace(edge, weight=decayed(edge.weight, age,
                                                        self.settings.half_life_days))

    # -- reading and managing ----------------------------------------------------

    def allowlist(self, store: Store, user: str, now: datetime) -> list[AllowEntry]:
        """Return a user's live correspondents, heaviest first."""
        store.attach(DATABASES)
        user = user.lower()
        if not _usable(user):
            return []
        reader = _StoreReader(store)
        entries = []
        for key, _ in store.records("edges", user.encode() + _SEP):
            other = key.split(_SEP, 1)[1].decode()
            edge = self._edge(reader, user, other, now)
            if edge is not None:
                entries.append(AllowEntry(other, "direct", edge.messages, edge.weight,
                                          _at(edge.first_hour), _at(edge.last_hour),
                                          edge.pinned))
        return sorted(entries, key=lambda e: (-e.weight, e.correspondent))

    def trusted_domains(self, store: Store) -> list[TrustedDomain]:
        """Return every domain local users wrote to, the trusted ones first."""
        store.attach(DATABASES)
        s = self.settings
        found = []
        for key, value in store.records("outdomains"):
            domain = key.decode()
            _, messages, authors = unpack_domain_out(value)
            raw = store.record("domnets", key)
            networks = tuple(unpack_networks(raw)[1]) if raw else ()
            count = authors.count()
            trusted = count >= s.trusted_min_authors and messages >= s.trusted_min_messages
            why = (f"{count} local authors (>= {s.trusted_min_authors}) sent {messages} "
                   f"messages (>= {s.trusted_min_messages})" if trusted else
                   f"{count} of {s.trusted_min_authors} authors, {messages} of "
                   f"{s.trusted_min_messages} messages needed")
            found.append(TrustedDomain(domain, count, messages, networks, trusted, why))
        return sorted(found, key=lambda d: (not d.trusted, -d.messages, d.domain))

    def trusted_networks(self, store: Store) -> tuple[str, ...]:
        """Return the verified networks of the trusted domains (for the trusted zone)."""
        return tuple(n for d in self.trusted_domains(store) if d.trusted for n in d.networks)

    def pin(self, records: _Records, user: str, other: str, now: datetime) -> None:
        """Keep user -> other on the allowlist whatever its age (adding it if missing)."""
        if not (_usable(user) and _usable(other)):
            raise ValueError("an address is at most 254 bytes long")
        key = user.lower().encode() + _SEP + other.lower().encode()
        raw = records.get("edges", key)
        edge = Edge.unpack(raw) if raw else Edge(_hour(now), _hour(now), 0, 0.0)
        records.put("edges", key, dataclasses.replace(edge, pinned=True).pack())

    def remove(self, records: _Records, user: str, other: str) -> None:
        """Take other off user's allowlist (until the user writes to them again)."""
        if not (_usable(user) and _usable(other)):
            return
        records.delete("edges", user.lower().encode() + _SEP + other.lower().encode())

    def expire(self, records: _Records, store: Store, now: datetime) -> int:
        """Delete edges older than expire_days (pinned ones stay); return how many."""
        store.attach(DATABASES)
        gone = 0
        for key, value in store.records("edges"):
            edge = Edge.unpack(value)
            if not edge.pinned and now - _at(edge.last_hour) > timedelta(
                    days=self.settings.expire_days):
                records.delete("edges", key)
                gone += 1
        return gone


def _verified_by_auth(mail: MailLike) -> bool:
    return authenticates(mail.spf, getattr(mail, "spf_domain", None), mail.dkim,
                         getattr(mail, "dkim_domains", ()),
                         _domain(getattr(mail, "from_addr", None)) or mail.from_domain)


def hash_address(address: str) -> int:
    """Return a stable 64-bit hash of an address (for distinct counting)."""
    import xxhash

    return xxhash.xxh3_64_intdigest(address.encode())


class _StoreReader:
    """Committed records of a store, with the read half of a session's record API."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, name: str, key: bytes) -> bytes | None:
        return self._store.record(name, key)

    def put(self, name: str, key: bytes, value: bytes) -> None:
        raise TypeError("read-only: write through a store session")

    def delete(self, name: str, key: bytes) -> None:
        raise TypeError("read-only: write through a store session")

    def scan_prefix(self, name: str, prefix: bytes, limit: int = 1000
                    ) -> list[tuple[bytes, bytes]]:
        return list(self._store.records(name, prefix))[:limit]
