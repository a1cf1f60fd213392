"""The mailing store: which mailing every message belongs to, and what is known of each.

One LMDB directory with named databases (keys big-endian, records as in
``shingles.records``):

    meta      schema version, fingerprint scheme id, lexicon id, matching mode
              and its parameters, the clock, the next mailing id, sweep cursors
    mega      mega-shingle -> mailing          (mode "paper")
    band      band number + LSH band hash -> mailing   (mode "recall")
    reps      mailing -> min-hashes of a few representatives   (mode "recall")
    imatch    I-Match signature (sub-lexicon in its top 8 bits) -> mailing
    stats     mailing -> statistics (only roots of the union-find)
    parent    merged mailing -> the mailing it went into (see shingles.cluster)
    children  root mailing -> ids merged into it (dupsort)
    messages  message key -> mailing, Message-ID and source (idempotence)
    members   mailing + message key -> hour (the messages of a mailing)
    ips       source IP -> traffic counters

Writes go through a ``Session``: a context manager that commits every
``batch_size`` messages and at the end, and aborts the open batch on an error,
so a killed process loses at most that batch and a re-run skips every message
already committed (messages are keyed by Message-ID and body digest).

Time is the store's clock: the latest plausible message Date seen, advancing at
most ``MAX_ADVANCE`` seconds per message, so neither an archive replayed out of
order nor a bogus Date years ahead expires fresh keys. Retention sweeps every
database a bounded step per batch and drops what the clock left behind.
"""

from __future__ import annotations

import dataclasses
import fcntl
import heapq
import ipaddress
import itertools
import os
import struct
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, Literal, Protocol, TypeVar

import lmdb
import numpy
import xxhash

from shingles import cluster
from shingles.cluster import ID
from shingles.errors import (
    SchemeMismatchError,
    StoreFormatError,
    StoreFullError,
    StoreLockedError,
)
from shingles.fingerprint import Fingerprint
from shingles.lexicon import Lexicon
from shingles.records import (
    AUTH_RESULTS,
    BULK_SIGNS,
    HOUR_AT,
    RECORD_VERSION,
    IpCounters,
    Stats,
    pack_index,
    pack_member,
    pack_message,
    unpack_index,
    unpack_message,
)
from shingles.scheme import DEFAULT_SCHEME, NUM_PERM, Scheme

__all__ = [
    "SCHEMA_VERSION",
    "IngestSummary",
    "Mailing",
    "MessageRef",
    "Session",
    "Store",
    "StoreSettings",
    "message_key",
]

#: Version of the database layout as a whole; bump it when a database changes meaning.
SCHEMA_VERSION = 1

Mode = Literal["paper", "recall"]
_T = TypeVar("_T")

#: The clock moves at most this far per message: a real stream advances by
#: seconds per message, while one bogus Date (the corpus has years 2020 and
#: 2028 among 2002 mail) must not jump it and expire everything.
MAX_ADVANCE = 3600
#: Dates before this (Y2K-buggy years such as 0102) are not believed.
_PLAUSIBLE_FROM = datetime(1995, 1, 1, tzinfo=timezone.utc).timestamp()
_HOUR = 3600

_U64 = struct.Struct(">Q")
_META_U64 = struct.Struct("<Bq")
_REP_BYTES = 8 * NUM_PERM
_SIG = struct.Struct("<Q")
_INDEX = struct.Struct("<BQI")  # records.pack_index, unpacked without its checks: hot
_U32LE = struct.Struct("<I")

_DBS = ("meta", "mega", "band", "reps", "imatch", "stats", "parent", "children", "messages",
        "members", "ips")
#: Databases retention sweeps, each with how to read the hour an entry was last
#: written (stats: the mailing's last change).
_SWEPT = ("mega", "band", "imatch", "parent", "messages", "members", "ips", "stats")


@dataclasses.dataclass(frozen=True)
class StoreSettings:
    """How a store matches messages and keeps them.

    Attributes:
        mode: "paper": a message joins a mailing when they share a mega-shingle
            (2 of 6 super-shingles) or an I-Match signature, the paper's rule,
            which glues only near-identical copies. "recall": candidates share
            an LSH band of min-hashes and are confirmed when the share of equal
            min-hashes with one of the mailing's representatives reaches
            ``threshold``; copies with a few words changed are glued too.
        bands: LSH bands in recall mode.
        rows: Min-hashes per band in recall mode (bands x rows <= 84).
        threshold: Estimated resemblance a recall candidate needs.
        representatives: Min-hash vectors kept per mailing in recall mode.
        retention_days: Index keys, messages and mailings untouched for this
            long (by the store's clock) are dropped; 0 keeps everything.
        batch_size: Messages per transaction: a crash loses at most one batch.
        map_size: Initial LMDB map size in bytes; it grows by itself.
        max_map_size: The map never grows past this; then StoreFullError.
    """

    mode: Mode = "paper"
    bands: int = 21
    rows: int = 4
    threshold: float = 0.5
    representatives: int = 3
    retention_days: float = 30.0
    batch_size: int = 1000
    map_size: int = 64 << 20
    max_map_size: int = 1 << 40

    def __post_init__(self) -> None:
        if self.mode not in ("paper", "recall"):
            raise ValueError(f"mode must be 'paper' or 'recall', got {self.mode!r}")
        if not (1 <= self.bands <= 255 and 1 <= self.rows and self.bands * self.rows <= NUM_PERM):
            raise ValueError(f"bands x rows must fit in {NUM_PERM} min-hashes "
                             f"(and bands <= 255), got {self.bands} x {self.rows}")
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        if not 1 <= self.representatives <= 64:
            raise ValueError("representatives must be 1..64")
        if self.retention_days < 0:
            raise ValueError("retention_days must be >= 0 (0 keeps everything)")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not 1 << 16 <= self.map_size <= self.max_map_size:
            raise ValueError("map_size must be at least 64 KiB and at most max_map_size")

    @property
    def matching(self) -> str:
        """Return the mode and every parameter that changes which messages match."""
        if self.mode == "paper":
            return "paper"
        return (f"recall bands={self.bands}x{self.rows} threshold={self.threshold:.4f} "
                f"reps={self.representatives}")


class MailLike(Protocol):
    """The fields of ``shingles.mail.Mail`` the store reads (read-only, as in the frozen record)."""

    @property
    def source(self) -> str: ...

    @property
    def message_id(self) -> str | None: ...

    @property
    def date(self) -> datetime | None: ...

    @property
    def subject(self) -> str: ...

    @property
    def from_domain(self) -> str | None: ...

    @property
    def envelope_sender(self) -> str | None: ...

    @property
    def recipients(self) -> tuple[str, ...]: ...

    @property
    def source_ip(self) -> str | None: ...

    @property
    def spf(self) -> str | None: ...

    @property
    def dkim(self) -> str | None: ...

    @property
    def dmarc(self) -> str | None: ...

    @property
    def bulk_signs(self) -> frozenset[str]: ...

    @property
    def text(self) -> str: ...

    @property
    def quoted(self) -> str: ...


@dataclasses.dataclass(frozen=True)
class Mailing:
    """One mailing's statistics, as of the last commit.

    Attributes:
        id: The mailing id (the root of its merged set).
        size: Messages in the mailing.
        merged: Mailings merged into this one.
        first_seen, last_seen: Earliest and latest message time.
        distinct_ips: Distinct source IPs; exact unless ``ips_estimated``.
        distinct_networks: Distinct /24 networks (/48 for IPv6); exact unless
            ``networks_estimated``.
        sender_domains: (domain, messages), most frequent first, up to 8.
        other_domains: Messages from sender domains beyond those 8.
        spf, dkim, dmarc: (result, messages) for each result seen; "other" is
            an unknown word, "missing" no result.
        bulk_signs: (sign, messages) for the honest-bulk signs seen.
        recipients: Recipient addresses over all messages.
        distinct_recipients: Distinct recipient addresses (estimated past 32).
        subject, message_id: Of the representative (first) message.
        complaints, traps: Counters bumped through ``Store.bump``.
    """

    id: int
    size: int
    merged: int
    first_seen: datetime | None
    last_seen: datetime | None
    distinct_ips: int
    ips_estimated: bool
    distinct_networks: int
    networks_estimated: bool
    sender_domains: tuple[tuple[str, int], ...]
    other_domains: int
    spf: tuple[tuple[str, int], ...]
    dkim: tuple[tuple[str, int], ...]
    dmarc: tuple[tuple[str, int], ...]
    bulk_signs: tuple[tuple[str, int], ...]
    recipients: int
    distinct_recipients: int
    subject: str
    message_id: str | None
    complaints: int
    traps: int

    @classmethod
    def from_stats(cls, mailing: int, stats: Stats) -> Mailing:
        """Return the public view of a statistics record."""
        names = (*AUTH_RESULTS, "other", "missing")

        def results(counts: list[int]) -> tuple[tuple[str, int], ...]:
            return tuple((name, n) for name, n in zip(names, counts) if n)

        def when(seconds: int) -> datetime | None:
            return datetime.fromtimestamp(seconds, timezone.utc) if stats.size else None

        return cls(
            id=mailing, size=stats.size, merged=stats.merged,
            first_seen=when(stats.first_seen), last_seen=when(stats.last_seen),
            distinct_ips=stats.ips.count(), ips_estimated=stats.ips.estimated,
            distinct_networks=stats.nets.count(), networks_estimated=stats.nets.estimated,
            sender_domains=tuple(sorted(stats.domains.items(), key=lambda d: (-d[1], d[0]))),
            other_domains=stats.other_domains,
            spf=results(stats.spf), dkim=results(stats.dkim), dmarc=results(stats.dmarc),
            bulk_signs=tuple((s, n) for s, n in zip(BULK_SIGNS, stats.bulk) if n),
            recipients=stats.recipients, distinct_recipients=stats.rcpts.count(),
            subject=stats.subject, message_id=stats.message_id,
            complaints=stats.complaints, traps=stats.traps,
        )

    def to_json(self) -> dict[str, Any]:
        """Return the mailing as JSON-ready data (times as ISO 8601, pairs as objects)."""
        data = dataclasses.asdict(self)
        for name in ("first_seen", "last_seen"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value else None
        for name in ("sender_domains", "spf", "dkim", "dmarc", "bulk_signs"):
            data[name] = dict(getattr(self, name))
        return data


@dataclasses.dataclass(frozen=True)
class MessageRef:
    """A message filed in a mailing: its Message-ID and where it was read from."""

    message_id: str | None
    source: str


@dataclasses.dataclass(frozen=True)
class IngestSummary:
    """What a session did, over its committed batches.

    Attributes:
        messages: Messages offered to ``add``.
        added: Messages filed (new to the store).
        duplicates: Messages already in the store (same Message-ID and body).
        unsigned: Added messages too short for any signature (in no mailing).
        new_mailings: Mailings started.
        merges: Mailings merged into others.
        batches: Transactions committed.
    """

    messages: int = 0
    added: int = 0
    duplicates: int = 0
    unsigned: int = 0
    new_mailings: int = 0
    merges: int = 0
    batches: int = 0

    def __add__(self, other: IngestSummary) -> IngestSummary:
        return IngestSummary(*(a + b for a, b in zip(dataclasses.astuple(self),
                                                      dataclasses.astuple(other))))


def message_key(mail: MailLike) -> bytes:
    """Return the 16-byte key that makes ingesting a message idempotent.

    It hashes the Message-ID with the body; without a Message-ID, also the
    Date, sender, recipients, subject and source IP, so identical copies of a
    mailing sent to different people stay different messages.
    """
    h = xxhash.xxh3_128()
    for part in (mail.message_id or "", mail.text, mail.quoted):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    if not mail.message_id:
        extra = (mail.date.isoformat() if mail.date else "", mail.envelope_sender or "",
                 mail.from_domain or "", "\x1f".join(mail.recipients), mail.subject,
                 mail.source_ip or "")
        for part in extra:
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
    return h.digest()


def _hash(text: str) -> int:
    return xxhash.xxh3_64_intdigest(text.encode("utf-8", "surrogatepass"))


def _network(ip: str) -> str | None:
    """Return the /24 (IPv4) or /48 (IPv6) network of ip as text, or None if not an IP."""
    head, dot, _ = ip.rpartition(".")
    if dot and ":" not in ip and head.count(".") == 2:
        return head
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclasses.dataclass(frozen=True)
class _Item:
    """Everything add() needs from one message, computed once (a batch may be replayed)."""

    key: bytes
    date: float | None
    message_id: str | None
    source: str
    subject: str
    ip: str | None
    ip_hash: int | None
    net_hash: int | None
    domain: str | None
    recipients: tuple[int, ...]
    spf: str | None
    dkim: str | None
    dmarc: str | None
    bulk_signs: tuple[str, ...]
    direct: tuple[tuple[str, bytes], ...]
    bands: tuple[bytes, ...]
    minhashes: bytes


class Store:
    """An LMDB directory of mailings; many readers, one writer at a time.

    Args:
        path: The store directory (created for a writer).
        scheme: Fingerprint scheme; None adopts the stored one (default for a new store).
        lexicon: Lexicon of the I-Match signatures, or None; must match the stored one
            when given.
        settings: Matching mode and its parameters, retention, batch size; None adopts
            the stored mode.
        readonly: Open for reading only (no writer lock; works while another
            process writes).

    Raises:
        StoreLockedError: if another process is writing to the store.
        SchemeMismatchError: if the store was made with another scheme, lexicon or mode.
        StoreFormatError: if the store's schema version is unknown.
        FileNotFoundError: if readonly and there is no store at path (yet).
    """

    def __init__(self, path: str | os.PathLike[str], *, scheme: Scheme | None = None,
                 lexicon: Lexicon | None = None, settings: StoreSettings | None = None,
                 readonly: bool = False) -> None:
        self.path = os.fspath(path)
        self.readonly = readonly
        self._lock_fd: int | None = None
        if readonly:
            if not os.path.exists(os.path.join(self.path, "data.mdb")):
                raise FileNotFoundError(f"no store at {self.path}")
        else:
            os.makedirs(self.path, exist_ok=True)
            self._lock_fd = _lock_writer(self.path)
        try:
            self._open(scheme, lexicon, settings)
        except BaseException:
            self.close()
            raise

    def _open(self, scheme: Scheme | None, lexicon: Lexicon | None,
              settings: StoreSettings | None) -> None:
        wanted = settings or StoreSettings()
        data = os.path.join(self.path, "data.mdb")
        size = max(wanted.map_size, os.path.getsize(data) if os.path.exists(data) else 0)
        self._env = lmdb.open(self.path, map_size=size, max_dbs=len(_DBS), subdir=True,
                              readonly=self.readonly, lock=True, sync=True, metasync=True,
                              readahead=False)
        self._dbs: dict[str, Any] = {}
        if self.readonly:
            try:
                for name in _DBS:
                    self._dbs[name] = self._env.open_db(name.encode(), create=False,
                                                        dupsort=name == "children")
            except lmdb.NotFoundError:  # a writer is creating it, or it is no store
                raise FileNotFoundError(f"{self.path} is not a shingles store "
                                        "(or its writer has not committed yet)") from None
            with self._read() as txn:
                stored = self._meta_strings(txn)
            if stored is None:
                raise FileNotFoundError(f"{self.path} is not a shingles store (no meta record)")
        else:
            # Databases and meta record in one transaction: a reader never sees
            # a store with one and not the other.
            with self._env.begin(write=True) as txn:
                for name in _DBS:
                    self._dbs[name] = self._env.open_db(name.encode(), txn=txn,
                                                        dupsort=name == "children")
                stored = self._meta_strings(txn)
                if stored is None:
                    stored = {"schema": str(SCHEMA_VERSION),
                              "scheme": (scheme or DEFAULT_SCHEME).id,
                              "lexicon": lexicon.id if lexicon is not None else "",
                              "matching": wanted.matching}
                    for name, value in stored.items():
                        txn.put(name.encode(), bytes([RECORD_VERSION]) + value.encode(),
                                db=self._dbs["meta"])
        self._check_meta(stored, scheme, lexicon, settings)
        self.scheme_id = stored["scheme"]
        self.lexicon_id = stored["lexicon"] or None
        self.settings = settings or _settings_from(stored["matching"])

    def _meta_strings(self, txn: Any) -> dict[str, str] | None:
        meta = self._dbs["meta"]
        if txn.get(b"schema", db=meta) is None:
            return None
        out = {}
        for name in ("schema", "scheme", "lexicon", "matching"):
            raw = txn.get(name.encode(), db=meta)
            if raw is None or raw[0] != RECORD_VERSION:
                raise StoreFormatError(f"{self.path}: meta record {name!r} is missing or unknown")
            out[name] = bytes(raw[1:]).decode()
        return out

    def _check_meta(self, stored: dict[str, str], scheme: Scheme | None,
                    lexicon: Lexicon | None, settings: StoreSettings | None) -> None:
        if stored["schema"] != str(SCHEMA_VERSION):
            raise StoreFormatError(f"{self.path} has store schema {stored['schema']}; this "
                                   f"shingles reads schema {SCHEMA_VERSION}")
        if scheme is not None and scheme.id != stored["scheme"]:
            raise SchemeMismatchError(f"{self.path} was made with scheme {stored['scheme']!r}, "
                                      f"not {scheme.id!r}; use another --store")
        if lexicon is not None and lexicon.id != stored["lexicon"]:
            raise SchemeMismatchError(f"{self.path} was made with lexicon "
                                      f"{stored['lexicon'] or 'none'!r}, not {lexicon.id!r}")
        if settings is not None and settings.matching != stored["matching"]:
            raise SchemeMismatchError(f"{self.path} matches by {stored['matching']!r}, "
                                      f"not {settings.matching!r}; use another --store")

    @classmethod
    def stored_settings(cls, path: str | os.PathLike[str]) -> StoreSettings | None:
        """Return the settings a store at path matches by (default runtime ones), or None."""
        if not os.path.exists(os.path.join(os.fspath(path), "data.mdb")):
            return None
        with cls(path, readonly=True) as store:
            return store.settings

    def close(self) -> None:
        """Close the environment and release the writer lock (idempotent)."""
        env: Any = getattr(self, "_env", None)
        if env is not None:
            env.close()
            del self._env
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> Any:
        """Return a read transaction; adopt a map another process has grown."""
        try:
            return self._env.begin()
        except lmdb.MapResizedError:
            self._env.set_mapsize(0)
            return self._env.begin()

    # -- writing ----------------------------------------------------------

    def session(self) -> Session:
        """Return a bulk-insert session (a context manager); raise OSError if readonly."""
        if self.readonly:
            raise PermissionError(f"{self.path} is open read-only")
        return Session(self)

    def add(self, mail: MailLike, fingerprint: Fingerprint) -> int | None:
        """Return the mailing id the message is filed in (None: no signature); commit at once."""
        with self.session() as session:
            return session.add(mail, fingerprint)

    def bump(self, mailing: int, *, complaints: int = 0, traps: int = 0) -> None:
        """Add to a mailing's complaint and spam-trap counters; raise KeyError if unknown."""
        with self.session() as session:
            session.bump(mailing, complaints=complaints, traps=traps)

    # -- reading ----------------------------------------------------------

    def _root(self, txn: Any, mailing: int) -> int | None:
        root = cluster.find(txn, self._dbs["parent"], mailing, compress=False)
        return root if txn.get(ID.pack(root), db=self._dbs["stats"]) is not None else None

    def mailing(self, mailing: int) -> Mailing:
        """Return the statistics of the mailing that id is (or was merged into).

        Raises:
            KeyError: if there is no such mailing (or it has expired).
        """
        with self._read() as txn:
            root = self._root(txn, mailing)
            if root is None:
                raise KeyError(mailing)
            return Mailing.from_stats(root, Stats.unpack(txn.get(ID.pack(root),
                                                                 db=self._dbs["stats"])))

    def mailings(self, min_size: int = 1) -> Iterator[Mailing]:
        """Yield every mailing with at least min_size messages, in id order."""
        with self._read() as txn:
            for key, value in txn.cursor(db=self._dbs["stats"]):
                stats = Stats.unpack(value)
                if stats.size >= min_size:
                    yield Mailing.from_stats(ID.unpack(key)[0], stats)

    def top(self, n: int, min_size: int = 1) -> list[Mailing]:
        """Return the n largest mailings, largest first (ties: lower id first)."""
        return heapq.nsmallest(n, self.mailings(min_size), key=lambda m: (-m.size, m.id))

    def messages(self, mailing: int) -> Iterator[MessageRef]:
        """Yield the messages filed in a mailing (and in those merged into it)."""
        with self._read() as txn:
            root = self._root(txn, mailing)
            if root is None:
                return
            ids = [root, *cluster.merged_ids(txn, self._dbs["children"], root)]
            cursor = txn.cursor(db=self._dbs["members"])
            for member in sorted(ids):
                prefix = ID.pack(member)
                if not cursor.set_range(prefix):
                    continue
                for key in cursor.iternext(values=False):
                    if not key.startswith(prefix):
                        break
                    raw = txn.get(bytes(key[8:]), db=self._dbs["messages"])
                    if raw is not None:
                        _, _, message_id, source = unpack_message(raw)
                        yield MessageRef(message_id, source)

    def mailing_of(self, mail: MailLike) -> int | None:
        """Return the mailing a stored message is in; None if it is in none.

        Raises:
            KeyError: if the message is not in the store.
        """
        with self._read() as txn:
            raw = txn.get(message_key(mail), db=self._dbs["messages"])
            if raw is None:
                raise KeyError(mail.message_id or mail.source)
            mailing = unpack_message(raw)[0]
            return self._root(txn, mailing) if mailing else None

    def lookup(self, fingerprint: Fingerprint) -> int | None:
        """Return the mailing a fingerprint would join (the first match), without storing it.

        Raises:
            SchemeMismatchError: if the fingerprint's scheme or lexicon is not the store's.
        """
        self._check_fingerprint(fingerprint)
        item_direct, item_bands = _keys(fingerprint, self.settings)
        with self._read() as txn:
            for db, key in item_direct:
                raw = txn.get(key, db=self._dbs[db])
                root = self._root(txn, unpack_index(raw)[0]) if raw else None
                if root is not None:
                    return root
            for key in item_bands:
                raw = txn.get(key, db=self._dbs["band"])
                root = self._root(txn, unpack_index(raw)[0]) if raw else None
                if root is not None and _resembles(
                        txn.get(ID.pack(root), db=self._dbs["reps"]),
                        fingerprint.minhash_bytes, self.settings.threshold):
                    return root
        return None

    def ip(self, address: str) -> IpCounters | None:
        """Return the traffic counters of a source IP, or None if it has sent nothing."""
        with self._read() as txn:
            raw = txn.get(address.encode(), db=self._dbs["ips"])
        return IpCounters.unpack(raw) if raw else None

    def sizes(self) -> dict[str, int]:
        """Return the bytes each database occupies (pages x page size), and "file"."""
        out = {}
        with self._read() as txn:
            for name in _DBS:
                stat = txn.stat(self._dbs[name])
                pages = stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"]
                out[name] = pages * stat["psize"]
        out["file"] = os.path.getsize(os.path.join(self.path, "data.mdb"))
        return out

    def counts(self) -> dict[str, int]:
        """Return the number of entries in each database."""
        with self._read() as txn:
            return {name: txn.stat(self._dbs[name])["entries"] for name in _DBS}

    def _check_fingerprint(self, fp: Fingerprint) -> None:
        if fp.scheme != self.scheme_id:
            raise SchemeMismatchError(f"fingerprint scheme {fp.scheme!r} is not the store's "
                                      f"{self.scheme_id!r}")
        if fp.imatch and fp.lexicon != self.lexicon_id:
            raise SchemeMismatchError(f"fingerprint lexicon {fp.lexicon!r} is not the store's "
                                      f"{self.lexicon_id!r}")


def _lock_writer(path: str) -> int:
    """Return a descriptor holding the store's writer lock; raise StoreLockedError if taken."""
    fd = os.open(os.path.join(path, "writer.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        # flock is released by the kernel when the process dies, even by SIGKILL,
        # so a crashed writer never leaves the store locked.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreLockedError(f"{path} is being written by another process; "
                               "one writer at a time (readers may use --readonly)") from None
    return fd


def _settings_from(matching: str) -> StoreSettings:
    """Return default settings with the stored matching mode and parameters."""
    if matching == "paper":
        return StoreSettings()
    words = dict(part.split("=", 1) for part in matching.split()[1:])
    bands, rows = (int(x) for x in words["bands"].split("x"))
    return StoreSettings(mode="recall", bands=bands, rows=rows,
                         threshold=float(words["threshold"]),
                         representatives=int(words["reps"]))


def _keys(fp: Fingerprint, settings: StoreSettings
          ) -> tuple[tuple[tuple[str, bytes], ...], tuple[bytes, ...]]:
    """Return (keys that match outright as (database, key), LSH band keys to confirm).

    Keys are the signatures' own little-endian bytes: they are hashes, so their
    order means nothing and slicing the packed arrays costs no conversion.
    """
    direct = [("imatch", _SIG.pack(sig)) for sig in fp.imatch]
    bands: list[bytes] = []
    if settings.mode == "paper":
        megas = fp.megashingle_bytes
        direct = [("mega", megas[i:i + 8]) for i in range(0, len(megas), 8)] + direct
    elif fp.minhash_bytes:
        raw = fp.minhash_bytes
        width = 8 * settings.rows
        for band in range(settings.bands):
            digest = xxhash.xxh3_64_digest(raw[band * width:(band + 1) * width])
            bands.append(bytes((band,)) + digest)
    return tuple(direct), tuple(bands)


def _resembles(reps: bytes | None, minhashes: bytes, threshold: float) -> bool:
    """Return whether minhashes agree with one stored representative in threshold of places."""
    if not reps or not minhashes:
        return False
    stored = numpy.frombuffer(reps, "<u8", offset=1).reshape(-1, NUM_PERM)
    same = (stored == numpy.frombuffer(minhashes, "<u8")).sum(axis=1)
    return bool(same.max() >= threshold * NUM_PERM)


class Session:
    """Bulk insertion: commits every batch_size messages and on success, aborts on error.

    Use it as a context manager (``with store.session() as s: s.add(mail, fp)``).
    Leaving the block by an exception aborts only the open batch; earlier
    batches are committed and durable.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._env = store._env
        self._dbs = store._dbs
        self._settings = store.settings
        self._txn: Any = None
        self._pending: list[_Item] = []
        self._bumps: list[tuple[int, int, int]] = []
        self._done = IngestSummary()
        self._reset_batch()

    def _reset_batch(self) -> None:
        self._batch: dict[str, int] = dict.fromkeys(
            ("messages", "added", "duplicates", "unsigned", "new_mailings", "merges"), 0)
        self._writes: dict[str, int] = dict.fromkeys(_SWEPT, 0)
        self._stats: dict[int, Stats | None] = {}
        self._dirty: set[int] = set()
        self._ips: dict[str, IpCounters] = {}
        self._clock = 0
        self._next_id = 0

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self._abort()

    @property
    def summary(self) -> IngestSummary:
        """Return the counts over the batches committed so far."""
        return self._done

    # -- the batch --------------------------------------------------------

    def _begin(self) -> Any:
        if self._txn is None:
            try:
                self._txn = self._env.begin(write=True)
            except lmdb.MapResizedError:  # cannot happen for the one writer; be safe
                self._env.set_mapsize(0)
                self._txn = self._env.begin(write=True)
            meta = self._dbs["meta"]
            self._clock = _meta_int(self._txn.get(b"clock", db=meta), 0)
            self._next_id = _meta_int(self._txn.get(b"next", db=meta), 1)
        return self._txn

    def _rollback(self) -> None:
        """Abort the open transaction and forget the batch's caches (not its inputs)."""
        if self._txn is not None:
            try:
                self._txn.abort()
            except lmdb.Error:  # a transaction whose commit failed is already gone
                pass
            self._txn = None
        self._reset_batch()

    def _abort(self) -> None:
        self._rollback()
        self._pending.clear()
        self._bumps.clear()

    def add(self, mail: MailLike, fingerprint: Fingerprint) -> int | None:
        """Return the mailing id the message is filed in, or None if it has no signature.

        A message already in the store (same Message-ID and body) is counted
        once: the second add returns its mailing and changes nothing.

        Raises:
            SchemeMismatchError: if the fingerprint's scheme or lexicon is not the store's.
            StoreFullError: if the map cannot grow any more.
        """
        self._store._check_fingerprint(fingerprint)
        item = self._item(mail, fingerprint)
        result = self._run(lambda: self._apply(item))
        self._pending.append(item)
        if len(self._pending) >= self._settings.batch_size:
            self.commit()
        return result

    def bump(self, mailing: int, *, complaints: int = 0, traps: int = 0) -> None:
        """Add to a mailing's complaint and spam-trap counters; raise KeyError if unknown."""
        if complaints < 0 or traps < 0:
            raise ValueError("complaints and traps only go up")
        self._run(lambda: self._apply_bump(mailing, complaints, traps))
        self._bumps.append((mailing, complaints, traps))

    def commit(self) -> None:
        """Write the open batch and make it durable; raise StoreFullError if the map is full."""
        if self._txn is None and not self._pending and not self._bumps:
            return
        self._run(self._finish)
        self._done = self._done + IngestSummary(**self._batch, batches=1)
        self._pending.clear()
        self._bumps.clear()
        self._reset_batch()
        self._grow_early()

    def _run(self, step: Callable[[], _T]) -> _T:
        """Return step() run in the open batch; when the map is full, grow it and retry.

        What the batch did so far is redone first: its inputs are kept and add()
        is deterministic, so the replay gives the same mailing ids.
        """
        while True:
            try:
                self._begin()
                return step()
            except lmdb.MapFullError:
                self._rollback()
                self._grow()
                self._begin()
                for item in self._pending:
                    self._apply(item)
                for bump in self._bumps:
                    self._apply_bump(*bump)

    def _grow(self) -> None:
        size = self._env.info()["map_size"]
        if size >= self._settings.max_map_size:
            raise StoreFullError(
                f"{self._store.path}: the LMDB map is full at {size} bytes and may not grow "
                "past max_map_size; raise StoreSettings.max_map_size, or shorten "
                "retention_days so old mailings make room") from None
        self._env.set_mapsize(min(2 * size, self._settings.max_map_size))

    def _grow_early(self) -> None:
        """Double the map between batches when it is 3/4 full, so batches rarely replay."""
        info = self._env.info()
        used = (info["last_pgno"] + 1) * self._env.stat()["psize"]
        if used * 4 > info["map_size"] * 3 and info["map_size"] < self._settings.max_map_size:
            self._env.set_mapsize(min(2 * info["map_size"], self._settings.max_map_size))

    def _finish(self) -> None:
        txn = self._txn
        stats_db = self._dbs["stats"]
        self._writes["stats"] += len(self._dirty)
        for mailing in self._dirty:
            stats = self._stats[mailing]
            if stats is None:
                txn.delete(ID.pack(mailing), db=stats_db)
            else:
                txn.put(ID.pack(mailing), stats.pack(), db=stats_db)
        ips = self._dbs["ips"]
        for address, counters in self._ips.items():
            txn.put(address.encode(), counters.pack(), db=ips)
        meta = self._dbs["meta"]
        txn.put(b"clock", _META_U64.pack(RECORD_VERSION, self._clock), db=meta)
        txn.put(b"next", _META_U64.pack(RECORD_VERSION, self._next_id), db=meta)
        if self._settings.retention_days and self._clock:
            cutoff = self._clock // _HOUR - int(self._settings.retention_days * 24)
            for name in _SWEPT:
                self._sweep(name, cutoff, 2 * self._writes[name] + 64)
        txn.commit()
        self._txn = None

    # -- one message -------------------------------------------------------

    def _item(self, mail: MailLike, fp: Fingerprint) -> _Item:
        ip = mail.source_ip or None
        net = _network(ip) if ip else None
        domain = mail.from_domain
        if not domain and mail.envelope_sender and "@" in mail.envelope_sender:
            domain = mail.envelope_sender.rpartition("@")[2]
        direct, bands = _keys(fp, self._settings)
        return _Item(
            key=message_key(mail),
            date=mail.date.timestamp() if mail.date is not None else None,
            message_id=mail.message_id, source=mail.source, subject=mail.subject,
            ip=ip, ip_hash=_hash(ip) if ip else None, net_hash=_hash(net) if net else None,
            domain=domain.lower() if domain else None,
            recipients=tuple(_hash(r.lower()) for r in mail.recipients),
            spf=mail.spf, dkim=mail.dkim, dmarc=mail.dmarc,
            bulk_signs=tuple(sorted(mail.bulk_signs)),
            direct=direct, bands=bands, minhashes=fp.minhash_bytes,
        )

    def _tick(self, date: float | None) -> tuple[int, int]:
        """Advance the clock by a message's Date; return (clock hour, the message's time)."""
        wall = time.time()
        if date is not None and not _PLAUSIBLE_FROM <= date <= wall + 86400:
            date = None
        if self._clock == 0:
            self._clock = int(date if date is not None else wall)
        elif date is not None and date > self._clock:
            self._clock = int(min(date, self._clock + MAX_ADVANCE))
        # Reports show the message's own (plausible) Date; only retention runs
        # by the guarded clock.
        seen = int(date) if date is not None else self._clock
        return self._clock // _HOUR, seen

    def _stats_of(self, mailing: int) -> Stats | None:
        if mailing not in self._stats:
            raw = self._txn.get(ID.pack(mailing), db=self._dbs["stats"])
            self._stats[mailing] = Stats.unpack(raw) if raw is not None else None
        return self._stats[mailing]

    def _root(self, mailing: int) -> int | None:
        """Return the live root of mailing (None if it expired), compressing the path."""
        root = cluster.find(self._txn, self._dbs["parent"], mailing)
        return root if self._stats_of(root) is not None else None

    def _apply(self, item: _Item) -> int | None:
        txn = self._txn
        self._batch["messages"] += 1
        raw = txn.get(item.key, db=self._dbs["messages"])
        if raw is not None:
            self._batch["duplicates"] += 1
            mailing = unpack_message(raw)[0]
            return self._root(mailing) if mailing else None
        self._batch["added"] += 1
        hour, seen = self._tick(item.date)
        root = self._file(item, hour, seen) if item.direct or item.bands else None
        if root is None:
            self._batch["unsigned"] += 1
        txn.put(item.key, pack_message(root or 0, hour, item.message_id, item.source),
                db=self._dbs["messages"])
        self._writes["messages"] += 1
        if root is not None:
            txn.put(ID.pack(root) + item.key, pack_member(hour), db=self._dbs["members"])
            self._writes["members"] += 1
        if item.ip:
            stats = self._stats.get(root) if root is not None else None
            self._count_ip(item, hour, clustered=stats is not None and stats.size > 1)
        return root

    def _file(self, item: _Item, hour: int, seen: int) -> int:
        """Return the mailing the message joins (starting or merging mailings as needed)."""
        txn = self._txn
        found: list[tuple[Any, bytes, int, int]] = []  # database, key, existing id, hour
        # The keys of a copy nearly all name one mailing: find its root once.
        roots: dict[int, int | None] = {0: None}
        matched: dict[int, None] = {}
        rejected: set[int] = set()
        dbs = self._dbs
        for name, key in item.direct:
            db = dbs[name]
            raw = txn.get(key, db=db)
            old, old_hour = _INDEX.unpack(raw)[1:] if raw else (0, 0)
            found.append((name, key, old, old_hour))
            if old not in roots:
                roots[old] = self._root(old)
            root = roots[old]
            if root is not None:
                matched[root] = None
        for key in item.bands:
            raw = txn.get(key, db=dbs["band"])
            old, old_hour = _INDEX.unpack(raw)[1:] if raw else (0, 0)
            found.append(("band", key, old, old_hour))
            if old not in roots:
                roots[old] = self._root(old)
            root = roots[old]
            if root is None or root in matched or root in rejected:
                continue
            if _resembles(txn.get(ID.pack(root), db=dbs["reps"]), item.minhashes,
                          self._settings.threshold):
                matched[root] = None
            else:
                rejected.add(root)
        if matched:
            mailing = self._union(list(matched), hour) if len(matched) > 1 else next(iter(matched))
        else:
            mailing = self._next_id
            self._next_id += 1
            self._stats[mailing] = Stats(item.subject, item.message_id)
            self._batch["new_mailings"] += 1
        stats = self._stats[mailing]
        assert stats is not None
        stats.count_message(seen=seen, hour=hour, ip=item.ip_hash, net=item.net_hash,
                            domain=item.domain, recipients=item.recipients, spf=item.spf,
                            dkim=item.dkim, dmarc=item.dmarc, bulk_signs=item.bulk_signs)
        self._dirty.add(mailing)
        value = pack_index(mailing, hour)
        writes = self._writes
        for name, key, old, old_hour in found:
            if old == mailing and old_hour == hour:
                continue
            # Keys of another live mailing (an unconfirmed recall candidate) stay
            # theirs; every other key now names this mailing at this hour.
            root = roots[old]
            if root is not None and root not in matched:
                continue
            txn.put(key, value, db=dbs[name])
            writes[name] += 1
        if self._settings.mode == "recall" and item.minhashes:
            self._keep_representative(mailing, item.minhashes)
        return mailing

    def _union(self, roots: list[int], hour: int) -> int:
        """Return the surviving root after merging roots (the largest survives)."""
        sizes = {root: getattr(self._stats_of(root), "size", 0) for root in roots}
        winner = min(roots, key=lambda r: (-sizes[r], r))
        survivor = self._stats[winner]
        assert survivor is not None
        reps_db = self._dbs["reps"]
        for loser in roots:
            if loser == winner:
                continue
            survivor.merge(self._stats[loser])  # type: ignore[arg-type]
            self._stats[loser] = None
            self._dirty.add(loser)
            cluster.link(self._txn, self._dbs["parent"], self._dbs["children"], loser, winner,
                         hour)
            self._writes["parent"] += 1
            theirs = self._txn.get(ID.pack(loser), db=reps_db)
            if theirs:
                self._txn.delete(ID.pack(loser), db=reps_db)
                mine = self._txn.get(ID.pack(winner), db=reps_db) or bytes([RECORD_VERSION])
                room = self._settings.representatives * _REP_BYTES + 1 - len(mine)
                if room > 0:
                    self._txn.put(ID.pack(winner), mine + theirs[1:1 + room], db=reps_db)
            self._batch["merges"] += 1
        self._dirty.add(winner)
        return winner

    def _keep_representative(self, mailing: int, minhashes: bytes) -> None:
        reps_db = self._dbs["reps"]
        mine = self._txn.get(ID.pack(mailing), db=reps_db) or bytes([RECORD_VERSION])
        if len(mine) < 1 + self._settings.representatives * _REP_BYTES:
            self._txn.put(ID.pack(mailing), mine + minhashes, db=reps_db)

    def _count_ip(self, item: _Item, hour: int, *, clustered: bool) -> None:
        assert item.ip is not None
        counters = self._ips.get(item.ip)
        if counters is None:
            raw = self._txn.get(item.ip.encode(), db=self._dbs["ips"])
            counters = IpCounters.unpack(raw) if raw else IpCounters(first_hour=hour)
            self._ips[item.ip] = counters
            self._writes["ips"] += 1
        counters.messages += 1
        counters.clustered += clustered
        counters.spf_failed += (item.spf or "").lower() in ("fail", "softfail")
        counters.last_hour = max(counters.last_hour, hour)

    def _apply_bump(self, mailing: int, complaints: int, traps: int) -> None:
        root = self._root(mailing)
        if root is None:
            raise KeyError(mailing)
        stats = self._stats[root]
        assert stats is not None
        stats.complaints += complaints
        stats.traps += traps
        self._dirty.add(root)

    # -- retention ---------------------------------------------------------

    def _sweep(self, name: str, cutoff: int, budget: int) -> None:
        """Drop the entries of one database last written before cutoff, looking at budget.

        The cursor position is kept in meta, so consecutive batches walk the
        whole database round and round; each pass deletes what has expired.
        The scan is one C-level iteration reading a u32 at a fixed offset: it
        runs over about two entries per entry written, so it must be cheap.
        """
        txn = self._txn
        meta = self._dbs["meta"]
        mark = b"sweep/" + name.encode()
        start = txn.get(mark, db=meta)
        cursor = txn.cursor(db=self._dbs[name])
        if not (cursor.set_range(bytes(start[1:])) if start else cursor.first()):
            cursor.first()  # the mark's key and all after it are gone: go round
        at, unpack = HOUR_AT[name], _U32LE.unpack_from
        seen = list(itertools.islice(cursor.iternext(), budget))
        if len(seen) < budget and cursor.first():  # past the end: go round once more
            seen += itertools.islice(cursor.iternext(), budget - len(seen))
        expired = {key for key, value in seen if unpack(value, at)[0] < cutoff}
        if cursor.key() and cursor.next():
            txn.put(mark, bytes([RECORD_VERSION]) + cursor.key(), db=meta)
        else:
            txn.delete(mark, db=meta)  # reached the end: the next pass starts at the top
        db = self._dbs[name]
        for key in expired:
            txn.delete(key, db=db)
            if name == "stats":
                txn.delete(key, db=self._dbs["reps"])
                cluster.drop_children(txn, self._dbs["children"], ID.unpack(key)[0])


def _meta_int(raw: bytes | None, default: int) -> int:
    if raw is None:
        return default
    version, value = _META_U64.unpack(raw)
    if version != RECORD_VERSION:
        raise StoreFormatError(f"meta record version {version} is unknown")
    return int(value)

