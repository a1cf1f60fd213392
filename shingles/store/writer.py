"""Writing to the mailing store: batches, clustering, statistics, retention.

A ``Session`` (from ``Store.session()``) files messages into mailings inside
batched LMDB write transactions. Each batch keeps its inputs, so when the map
is full it is grown and the batch replayed: ``add`` is deterministic, so the
replay gives the same mailing ids. Statistics and IP counters of the batch are
kept in memory and written once at commit, with one bounded retention step.

Time is the store's clock: the latest plausible message Date seen, advancing at
most ``MAX_ADVANCE`` seconds per message, so neither an archive replayed out of
order nor a bogus Date years ahead expires fresh keys.
"""

from __future__ import annotations

import gc
import operator
import struct
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import lmdb
import xxhash

from shingles._lean import store_loops
from shingles.errors import StoreFormatError, StoreFullError
from shingles.fingerprint import Fingerprint
from shingles.mail.identity import authenticates
from shingles.store import cluster, datafile, keyfilter, retention, traces
from shingles.store.cluster import ID
from shingles.store.keys import (
    NO_KEYS,
    IndexKeys,
    bridges,
    keys_of,
    message_key,
    network,
    position,
    representative,
    resembles,
)
from shingles.store.layout import (
    RECORD_VERSION,
    IpCounters,
    is_tombstone,
    Stats,
    pack_index,
    pack_member,
    pack_merge,
    pack_message,
    reps_header,
    unpack_message,
    unpack_reps,
)
from shingles.store.views import IngestSummary, Mailing, MailLike

if TYPE_CHECKING:
    from shingles.store.reader import Store

__all__ = ["MAX_ADVANCE", "Session"]

_T = TypeVar("_T")

#: The clock moves at most this far per message: a real stream advances by
#: seconds per message, while one bogus Date (the corpus has years 2020 and
#: 2028 among 2002 mail) must not jump it and expire everything.
MAX_ADVANCE = 3600
#: Dates before this (Y2K-buggy years such as 0102) are not believed.
_PLAUSIBLE_FROM = datetime(1995, 1, 1, tzinfo=timezone.utc).timestamp()
_HOUR = 3600
#: The summary count of what retention drops from a database.
_EXPIRED = {"messages": "expired_messages", "stats": "expired_mailings"}

_META_U64 = struct.Struct("<Bq")
#: Sorts (key, value) pairs by key alone: a third faster than comparing the pairs.
_FIRST = operator.itemgetter(0)
_INDEX = struct.Struct("<BQI")  # records.pack_index, unpacked without its checks: hot


def probe_py(txn: Any, db: Any, pending: dict[bytes, bytes], held: Any, keys: Sequence[bytes],
             olds: list[int], hours: list[int], floor: int) -> None:
    """Append the mailing id and hour each index key names to olds and hours (0, 0: none,
    or expired: older than floor), as the batch left it: its pending writes first, then
    the database, not looked up for a key the filter held (a keyfilter, or None) never
    held. The filter takes such a key then: the batch writes every key it probes, and
    one it does not commit is only a false positive. Compiled as shingles._store.probe.

    Raises:
        StoreFormatError: if an index record is not 13 bytes long.
    """
    get = txn.get
    unpack = _INDEX.unpack
    for key in keys:
        raw = pending.get(key)
        if raw is None and (held is None or held.check_and_add(key)):
            raw = get(key, None, db)
        if raw is None:
            olds.append(0)
            hours.append(0)
        else:
            if len(raw) != _INDEX.size:
                raise StoreFormatError(f"index record of {len(raw)} bytes, not {_INDEX.size}")
            _, old, hour = unpack(raw)
            if hour < floor:
                old = hour = 0
            olds.append(old)
            hours.append(hour)


_probe = store_loops.probe if store_loops is not None else probe_py


def sorted_items_py(writes: dict[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """Return the items of a batch's writes in key order, LMDB's: random keys put one at
    a time touch a random leaf page each, sorted ones walk the tree once. Compiled as
    shingles._store.sorted_items (a radix sort on the keys' first 8 bytes)."""
    return sorted(writes.items(), key=_FIRST)


_sorted_items = store_loops.sorted_items if store_loops is not None else sorted_items_py


def _refile(pending: dict[bytes, bytes], keys: Sequence[bytes], olds: list[int],
            hours: list[int], offset: int, value: bytes) -> int:
    """Set value (a packed index record) as the pending write of each key whose olds/hours
    entry (from offset on) differs from it; return how many of them were new keys."""
    _, mailing, hour = _INDEX.unpack(value)
    new = 0
    for i, key in enumerate(keys, offset):
        if olds[i] != mailing or hours[i] != hour:
            pending[key] = value
            new += olds[i] == 0
    return new


def _hash(text: str) -> int:
    return xxhash.xxh3_64_intdigest(text.encode("utf-8", "surrogatepass"))


class _Item(NamedTuple):
    """Everything add() needs from one message, computed once (a batch may be replayed).

    A batch keeps its items until it commits, so they hold few objects: the
    fingerprint rather than its index keys (made again when filed, and gone
    right after), a tuple rather than a dataclass. Freeing a batch of fat
    items at each commit cost as much as filing them.
    """

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
    authenticated: bool
    fingerprint: Fingerprint
    trace: bytes | None  # the header trace (shingles.store.traces)


class Session:
    """Bulk insertion: commits every batch_size messages and on success, aborts on error.

    Use it as a context manager (``with store.session() as s: s.add(mail, fp)``).
    Leaving the block by an exception aborts only the open batch; earlier
    batches are committed and durable.

    Inside the block Python's automatic cyclic garbage collection is paused and
    run at batch ends instead (young generations at each commit, everything once
    FULL_COLLECTION_EVERY full batches' worth of messages were committed). A batch
    keeps tens of thousands of small objects alive, so automatic full collections
    kept walking them: ~37 us a message, a sixth of the whole ingest path, for no
    garbage (the store's records make no reference cycles). Counted in messages,
    not commits: a server's session commits a group of a message or two at a time,
    and a full collection costs ~20 ms whatever the batch.
    """

    #: Full batches' worth of messages between two full collections.
    FULL_COLLECTION_EVERY = 20

    def __init__(self, store: Store) -> None:
        self._store = store
        self._env = store._env
        self._dbs = store._dbs
        self._settings = store.settings
        self._txn: Any = None
        self._pending: list[_Item] = []
        self._bumps: list[tuple[int, int, int]] = []
        self._records: list[tuple[str, bytes, bytes | None]] = []  # the engine's, to replay
        # What the last add found, kept raw: most callers never ask (see last_matches).
        self._last_found: tuple[IndexKeys, list[int], dict[int, int | None],
                                dict[int, None]] = (NO_KEYS, [], {}, {})
        self._done = IngestSummary()
        self._gc_was_enabled: bool | None = None  # set while the with block runs
        self._hours = retention.window(self._settings.retention_days)
        self._arrears = retention.Arrears()
        self._closing = False  # the commit running is the session's last
        self._filters_due = 0  # messages filed before building key filters is worth a look
        self._uncollected = 0  # messages committed since the last full collection
        self._reset_batch()

    def _reset_batch(self) -> None:
        self._batch: dict[str, int] = dict.fromkeys(
            ("messages", "added", "duplicates", "unsigned", "new_mailings", "merges",
             "expired_messages", "expired_mailings"), 0)
        # Entries each swept database gained in the batch: retention must look at
        # more than that (not at every write: most index writes only bump an hour).
        self._added: dict[str, int] = {name: 0 for name, database
                                       in self._store.databases.items()
                                       if database.hour_at is not None}
        self._stats: dict[int, Stats | None] = {}
        # The batch's writes of the per-message databases (index keys, messages,
        # members), kept here and written at commit in key order: random keys put
        # one at a time touch a random leaf page each, sorted ones walk the tree once.
        self._writes: dict[str, dict[bytes, bytes]] = {
            name: {} for name in ("mega", "band", "imatch", "messages", "members")}
        self._dirty: set[int] = set()
        self._ips: dict[str, IpCounters] = {}
        self._clock = 0
        self._floor_at = (0, retention.cutoff(0, self._settings.retention_days))
        self._next_id = 0
        self._reborn = 0  # tombstones a new record of the same message replaced

    def __enter__(self) -> Session:
        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._closing = True
                self.commit()
            else:
                self._abort()
        finally:
            if self._gc_was_enabled:
                gc.enable()
            self._gc_was_enabled = None

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
        self._records.clear()

    def add(self, mail: MailLike, fingerprint: Fingerprint) -> int | None:
        """Return the mailing id the message is filed in, or None if it has no signature.

        A message already in the store (same Message-ID and body) is counted
        once: the second add returns its mailing and changes nothing.

        Raises:
            SchemeMismatchError: if the fingerprint's scheme or lexicon is not the store's.
            StoreFullError: if the map cannot grow any more.
        """
        self._store._check_fingerprint(fingerprint)
        if len(self._pending) >= self._settings.batch_size:
            # A full batch commits when the next message comes, not at its own last
            # add: what the caller writes for that message (a verdict, counters)
            # after add must commit with it, or a kill between leaves it half done.
            self.commit()
        self._last_found = (NO_KEYS, [], {}, {})
        item = self._item(mail, fingerprint)
        result = self._run(lambda: self._apply(item))
        self._pending.append(item)
        return result

    @property
    def last_matches(self) -> tuple[tuple[str, int, int], ...]:
        """Return (database, signature position, earlier mailing) of each key of the last
        added message that found a mailing: what explanations show."""
        keys, olds, roots, matched = self._last_found
        found = ((name, key) for name, group in keys.groups() for key in group)
        return tuple((name, position(name, key), old) for (name, key), old in zip(found, olds)
                     if old in roots and roots[old] in matched)

    def mailing(self, mailing: int) -> Mailing | None:
        """Return a mailing as of this session's last add (uncommitted counts included)."""
        root = self._run(lambda: self._root(mailing))
        stats = self._stats_of(root) if root is not None else None
        return Mailing.from_stats(root, stats) if root is not None and stats else None

    @property
    def now(self) -> datetime:
        """Return the store clock (guarded message time) as the last add advanced it."""
        return datetime.fromtimestamp(self._clock or time.time(), timezone.utc)

    @property
    def _floor(self) -> int:
        """Return the hour below which records have expired (-1: none), by the clock now."""
        # Asked several times a message for one reading of the clock: worked out once.
        if self._clock != self._floor_at[0]:
            self._floor_at = (self._clock, retention.cutoff(self._clock,
                                                            self._settings.retention_days))
        return self._floor_at[1]

    def get(self, name: str, key: bytes) -> bytes | None:
        """Return a record of one of the engine's databases in the open batch, or None
        (also when retention has expired it, swept yet or not)."""
        raw = self._run(lambda: self._txn.get(key, db=self._dbs[name]))
        database = self._store.databases.get(name)
        if raw is not None and database is not None \
                and not retention.live(raw, database.hour_at, self._floor):
            return None
        return raw

    def forgotten(self, mail: MailLike) -> bool:
        """Return whether retention has expired the message within the last window: seen
        before, so a rerun must not count it again (see shingles.store.retention)."""
        key = message_key(mail)
        raw = self._run(lambda: self._writes["messages"].get(key)
                        or self._txn.get(key, db=self._dbs["messages"]))
        return retention.message_state(raw, self._floor, self._hours) == "forgotten"

    def scan_prefix(self, name: str, prefix: bytes, limit: int = 1000) -> list[tuple[bytes, bytes]]:
        """Return up to limit (key, value) records of a database whose key starts with prefix."""
        database = self._store.databases.get(name)
        hour_at = database.hour_at if database is not None else None
        floor = self._floor

        def step() -> list[tuple[bytes, bytes]]:
            cursor = self._txn.cursor(db=self._dbs[name])
            found: list[tuple[bytes, bytes]] = []
            if cursor.set_range(prefix):
                for key, value in cursor:
                    if not bytes(key).startswith(prefix) or len(found) >= limit:
                        break
                    if retention.live(value, hour_at, floor):
                        found.append((bytes(key), bytes(value)))
            return found
        return self._run(step)

    def put(self, name: str, key: bytes, value: bytes) -> None:
        """Write a record of the engine's databases (zone, held, verdicts) in the open batch."""
        self._run(lambda: self._write_record(name, key, value))
        self._records.append((name, key, value))  # after: a replay inside _run skips it
        if name in self._added:  # retention sweeps what it writes (not the social graph)
            self._added[name] += 1

    def delete(self, name: str, key: bytes) -> None:
        """Delete a record of the engine's databases in the open batch, if it is there."""
        self._run(lambda: self._write_record(name, key, None))
        self._records.append((name, key, None))

    def _write_record(self, name: str, key: bytes, value: bytes | None) -> None:
        if value is None:
            self._txn.delete(key, db=self._dbs[name])
        else:
            self._txn.put(key, value, db=self._dbs[name])

    def bump(self, mailing: int, *, complaints: int = 0, traps: int = 0) -> None:
        """Add to a mailing's complaint and spam-trap counters; raise KeyError if unknown."""
        if complaints < 0 or traps < 0:
            raise ValueError("complaints and traps only go up")
        self._run(lambda: self._apply_bump(mailing, complaints, traps))
        self._bumps.append((mailing, complaints, traps))

    def commit(self) -> None:
        """Write the open batch and make it durable; raise StoreFullError if the map is full."""
        if self._txn is None and not self._pending and not self._bumps and not self._records:
            return
        self._run(self._finish)
        self._uncollected += self._batch["messages"]
        self._done = self._done + IngestSummary(**self._batch, batches=1)
        self._keep_filters()
        self._pending.clear()
        self._bumps.clear()
        self._records.clear()
        self._reset_batch()
        self._grow_early()
        if self._gc_was_enabled:
            # The batch's objects are gone by now: the young generations are small.
            full = self._uncollected >= self.FULL_COLLECTION_EVERY * self._settings.batch_size
            gc.collect(2 if full else 1)
            if full:
                self._uncollected = 0

    def _keep_filters(self) -> None:
        """Build the store's key filters once they pay, or again once full (see
        shingles.store.keyfilter)."""
        if not keyfilter.AVAILABLE:
            return
        filters = self._store._key_filters
        if filters is not None and all(held.added <= held.capacity for held in filters.values()):
            return  # the probe gave them the batch's keys already
        if filters is None and self._done.messages < self._filters_due:
            return  # not worth it yet: no transaction for each small commit of a server
        with self._env.begin() as txn:
            if filters is None:
                self._filters_due = keyfilter.messages_to_build(txn, self._dbs)
                if self._done.messages < self._filters_due:
                    return
            self._store._key_filters = keyfilter.build(txn, self._dbs)

    def _run(self, step: Callable[[], _T]) -> _T:
        """Return step() run in the open batch; when the map is full, grow it and retry.

        What the batch did so far is redone first: its inputs are kept and add()
        is deterministic, so the replay gives the same mailing ids.
        """
        replay = False
        while True:
            try:
                self._begin()
                if replay:
                    for item in self._pending:
                        self._apply(item)
                    for bump in self._bumps:
                        self._apply_bump(*bump)
                    for record in self._records:
                        self._write_record(*record)
                    replay = False
                return step()
            except lmdb.MapFullError:
                self._rollback()
                self._grow()
                replay = True
            except lmdb.Error:
                # In the store's words (a full disk, a damaged page); a plain
                # try costs nothing per message where a context manager would.
                with datafile.translated(self._store.path):
                    raise

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
        for name, writes in self._writes.items():
            if writes:  # in key order: each leaf page is visited once
                txn.cursor(db=self._dbs[name]).putmulti(_sorted_items(writes))
        stats_db = self._dbs["stats"]
        changed = []
        for mailing in sorted(self._dirty):  # ids are big-endian: key order, as above
            stats = self._stats[mailing]
            if stats is None:
                txn.delete(ID.pack(mailing), db=stats_db)
            else:
                changed.append((ID.pack(mailing), stats.pack()))
        if changed:
            txn.cursor(db=stats_db).putmulti(changed)
        ips = self._dbs["ips"]
        for address, counters in self._ips.items():
            txn.put(address.encode(), counters.pack(), db=ips)
        meta = self._dbs["meta"]
        txn.put(b"clock", _META_U64.pack(RECORD_VERSION, self._clock), db=meta)
        txn.put(b"next", _META_U64.pack(RECORD_VERSION, self._next_id), db=meta)
        # What `store info` reports: retention is a setting of each run, not of the store.
        txn.put(b"retention", bytes([RECORD_VERSION])
                + str(self._settings.retention_days).encode(), db=meta)
        if self._reborn:
            retention.count_tombstones(txn, self._dbs["meta"], -self._reborn)
        cutoff = self._floor
        walks = self._arrears.plan(self._added, last=self._closing)
        if cutoff >= 0:
            for name, database in self._store.databases.items():
                if walks.get(name) and name in self._dbs and database.hour_at is not None:
                    dropped = retention.sweep(txn, self._dbs, name, database.hour_at,
                                              cutoff, walks[name], self._hours)
                    if name in _EXPIRED:  # counted for the end-of-run summaries
                        self._batch[_EXPIRED[name]] += dropped
        txn.commit()
        self._txn = None
        self._arrears.settle(self._added, walks)

    # -- one message -------------------------------------------------------

    def _item(self, mail: MailLike, fp: Fingerprint) -> _Item:
        ip = mail.source_ip or None
        net = network(ip) if ip else None
        domain = mail.from_domain
        if not domain and mail.envelope_sender and "@" in mail.envelope_sender:
            domain = mail.envelope_sender.rpartition("@")[2]
        return _Item(
            key=message_key(mail),
            date=mail.date.timestamp() if mail.date is not None else None,
            message_id=mail.message_id, source=mail.source, subject=mail.subject,
            ip=ip, ip_hash=_hash(ip) if ip else None, net_hash=_hash(net) if net else None,
            domain=domain.lower() if domain else None,
            recipients=tuple(_hash(r.lower()) for r in mail.recipients),
            spf=mail.spf, dkim=mail.dkim, dmarc=mail.dmarc,
            bulk_signs=tuple(sorted(mail.bulk_signs)),
            authenticated=authenticates(mail.spf, getattr(mail, "spf_domain", None), mail.dkim,
                                        getattr(mail, "dkim_domains", ()), domain),
            fingerprint=fp,
            trace=traces.trace_key(getattr(mail, "trace", None))
            if self._settings.trace_threshold is not None else None,
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
        """Return a mailing's statistics, None when it has none or they have expired
        (checked at each call: the clock moves within a batch)."""
        if mailing not in self._stats:
            raw = self._txn.get(ID.pack(mailing), db=self._dbs["stats"])
            self._stats[mailing] = Stats.unpack(raw) if raw is not None else None
        stats = self._stats[mailing]
        return stats if stats is not None and stats.touched >= self._floor else None

    def _root(self, mailing: int, *, compress: bool = True) -> int | None:
        """Return the live root of mailing (None if it expired), compressing the path."""
        root = cluster.find(self._txn, self._dbs["parent"], mailing, compress=compress,
                            floor=self._floor)
        return root if self._stats_of(root) is not None else None

    def _apply(self, item: _Item) -> int | None:
        txn = self._txn
        self._batch["messages"] += 1
        messages = self._writes["messages"]
        raw = messages.get(item.key) or txn.get(item.key, db=self._dbs["messages"])
        state = retention.message_state(raw, self._floor, self._hours)
        if state != "absent":
            # Stored, or forgotten by retention within the last window: seen, counted once.
            self._batch["duplicates"] += 1
            mailing = unpack_message(raw)[0] if state == "stored" else 0
            # No path compression: a rerun must leave the links as one run does.
            return self._root(mailing, compress=False) if mailing else None
        self._reborn += raw is not None and is_tombstone(raw)
        self._batch["added"] += 1
        hour, seen = self._tick(item.date)
        keys = keys_of(item.fingerprint, self._settings)
        root = self._file(item, keys, hour, seen) if any(keys) else None
        if root is None:
            self._batch["unsigned"] += 1
        messages[item.key] = pack_message(root or 0, hour, item.message_id, item.source)
        self._added["messages"] += 1
        if root is not None:
            # Not counted for retention's walk: the entry expires with its message.
            self._writes["members"][ID.pack(root) + item.key] = pack_member(hour)
        if item.ip:
            stats = self._stats.get(root) if root is not None else None
            self._count_ip(item, hour, clustered=stats is not None and stats.size > 1)
        return root

    def _file(self, item: _Item, keys: IndexKeys, hour: int, seen: int) -> int:
        """Return the mailing the message joins (starting or merging mailings as needed)."""
        txn = self._txn
        dbs = self._dbs
        groups = keys.groups()
        floor = self._floor
        olds: list[int] = []  # the mailing each key names (0: none) and its hour
        hours: list[int] = []
        filters = self._store._key_filters or {}
        for name, group in groups:
            _probe(txn, dbs[name], self._writes[name], filters.get(name), group, olds, hours,
                   floor)
        # The keys of a copy nearly all name one mailing: find its root once.
        roots: dict[int, int | None] = {0: None}
        matched: dict[int, None] = {}
        direct = len(olds) - len(keys.band)
        for old in olds[:direct]:
            if old not in roots:
                roots[old] = self._root(old)
            root = roots[old]
            if root is not None:
                matched[root] = None
        resembling: set[int] = set()  # band candidates already confirmed by resemblance
        if keys.band:
            rejected: set[int] = set()
            minhashes = item.fingerprint.minhash_bytes
            for old in olds[direct:]:
                if old not in roots:
                    roots[old] = self._root(old)
                root = roots[old]
                if root is None or root in matched or root in rejected:
                    continue
                if resembles(txn.get(ID.pack(root), db=dbs["reps"]), minhashes,
                             traces.threshold_for(txn, dbs.get(traces.DATABASE), root,
                                                  item.trace, self._settings)):
                    matched[root] = None
                    resembling.add(root)
                else:
                    rejected.add(root)
        self._last_found = (keys, olds, roots, matched)
        if len(matched) > 1:
            mailing = self._bridge(list(matched), resembling, item, keys, hour)
        elif matched:
            mailing = next(iter(matched))
        else:
            mailing = self._next_id
            self._next_id += 1
            self._stats[mailing] = Stats(item.subject, item.message_id)
            self._added["stats"] += 1
            self._batch["new_mailings"] += 1
        stats = self._stats[mailing]
        assert stats is not None
        stats.count_message(seen=seen, hour=hour, ip=item.ip_hash, net=item.net_hash,
                            domain=item.domain, recipients=item.recipients, spf=item.spf,
                            dkim=item.dkim, dmarc=item.dmarc, bulk_signs=item.bulk_signs,
                            authenticated=item.authenticated)
        self._dirty.add(mailing)
        # Every key names this mailing now, even a band key of an unconfirmed
        # recall candidate: the newest owner wins, so a stored message is always
        # found again by its own fingerprint, and the candidate keeps its other bands.
        value = pack_index(mailing, hour)
        offset = 0
        for name, group in groups:
            self._added[name] += _refile(self._writes[name], group, olds, hours, offset, value)
            offset += len(group)
        if stats.size <= self._settings.representatives:
            self._keep_representative(mailing, representative(item.fingerprint, keys,
                                                              self._settings))
        if self._settings.mode == "recall":
            traces.keep_trace(txn, dbs.get(traces.DATABASE), mailing, item.trace, self._settings)
        return mailing

    def _bridge(self, roots: list[int], resembling: set[int], item: _Item, keys: IndexKeys,
                hour: int) -> int:
        """Return the mailing a message matching several mailings joins, merging only those
        whose representatives it resembles.

        Merging on any shared key would let a crafted chain of messages, each sharing
        a mega-shingle with the one before, walk a genuine mailing's text into a spam
        run's and glue the two: a complaint on the spam would then condemn the
        newsletter. A bridge must resemble each mailing's first members (the
        representatives) by the store's own rule; the other matches are refused, and
        every merge and refusal is recorded in ``merges`` for explanations.
        """
        reps = self._dbs["reps"]
        fit = [root for root in roots if root in resembling or bridges(
            self._txn.get(ID.pack(root), db=reps), item.fingerprint, keys, self._settings)]
        if len(fit) > 1:
            mailing = self._union(fit, hour)
        else:
            sizes = {root: getattr(self._stats_of(root), "size", 0) for root in roots}
            mailing = fit[0] if fit else min(roots, key=lambda r: (-sizes[r], r))
        for other in roots:
            if other != mailing:
                self._txn.put(ID.pack(mailing) + ID.pack(other),
                              pack_merge(hour, other in fit, item.key), db=self._dbs["merges"])
                self._added["merges"] += 1
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
            self._added["parent"] += 1
            theirs = self._txn.get(ID.pack(loser), db=reps_db)
            if theirs:
                self._txn.delete(ID.pack(loser), db=reps_db)
                mine = self._txn.get(ID.pack(winner), db=reps_db)
                entries = (unpack_reps(mine) if mine else []) + unpack_reps(theirs)
                self._txn.put(ID.pack(winner), bytes(theirs[:1]) + b"".join(
                    entries[:self._settings.representatives]), db=reps_db)
            traces.merge(self._txn, self._dbs.get(traces.DATABASE), loser, winner)
            self._batch["merges"] += 1
        self._dirty.add(winner)
        return winner

    def _keep_representative(self, mailing: int, entry: bytes) -> None:
        if not entry:
            return
        reps_db = self._dbs["reps"]
        mine = self._txn.get(ID.pack(mailing), db=reps_db)
        if not mine or len(unpack_reps(mine)) < self._settings.representatives:
            self._txn.put(ID.pack(mailing), (mine or reps_header(self._settings.mode)) + entry,
                          db=reps_db)

    def _count_ip(self, item: _Item, hour: int, *, clustered: bool) -> None:
        assert item.ip is not None
        counters = self._ips.get(item.ip)
        floor = self._floor
        if counters is None or counters.last_hour < floor:
            raw = self._txn.get(item.ip.encode(), db=self._dbs["ips"]) \
                if counters is None else None
            counters = IpCounters.unpack(raw) if raw else None
            if counters is None or counters.last_hour < floor:  # none, or expired
                counters = IpCounters(first_hour=hour)
                self._added["ips"] += 1
            self._ips[item.ip] = counters
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


def _meta_int(raw: bytes | None, default: int) -> int:
    if raw is None:
        return default
    version, value = _META_U64.unpack(raw)
    if version != RECORD_VERSION:
        raise StoreFormatError(f"meta record version {version} is unknown")
    return int(value)

