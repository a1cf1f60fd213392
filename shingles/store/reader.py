"""The mailing store: which mailing every message belongs to, and what is known of each.

One LMDB directory with named databases (keys big-endian, records as in
``shingles.store.layout``):

    meta      schema version, fingerprint scheme id, lexicon id, matching mode
              and its parameters, the clock, the next mailing id, sweep cursors
    mega      mega-shingle -> mailing          (mode "paper")
    band      band number + LSH band hash -> mailing   (mode "recall")
    reps      mailing -> its first members, to check bridges by: min-hashes (mode
              "recall") or mega-shingle and I-Match keys (mode "paper")
    imatch    I-Match signature (sub-lexicon in its top 8 bits) -> mailing
    stats     mailing -> statistics (only roots of the union-find)
    parent    merged mailing -> the mailing it went into (see shingles.store.cluster)
    children  root mailing -> ids merged into it (dupsort)
    messages  message key -> mailing, Message-ID and source (idempotence); once
              retention expires it, a tombstone for one more window
    members   mailing + message key -> hour (the messages of a mailing)
    ips       source IP -> traffic counters
    merges    mailing + other mailing -> hour, merged or refused, the bridging message

Later stages keep their records in the same environment: they declare their
databases (``layout.Database``) and ``Store.attach`` them (the verdict engine's
and the social graph's ``DATABASES``). The file is checked before LMDB maps it
(``shingles.store.datafile``), so a damaged store is an error, never a crash.

Writes go through a ``shingles.store.writer.Session``: a context manager that
commits every ``batch_size`` messages and at the end, and aborts the open batch
on an error, so a killed process loses at most that batch and a re-run skips
every message already committed (messages are keyed by Message-ID and body
digest). Retention drops what the store's clock (driven by message dates) has
left behind: at once for every read here and for matching, and on disk by a
bounded sweep step per batch (``shingles.store.retention``).

This module opens stores, checks their meta record and answers questions;
``shingles.store.writer`` writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import heapq
import os
import secrets
import struct
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

import lmdb

from shingles.config import StoreSettings
from shingles.errors import SchemeMismatchError, StoreFormatError, StoreLockedError
from shingles.fingerprint import Fingerprint
from shingles.lexicon import Lexicon
from shingles.scheme import DEFAULT_SCHEME, Scheme
from shingles.store import cluster, datafile, retention
from shingles.store.cluster import ID
from shingles.store import traces
from shingles.store.keys import IndexKeys, keys_of, message_key, resembles
from shingles.store.layout import (
    RECORD_VERSION,
    STORE_DATABASES,
    Database,
    IpCounters,
    Stats,
    unpack_index,
    unpack_merge,
    unpack_message,
)
from shingles.store.views import IngestSummary, Mailing, MailLike, MessageRef
from shingles.store.writer import Session

__all__ = [
    "RECALL_SCHEME",
    "SCHEMA_VERSION",
    "IndexKeys",
    "IngestSummary",
    "Mailing",
    "MailLike",
    "MessageRef",
    "Store",
    "keyed",
    "keys_of",
    "message_key",
]

#: Version of the database layout as a whole; bump it when a database changes meaning.
#: 2: the verdict engine's and the social graph's databases joined the mailing store's.
#: 3: representatives in paper mode too, and ``merges`` records every merge of mailings.
SCHEMA_VERSION = 3


#: The scheme a new recall-mode store fingerprints with unless told otherwise: 2-word
#: shingles keep copies with changed words alike (a share q of changed words leaves
#: resemblance about (1-q)^2 / (2 - (1-q)^2)). Measured on the corpus (bench/README.md,
#: "recall mode's window"): at 21 bands of 4 and threshold 0.5, copies with 10% of
#: words substituted are found 0.993 of the time (0.527 with 4-word shingles) and no
#: two distinct corpus messages that share little are glued (4 with 4-word shingles).
RECALL_SCHEME = Scheme(window=2)


def keyed(base: Scheme, seed: int | None, lexicon: Lexicon | None) -> Scheme:
    """Return base with the seed a new store fingerprints with.

    The scheme is public, so with a fixed seed anyone can fingerprint offline and
    craft a chain of messages, each sharing a mega-shingle with the one before,
    that walks one mailing's text into another's. A random secret seed per store
    closes that: only this installation can tell which messages share keys.
    Args:
        base: The scheme of the store's matching mode.
        seed: The configured seed (installations sharing signatures set the same),
            or None for a random one.
        lexicon: A lexicon the store is made with: token hashes must be its, so the
            store takes its seed (build the lexicon with a secret seed to keep it so).
    """
    if lexicon is not None:
        seed = int(lexicon.token_id.split("seed=")[1].split()[0], 16)
    elif seed is None:
        seed = secrets.randbits(64)
    return dataclasses.replace(base, seed=seed)


#: Room for the store's databases and the ones other stages attach.
MAX_DBS = 64


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
        wait: Seconds a writer waits for another writer to finish (0: none).

    Raises:
        StoreLockedError: if another process is writing to the store.
        SchemeMismatchError: if the store was made with another scheme, lexicon or mode.
        StoreFormatError: if the store's schema version is unknown.
        FileNotFoundError: if readonly and there is no store at path (yet).
    """

    def __init__(self, path: str | os.PathLike[str], *, scheme: Scheme | None = None,
                 lexicon: Lexicon | None = None, settings: StoreSettings | None = None,
                 readonly: bool = False, wait: float = 0.0) -> None:
        self.path = os.fspath(path)
        self.readonly = readonly
        self._lock_fd: int | None = None
        # Filters of the index keys, kept by the writer's sessions (shingles.store.keyfilter):
        # they are sound only while this Store holds the writer lock.
        self._key_filters: dict[str, Any] | None = None
        if readonly:
            if not os.path.exists(os.path.join(self.path, "data.mdb")):
                raise FileNotFoundError(f"no store at {self.path}")
        else:
            os.makedirs(self.path, exist_ok=True)
            self._lock_fd = _lock_writer(self.path, wait)
        try:
            self._open(scheme, lexicon, settings)
        except BaseException:
            self.close()
            raise

    def _open(self, scheme: Scheme | None, lexicon: Lexicon | None,
              settings: StoreSettings | None) -> None:
        with datafile.translated(self.path):
            self._open_env(scheme, lexicon, settings)

    def _open_env(self, scheme: Scheme | None, lexicon: Lexicon | None,
                  settings: StoreSettings | None) -> None:
        wanted = settings or StoreSettings()
        data = os.path.join(self.path, "data.mdb")
        size = wanted.map_size
        if self.readonly and os.path.exists(data) and not os.path.getsize(data):
            # A writer creating the store has made the file and not yet its meta pages.
            raise FileNotFoundError(f"{self.path} is not a shingles store (or its writer "
                                    "has not committed yet)")
        if os.path.exists(data) and (self.readonly or os.path.getsize(data)):
            # Refuse a foreign, damaged or cut-short file before mapping it: a page
            # past the end of the file would kill the process with SIGBUS.
            size = max(size, datafile.check(self.path).needed, os.path.getsize(data))
        self._env = lmdb.open(self.path, map_size=size, max_dbs=MAX_DBS, subdir=True,
                              readonly=self.readonly, lock=True, sync=True, metasync=True,
                              readahead=False)
        self._dbs: dict[str, Any] = {}
        #: Databases in use, by name: the store's and those attached (see attach).
        self.databases: dict[str, Database] = {}
        if self.readonly:
            try:
                self.attach(STORE_DATABASES, required=True)
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
                # Named databases are keys of the main one: an environment with
                # keys but no meta database is someone else's.
                if txn.get(b"meta") is None and txn.cursor().first():
                    raise StoreFormatError(
                        f"{self.path} holds an LMDB environment that is no shingles store "
                        "(no meta database); use another --store")
                self._open_dbs(STORE_DATABASES, txn)
                stored = self._meta_strings(txn)
                if stored is None:
                    default = RECALL_SCHEME if wanted.mode == "recall" else DEFAULT_SCHEME
                    stored = {"schema": str(SCHEMA_VERSION),
                              "scheme": (scheme or keyed(default, wanted.seed, lexicon)).id,
                              "lexicon": lexicon.id if lexicon is not None else "",
                              "matching": wanted.matching}
                    for name, value in stored.items():
                        txn.put(name.encode(), bytes([RECORD_VERSION]) + value.encode(),
                                db=self._dbs["meta"])
        self._check_meta(stored, scheme, lexicon, settings)
        self.scheme_id = stored["scheme"]
        #: The scheme to fingerprint with for this store (its seed is the store's own).
        self.scheme = Scheme.from_id(self.scheme_id)
        self.lexicon_id = stored["lexicon"] or None
        self.settings = settings or _settings_from(stored["matching"])
        if self.settings.trace_threshold is not None:  # header traces per mailing
            self.attach(traces.DATABASES)

    def _open_dbs(self, databases: Iterable[Database], txn: Any | None) -> None:
        for database in databases:
            if database.name not in self._dbs:
                self._dbs[database.name] = self._env.open_db(
                    database.name.encode(), txn=txn, create=not self.readonly,
                    dupsort=database.dupsort)
                self.databases[database.name] = database

    def attach(self, databases: Iterable[Database], *, required: bool = False) -> None:
        """Open another stage's databases in this store (idempotent).

        The verdict engine and the social graph keep their records here and say
        which databases they need; a writer creates them, a reader opens those
        that exist (reading one that does not finds nothing).

        Raises:
            lmdb.NotFoundError: if required and a database is missing (readers only).
        """
        wanted = [d for d in databases if d.name not in self._dbs]
        if not wanted:
            return
        if self.readonly:
            for database in wanted:
                try:
                    self._open_dbs((database,), None)
                except lmdb.NotFoundError:
                    if required:
                        raise
                    self.databases[database.name] = database  # known, and empty
        else:
            with self._env.begin(write=True) as txn:
                self._open_dbs(wanted, txn)

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
        self._key_filters = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _read(self) -> Iterator[Any]:
        """Yield a read transaction, LMDB's errors in it told in the store's words;
        adopt a map another process has grown."""
        with datafile.translated(self.path):
            try:
                txn = self._env.begin()
            except lmdb.MapResizedError:
                self._env.set_mapsize(0)
                txn = self._env.begin()
            with txn:
                yield txn

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

    def _floor(self, txn: Any) -> int:
        """Return the hour below which records have expired (-1: none), by the clock and
        the retention the last writer committed: readers see exactly the window,
        whether the sweep has removed what is older yet or not."""
        meta = self._dbs["meta"]
        raw = txn.get(b"retention", db=meta)
        days = float(bytes(raw[1:])) if raw else 0.0
        return retention.cutoff(_meta_int(txn.get(b"clock", db=meta)), days)

    def _live(self, name: str, value: bytes | None, floor: int) -> bytes | None:
        """Return value unless retention has expired it (by its database's hour)."""
        if value is None or retention.live(value, self.databases[name].hour_at, floor):
            return value
        return None

    def _root(self, txn: Any, mailing: int, floor: int | None = None) -> int | None:
        floor = self._floor(txn) if floor is None else floor
        root = cluster.find(txn, self._dbs["parent"], mailing, compress=False, floor=floor)
        stats = self._live("stats", txn.get(ID.pack(root), db=self._dbs["stats"]), floor)
        return root if stats is not None else None

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
            floor = self._floor(txn)
            for key, value in txn.cursor(db=self._dbs["stats"]):
                if self._live("stats", value, floor) is None:
                    continue
                stats = Stats.unpack(value)
                if stats.size >= min_size:
                    yield Mailing.from_stats(ID.unpack(key)[0], stats)

    def top(self, n: int, min_size: int = 1) -> list[Mailing]:
        """Return the n largest mailings, largest first (ties: lower id first)."""
        return heapq.nsmallest(n, self.mailings(min_size), key=lambda m: (-m.size, m.id))

    def _under(self, txn: Any, name: str, mailing: int) -> Iterator[tuple[bytes, bytes]]:
        """Yield the (key, value) records of a database keyed by mailing id + more, for a
        mailing and every id merged into it (none when it has expired; records retention
        has expired left out)."""
        floor = self._floor(txn)
        root = self._root(txn, mailing, floor)
        if root is None:
            return
        ids = [root, *cluster.merged_ids(txn, self._dbs["children"], root)]
        cursor = txn.cursor(db=self._dbs[name])
        for member in sorted(ids):
            prefix = ID.pack(member)
            if not cursor.set_range(prefix):
                continue
            for key, value in cursor:
                if not bytes(key).startswith(prefix):
                    break
                if self._live(name, value, floor) is not None:
                    yield bytes(key), bytes(value)

    def _message(self, txn: Any, key: bytes) -> tuple[int, int, str | None, str] | None:
        """Return the stored message record of a message key, None if there is none (or
        only its tombstone, or it has expired)."""
        raw = txn.get(key, db=self._dbs["messages"])
        if retention.message_state(raw, self._floor(txn), 0) != "stored":
            return None
        return unpack_message(raw)

    def messages(self, mailing: int) -> Iterator[MessageRef]:
        """Yield the messages filed in a mailing (and in those merged into it)."""
        with self._read() as txn:
            for key, _ in self._under(txn, "members", mailing):
                ref = self._message(txn, key[8:])
                if ref is not None:
                    yield MessageRef(ref[2], ref[3])

    def merges(self, mailing: int) -> list[dict[str, Any]]:
        """Return the merges and refused merges recorded for a mailing and the ids merged
        into it: which mailing met which, when (store hour), and the bridging message."""
        out: list[dict[str, Any]] = []
        with self._read() as txn:
            for key, value in self._under(txn, "merges", mailing):
                hour, accepted, message = unpack_merge(value)
                ref = self._message(txn, message)
                out.append({"mailing": ID.unpack(key[:8])[0], "other": ID.unpack(key[8:16])[0],
                            "merged": accepted, "hour": hour,
                            "message_id": ref[2] if ref else None,
                            "source": ref[3] if ref else None})
        return out

    def mailing_of(self, mail: MailLike) -> int | None:
        """Return the mailing a stored message is in; None if it is in none.

        Raises:
            KeyError: if the message is not in the store.
        """
        with self._read() as txn:
            ref = self._message(txn, message_key(mail))
            if ref is None:  # never stored, or forgotten by retention
                raise KeyError(mail.message_id or mail.source)
            mailing = ref[0]
            return self._root(txn, mailing) if mailing else None

    def lookup(self, fingerprint: Fingerprint, trace: str | None = None) -> int | None:
        """Return the mailing a fingerprint would join (the first match), without storing it.

        trace: the message's header trace (Mail.trace), for StoreSettings.trace_threshold.

        Raises:
            SchemeMismatchError: if the fingerprint's scheme or lexicon is not the store's.
        """
        self._check_fingerprint(fingerprint)
        keys = keys_of(fingerprint, self.settings)
        with self._read() as txn:
            floor = self._floor(txn)
            for name, group in keys.groups():
                for key in group:
                    raw = self._live(name, txn.get(key, db=self._dbs[name]), floor)
                    root = self._root(txn, unpack_index(raw)[0], floor) if raw else None
                    # A band key only names a candidate: it must resemble the mailing.
                    if root is not None and (name != "band" or resembles(
                            txn.get(ID.pack(root), db=self._dbs["reps"]),
                            fingerprint.minhash_bytes, traces.threshold_for(
                                txn, self._dbs.get(traces.DATABASE), root,
                                traces.trace_key(trace), self.settings))):
                        return root
        return None

    def ip(self, address: str) -> IpCounters | None:
        """Return the traffic counters of a source IP, or None if it has sent nothing."""
        with self._read() as txn:
            raw = self._live("ips", txn.get(address.encode(), db=self._dbs["ips"]),
                             self._floor(txn))
        return IpCounters.unpack(raw) if raw else None

    def record(self, name: str, key: bytes) -> bytes | None:
        """Return a committed record of the engine's databases (zone, held, verdicts);
        None if there is none or retention has expired it."""
        if name not in self._dbs and name in self.databases:
            return None  # attached to a reader, and not created yet
        with self._read() as txn:
            raw = self._live(name, txn.get(key, db=self._dbs[name]), self._floor(txn))
        return bytes(raw) if raw is not None else None

    def records(self, name: str, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Yield the committed (key, value) records of one of the engine's databases
        whose key starts with prefix (those retention has expired left out)."""
        if name not in self._dbs and name in self.databases:
            return  # attached to a reader, and not created yet
        with self._read() as txn:
            floor = self._floor(txn)
            cursor = txn.cursor(db=self._dbs[name])
            items = []
            if cursor.set_range(prefix):
                for key, value in cursor:
                    if not bytes(key).startswith(prefix):
                        break
                    if self._live(name, value, floor) is not None:
                        items.append((bytes(key), bytes(value)))
        yield from items

    def sizes(self) -> dict[str, int]:
        """Return the bytes each database occupies (pages x page size), and "file"."""
        out = {}
        with self._read() as txn:
            for name in self._dbs:
                stat = txn.stat(self._dbs[name])
                pages = stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"]
                out[name] = pages * stat["psize"]
        out["file"] = os.path.getsize(os.path.join(self.path, "data.mdb"))
        return out

    def info(self) -> dict[str, Any]:
        """Return what an admin asks of a store: sizes, counts, scheme, mode, retention,
        the last commit (its LMDB transaction id and the file's modification time)."""
        data = os.path.join(self.path, "data.mdb")
        with self._read() as txn:
            meta = self._dbs["meta"]
            clock = _meta_int(txn.get(b"clock", db=meta))
            next_id = _meta_int(txn.get(b"next", db=meta))
            retention_days = txn.get(b"retention", db=meta)
            forgotten = retention.tombstones(txn, meta)
        env = self._env.info()
        counts = self.counts()
        return {
            "path": self.path,
            "scheme": self.scheme_id,
            "lexicon": self.lexicon_id,
            "matching": self.settings.matching,
            # As the last writer ran it (each run may set its own), None before any.
            "retention_days": float(bytes(retention_days[1:])) if retention_days else None,
            "mailings": counts["stats"],
            # Stored messages; the tombstones of those retention expired are apart.
            "messages": counts["messages"] - forgotten,
            "forgotten_messages": forgotten,
            "next_mailing_id": next_id or 1,
            "clock": (datetime.fromtimestamp(clock, timezone.utc).isoformat()
                      if clock else None),
            "last_commit": {
                "txn_id": env["last_txnid"],
                "time": datetime.fromtimestamp(os.path.getmtime(data),
                                               timezone.utc).isoformat(),
            },
            "map_size": env["map_size"],
            "file_bytes": os.path.getsize(data),
            "database_bytes": self.sizes(),
            "entries": counts,
        }

    def backup(self, dest: str | os.PathLike[str]) -> int:
        """Write a consistent, compacted copy of the store to the new folder dest and
        return its size in bytes; safe while a writer runs (LMDB copies one snapshot).

        Raises:
            FileExistsError: if dest exists and is not an empty folder.
        """
        target = os.fspath(dest)
        if os.path.exists(target) and (not os.path.isdir(target) or os.listdir(target)):
            raise FileExistsError(f"{target} exists and is not empty; back up into a new "
                                  "folder")
        os.makedirs(target, exist_ok=True)
        with datafile.translated(self.path):
            self._env.copy(target, compact=True)
        return os.path.getsize(os.path.join(target, "data.mdb"))

    def counts(self) -> dict[str, int]:
        """Return the number of entries in each database."""
        with self._read() as txn:
            return {name: txn.stat(self._dbs[name])["entries"] for name in self._dbs}

    def _check_fingerprint(self, fp: Fingerprint) -> None:
        if fp.scheme != self.scheme_id:
            raise SchemeMismatchError(f"fingerprint scheme {fp.scheme!r} is not the store's "
                                      f"{self.scheme_id!r}")
        if fp.imatch and fp.lexicon != self.lexicon_id:
            raise SchemeMismatchError(f"fingerprint lexicon {fp.lexicon!r} is not the store's "
                                      f"{self.lexicon_id!r}")


def _lock_writer(path: str, wait: float = 0.0) -> int:
    """Return a descriptor holding the store's writer lock, waiting up to wait seconds
    for another writer to finish; raise StoreLockedError if it is still taken."""
    lock = os.path.join(path, "writer.lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise PermissionError(f"{path} cannot be written ({exc.strerror}); commands "
                              "that only read it (mailings, explain, store info) still "
                              "work; or fix its permissions") from None
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        try:
            # flock is released by the kernel when the process dies, even by SIGKILL,
            # so a crashed writer never leaves the store locked.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder(fd)
                os.close(fd)
                waited = f" after waiting {wait:g} s" if wait > 0 else ""
                raise StoreLockedError(
                    f"{path} is being written by another process ({holder}){waited}; one "
                    "writer at a time: wait for it with --wait SECONDS, or use a command "
                    "that only reads (mailings, explain, store info)") from None
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    # The holder's pid, for the message a second writer gets.
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _holder(fd: int) -> str:
    """Return who holds the writer lock, as its pid file says."""
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return f"pid {text}" if text.isdigit() else "pid unknown"


def _meta_int(raw: bytes | None) -> int:
    """Return a meta counter (the clock, the next id), 0 when absent."""
    if raw is None:
        return 0
    version, value = struct.unpack("<Bq", raw)
    if version != RECORD_VERSION:
        raise StoreFormatError(f"meta record version {version} is unknown")
    return int(value)


def _settings_from(matching: str) -> StoreSettings:
    """Return default settings with the stored matching mode and parameters."""
    if matching == "paper":
        return StoreSettings()
    words = dict(part.split("=", 1) for part in matching.split()[1:])
    bands, rows = (int(x) for x in words["bands"].split("x"))
    return StoreSettings(mode="recall", bands=bands, rows=rows,
                         threshold=float(words["threshold"]),
                         representatives=int(words["reps"]),
                         trace_threshold=float(words["trace"]) if "trace" in words else None)
