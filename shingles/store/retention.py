"""Retention: forget what the store's clock has left behind, exactly for readers and a
bounded step per batch on disk.

Every swept database keeps, in each value, the u32 hour of the record's last
change (``Database.hour_at`` says where). A record whose hour is below the
cutoff (the clock's hour less the window) is expired: every read path treats it
as absent at once (``live``), so the store answers for exactly the window it
promises, and a resumed run sees what a clean one sees whatever the batch
boundaries. On disk, at each commit the writer walks a slice of every swept
database from where the previous commit stopped (the position is kept in meta
under ``sweep/<name>``) and deletes the expired entries; the slice is a few times
what the batch added, so the walk laps the database faster than it grows.

An expired message record leaves a tombstone (``layout.pack_tombstone``) for one
more window: a rerun or a resumed run within it finds the message already seen
and counts nothing twice; older input is new to a store that has forgotten it.
"""

from __future__ import annotations

import struct
from typing import Any

from shingles._lean import store_loops
from shingles.store import cluster
from shingles.store.cluster import ID
from shingles.store.layout import (
    RECORD_VERSION,
    is_tombstone,
    pack_tombstone,
    unpack_tombstone,
)

__all__ = ["FORGOTTEN", "MIN_WALK", "SWEEP_FACTOR", "Arrears", "count_tombstones", "cutoff", "live",
           "message_state", "sweep", "sweep_step", "tombstones", "walk_py", "window"]

_HOUR = 3600
_U32LE = struct.Struct("<I")
_META_U64 = struct.Struct("<Bq")
_MAILING = struct.Struct("<Q")  # a message record's mailing id, after its version byte
_MESSAGE_HOUR_AT = 9
#: Each walk visits this many entries of a swept database per entry added to it
#: since the last walk, never more than the database holds: an expired entry waits
#: on disk at most 1/SWEEP_FACTOR of a window (bench/README.md, "retention's walk":
#: 2 kept 1.45 windows of messages, 8 cost a sixth of the whole path).
SWEEP_FACTOR = 4
#: A database is walked at a commit once its walk would visit at least this many
#: entries; smaller commits carry their additions to the next (see Arrears).
MIN_WALK = 256
#: Steps every walk takes beyond its share, so that a database whose entries are
#: refreshed more than added still laps.
_EXTRA_STEPS = 64
#: Meta record counting the tombstones in ``messages`` (``store info`` shows messages
#: without them).
FORGOTTEN = b"forgotten"
#: No cutoff: nothing expires (retention off, or no clock yet).
_NONE = -1


class Arrears:
    """The entries added to each swept database since its last walk, carried from
    commit to commit of one session.

    A walk has a set-up cost in every database (find the mark, keep it), and a
    server commits a group every few milliseconds with a handful of messages in it:
    walking at each one took ~770 cursor steps a message (12 databases, 64 steps
    each at least), about as much as judging it. So a commit walks a database
    once what was added to it since its last walk asks for MIN_WALK steps, and a
    session's last commit walks whatever is owed. A session that ends with nothing
    to commit leaves at most MIN_WALK / SWEEP_FACTOR entries a database unwalked;
    readers never see an expired record whatever the walk's lag.
    """

    def __init__(self) -> None:
        self._owed: dict[str, int] = {}

    def plan(self, added: dict[str, int], last: bool = False) -> dict[str, int]:
        """Return the steps each database's walk takes at this commit (0: none), given
        what the commit added to it; last: the session's last commit."""
        plan = {}
        for name, count in added.items():
            steps = SWEEP_FACTOR * (self._owed.get(name, 0) + count)
            plan[name] = steps + _EXTRA_STEPS if steps >= MIN_WALK or (last and steps) else 0
        return plan

    def settle(self, added: dict[str, int], plan: dict[str, int]) -> None:
        """Record a committed plan: a walked database owes nothing, the others carry
        what the commit added."""
        for name, count in added.items():
            self._owed[name] = 0 if plan.get(name) else self._owed.get(name, 0) + count


def window(retention_days: float) -> int:
    """Return the window in hours (0: retention off)."""
    return int(retention_days * 24) if retention_days else 0


def cutoff(clock: int, retention_days: float) -> int:
    """Return the hour below which records are expired at clock (unix seconds), or -1
    when nothing expires."""
    if not retention_days or not clock:
        return _NONE
    return clock // _HOUR - window(retention_days)


def live(value: bytes, hour_at: int | None, floor: int) -> bool:
    """Return whether a record of a database keeping its hour at hour_at is inside the
    window (records of databases without an hour always are)."""
    if hour_at is None or floor < 0:
        return True
    if len(value) < hour_at + 4:
        return True  # no hour to judge by: `store check` tells
    return _U32LE.unpack_from(value, hour_at)[0] >= floor


def message_state(value: bytes | None, floor: int, hours: int) -> str:
    """Return "stored", "forgotten" (a tombstone, or a record expired less than one
    more window ago) or "absent" for a messages record at cutoff floor; hours is the
    window (a tombstone lasts as long)."""
    if value is None:
        return "absent"
    if is_tombstone(value):
        return "forgotten" if unpack_tombstone(value) >= floor else "absent"
    if floor < 0:
        return "stored"
    hour = _U32LE.unpack_from(value, _MESSAGE_HOUR_AT)[0]
    if hour >= floor:
        return "stored"
    return "forgotten" if hour + hours >= floor else "absent"


def _cursor_at(txn: Any, db: Any, meta: Any, mark: bytes, budget: int) -> tuple[Any, int]:
    """Return a cursor of db where the last walk stopped (the key kept in meta under
    mark, version byte first; the top if that key and all after it are gone), and
    budget capped at db's entries (0 when db is empty)."""
    budget = min(budget, txn.stat(db)["entries"])
    start = txn.get(mark, db=meta)
    cursor = txn.cursor(db=db)
    if not (cursor.set_range(bytes(start[1:])) if start else cursor.first()) \
            and not cursor.first():
        budget = 0
    return cursor, budget


def _leave(txn: Any, meta: Any, mark: bytes, cursor: Any) -> None:
    """Keep where the next walk starts: the key the cursor is on (none past the end:
    the next pass starts at the top)."""
    key = cursor.key()
    if key:
        txn.put(mark, bytes([RECORD_VERSION]) + key, db=meta)
    else:
        txn.delete(mark, db=meta)


def _go_on(cursor: Any) -> bool:
    """Return whether the cursor is on an entry after a step or a delete, going round to
    the top past the end (within one walk's budget a key may come twice)."""
    return bool(cursor.key()) or cursor.first()


def sweep_step(txn: Any, db: Any, meta: Any, mark: bytes, budget: int, hour_at: int,
               cutoff: int) -> list[tuple[bytes, bytes]]:
    """Delete the expired entries among budget entries of db (at most all of them) from
    where the last sweep stopped, and move the mark; return the deleted (key, value)
    pairs.

    An entry is expired when the u32 hour at offset hour_at of its value is below
    cutoff (a value too short to hold one is kept). The walk deletes at the
    cursor: no key is looked up again, and only expired entries are copied out
    (bench/README.md, "The walk deletes at the cursor").
    """
    cursor, budget = _cursor_at(txn, db, meta, mark, budget)
    deleted = _walk(cursor, budget, hour_at, cutoff)
    _leave(txn, meta, mark, cursor)
    return deleted


def walk_py(cursor: Any, budget: int, hour_at: int, cutoff: int) -> list[tuple[bytes, bytes]]:
    """Return the (key, value) entries deleted by walking budget entries from where the
    cursor is (going round to the top past the end), deleting those whose u32 hour at
    hour_at is below cutoff; the cursor is left where the next walk starts.

    The hot loop of retention: no call but LMDB's per entry. Compiled as
    shingles._store.walk.
    """
    deleted: list[tuple[bytes, bytes]] = []
    unpack = _U32LE.unpack_from
    while budget > 0:
        budget -= 1
        raw = cursor.value()
        try:
            expired = unpack(raw, hour_at)[0] < cutoff
        except struct.error:  # too short to hold its hour: kept (`store check` tells)
            expired = False
        if expired:
            deleted.append((cursor.key(), raw))
            cursor.delete()  # moves to the next entry
            if not _go_on(cursor):
                break
        elif not cursor.next() and not cursor.first():
            break
    return deleted


_walk = store_loops.walk if store_loops is not None else walk_py


def _sweep_messages(txn: Any, dbs: dict[str, Any], cutoff: int, hours: int,
                    budget: int) -> int:
    """Turn the expired message records of one walk's slice into tombstones and drop
    the tombstones whose window is over; return how many messages expired."""
    messages, members, meta = dbs["messages"], dbs["members"], dbs["meta"]
    cursor, budget = _cursor_at(txn, messages, meta, b"sweep/messages", budget)
    expired = change = 0
    unpack = _U32LE.unpack_from
    while budget > 0:
        budget -= 1
        value = cursor.value()
        drop = False
        if is_tombstone(value):
            drop = unpack_tombstone(value) < cutoff
            change -= drop
        elif len(value) >= _MESSAGE_HOUR_AT + 4:  # else unreadable: `store check` tells
            hour = unpack(value, _MESSAGE_HOUR_AT)[0]
            if hour < cutoff:
                expired += 1
                key = cursor.key()
                # A message's membership entry was written with it, with the same
                # hour, under the mailing its record names: it goes with the message,
                # found by key rather than by a walk of its own (the walk of members
                # only picks up strays).
                mailing = _MAILING.unpack_from(value, 1)[0]
                if mailing:
                    txn.delete(ID.pack(mailing) + key, db=members)
                if hour + hours >= cutoff:
                    cursor.put(key, pack_tombstone(hour + hours))  # stays on key
                    change += 1
                else:  # its tombstone's window is over too (a long pause, a jump of the clock)
                    drop = True
        if drop:  # as in sweep_step
            cursor.delete()
            if not _go_on(cursor):
                break
        elif not cursor.next() and not cursor.first():
            break
    _leave(txn, meta, b"sweep/messages", cursor)
    if change:
        count_tombstones(txn, meta, change)
    return expired


def count_tombstones(txn: Any, meta: Any, change: int) -> None:
    """Add change to the count of tombstones kept in meta."""
    raw = txn.get(FORGOTTEN, db=meta)
    count = _META_U64.unpack(raw)[1] if raw is not None else 0
    txn.put(FORGOTTEN, _META_U64.pack(RECORD_VERSION, max(0, count + change)), db=meta)


def tombstones(txn: Any, meta: Any) -> int:
    """Return the count of tombstones kept in meta."""
    raw = txn.get(FORGOTTEN, db=meta)
    return int(_META_U64.unpack(raw)[1]) if raw is not None else 0


def sweep(txn: Any, dbs: dict[str, Any], name: str, hour_at: int, cutoff: int,
          budget: int, hours: int = 0) -> int:
    """Run one sweep step over database name; return how many entries it dropped
    (for messages: how many expired, leaving tombstones; hours is the window).

    An expired mailing also takes its representatives and its list of merged
    ids with it (their own records carry no hour).
    """
    if name == "messages":
        return _sweep_messages(txn, dbs, cutoff, hours, budget)
    deleted = sweep_step(txn, dbs[name], dbs["meta"], b"sweep/" + name.encode(), budget,
                         hour_at, cutoff)
    if name == "stats":
        for key, _ in deleted:
            txn.delete(key, db=dbs["reps"])
            if "traces" in dbs:  # shingles.store.traces, when the store uses them
                txn.delete(key, db=dbs["traces"])
            cluster.drop_children(txn, dbs["children"], ID.unpack(key)[0])
    return len(deleted)
