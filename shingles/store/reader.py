"""The mailing store: which mailing every message belongs to, and what is known of each.

One LMDB directory with named databases (keys big-endian, records as in
``shingles.store.layout``):

    meta      schema version, fingerprint scheme id, lexicon id, matching mode
              and its parameters, the clock, the next mailing id, sweep cursors
    mega      mega-shingle -> mailing          (mode "paper")
    band      band number + LSH band hash -> mailing   (mode "recall")
    reps      mailing -> min-hashes of a few representatives   (mode "recall")
    imatch    I-Match signature (sub-lexicon in its top 8 bits) -> mailing
    stats     mailing -> statistics (only roots of the union-find)
    parent    merged mailing -> the mailing it went into (see shingles.store.cluster)
    children  root mailing -> ids merged into it (dupsort)
    messages  message key -> mailing, Message-ID and source (idempotence)
    members   mailing + message key -> hour (the messages of a mailing)
    ips       source IP -> traffic counters

Writes go through a ``shingles.store.writer.Session``: a context manager that
commits every ``batch_size`` messages and at the end, and aborts the open batch
on an error, so a killed process loses at most that batch and a re-run skips
every message already committed (messages are keyed by Message-ID and body
digest). Retention sweeps every database a bounded step per batch and drops
what the store's clock (driven by message dates) has left behind.

This module opens stores, checks their meta record and answers questions;
``shingles.store.writer`` writes.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import heapq
import os
import struct
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

import numpy
import xxhash

from shingles.config import StoreSettings, Mode
from shingles.store import cluster
from shingles._lean import lmdb
from shingles.store.cluster import ID
from shingles.errors import (
    SchemeMismatchError,
    StoreFormatError,
    StoreLockedError,
)
from shingles.fingerprint import Fingerprint
from shingles.lexicon import Lexicon
from shingles.store.layout import (
    AUTH_RESULTS,
    BULK_SIGNS,
    RECORD_VERSION,
    IpCounters,
    Stats,
    unpack_index,
    unpack_message,
)
from shingles.scheme import DEFAULT_SCHEME, NUM_PERM, Scheme

if TYPE_CHECKING:
    from shingles.store.writer import Session

__all__ = [
    "RECALL_SCHEME",
    "SCHEMA_VERSION",
    "IndexKeys",
    "IngestSummary",
    "Mailing",
    "MessageRef",
    "Store",
    "message_key",
]

#: Version of the database layout as a whole; bump it when a database changes meaning.
#: 2: the verdict engine's and the social graph's databases joined the mailing store's.
SCHEMA_VERSION = 2


#: The scheme a new recall-mode store fingerprints with unless told otherwise: 2-word
#: shingles keep copies with changed words alike (a share q of changed words leaves
#: resemblance about (1-q)^2 / (2 - (1-q)^2)). Measured on the corpus (bench/README.md,
#: "recall mode's window"): at 21 bands of 4 and threshold 0.5, copies with 10% of
#: words substituted are found 0.993 of the time (0.527 with 4-word shingles) and no
#: two distinct corpus messages that share little are glued (4 with 4-word shingles).
RECALL_SCHEME = Scheme(window=2)


_U64 = struct.Struct(">Q")
_META_U64 = struct.Struct("<Bq")
_REP_BYTES = 8 * NUM_PERM
_SIG = struct.Struct("<Q")
_INDEX = struct.Struct("<BQI")  # records.pack_index, unpacked without its checks: hot
_U32LE = struct.Struct("<I")

_DBS = ("meta", "mega", "band", "reps", "imatch", "stats", "parent", "children", "messages",
        "members", "ips",
        # The verdict engine's: suspicious-zone counters per IP, held messages, verdicts.
        "zone", "held", "verdicts",
        # The social graph's (shingles.verdicts.social): author -> recipient edges, recipient
        # domains of outgoing mail, sending networks per domain, daily new recipients
        # per author, flagged authors.
        "edges", "outdomains", "domnets", "authorday", "flagged")




class MailLike(Protocol):
    """The fields of ``shingles.mail.records.Mail`` the store reads (read-only, as in the frozen record)."""

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
        authenticated_networks: Distinct /24 networks of the copies that
            authenticate for their sending domain (SPF pass or DKIM pass, aligned).
        other_networks: Distinct /24 networks of the other copies. Verdicts judge
            each identity's spread apart (see shingles.verdicts.judge).
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
    authenticated_networks: int = 0
    other_networks: int = 0

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
            authenticated_networks=stats.auth_nets.count(),
            other_networks=stats.anon_nets.count(),
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
        expired_messages: Stored messages retention dropped (retention_days).
        expired_mailings: Mailings retention dropped whole.
    """

    messages: int = 0
    added: int = 0
    duplicates: int = 0
    unsigned: int = 0
    new_mailings: int = 0
    merges: int = 0
    batches: int = 0
    expired_messages: int = 0
    expired_mailings: int = 0

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


class Store:
    """An LMDB directory of mailings; many readers, one writer at a time.

    Args:
        path: The store directory (created for a writer).
        scheme: Fingerprint scheme; None adopts the stored one (for a new store the
            default, or RECALL_SCHEME in recall mode).
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
                    default = RECALL_SCHEME if wanted.mode == "recall" else DEFAULT_SCHEME
                    stored = {"schema": str(SCHEMA_VERSION),
                              "scheme": (scheme or default).id,
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
        from shingles.store.writer import Session  # it builds on this module

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
        keys = keys_of(fingerprint, self.settings)
        with self._read() as txn:
            for name, group in keys.groups():
                for key in group:
                    raw = txn.get(key, db=self._dbs[name])
                    root = self._root(txn, unpack_index(raw)[0]) if raw else None
                    # A band key only names a candidate: it must resemble the mailing.
                    if root is not None and (name != "band" or resembles(
                            txn.get(ID.pack(root), db=self._dbs["reps"]),
                            fingerprint.minhash_bytes, self.settings.threshold)):
                        return root
        return None

    def ip(self, address: str) -> IpCounters | None:
        """Return the traffic counters of a source IP, or None if it has sent nothing."""
        with self._read() as txn:
            raw = txn.get(address.encode(), db=self._dbs["ips"])
        return IpCounters.unpack(raw) if raw else None

    def record(self, name: str, key: bytes) -> bytes | None:
        """Return a committed record of the engine's databases (zone, held, verdicts)."""
        with self._read() as txn:
            raw = txn.get(key, db=self._dbs[name])
        return bytes(raw) if raw is not None else None

    def records(self, name: str, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Yield the committed (key, value) records of one of the engine's databases
        whose key starts with prefix."""
        with self._read() as txn:
            cursor = txn.cursor(db=self._dbs[name])
            items = []
            if cursor.set_range(prefix):
                for key, value in cursor:
                    if not bytes(key).startswith(prefix):
                        break
                    items.append((bytes(key), bytes(value)))
        yield from items

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


class IndexKeys(NamedTuple):
    """A fingerprint's index keys, by the database that holds them.

    Mega-shingle and I-Match keys match outright; LSH band keys name candidates
    that must be confirmed. Keys are the signatures' own little-endian bytes:
    they are hashes, so their order means nothing and slicing the packed
    arrays costs no conversion.
    """

    mega: tuple[bytes, ...]
    imatch: tuple[bytes, ...]
    band: tuple[bytes, ...]

    def groups(self) -> tuple[tuple[str, tuple[bytes, ...]], ...]:
        """Return (database, keys) of each database with keys, in field order."""
        return tuple((name, keys) for name, keys in zip(self._fields, self) if keys)


@functools.lru_cache(maxsize=None)
def _words(n: int) -> struct.Struct:
    """Return a Struct cutting n 8-byte words apart (one C call for a message's keys)."""
    return struct.Struct("8s" * n)


def keys_of(fp: Fingerprint, settings: StoreSettings) -> IndexKeys:
    """Return a fingerprint's index keys under settings' matching mode."""
    imatch = tuple(_SIG.pack(sig) for sig in fp.imatch)
    if settings.mode == "paper":
        megas = fp.megashingle_bytes
        return IndexKeys(_words(len(megas) // 8).unpack(megas), imatch, ())
    bands: list[bytes] = []
    if fp.minhash_bytes:
        raw = fp.minhash_bytes
        width = 8 * settings.rows
        for band in range(settings.bands):
            digest = xxhash.xxh3_64_digest(raw[band * width:(band + 1) * width])
            bands.append(bytes((band,)) + digest)
    return IndexKeys((), imatch, tuple(bands))


def resembles(reps: bytes | None, minhashes: bytes, threshold: float) -> bool:
    """Return whether minhashes agree with one stored representative in threshold of places."""
    if not reps or not minhashes:
        return False
    stored = numpy.frombuffer(reps, "<u8", offset=1).reshape(-1, NUM_PERM)
    same = (stored == numpy.frombuffer(minhashes, "<u8")).sum(axis=1)
    return bool(same.max() >= threshold * NUM_PERM)
