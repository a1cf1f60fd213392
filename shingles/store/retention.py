"""Retention: forget what the store's clock has left behind, a bounded step per batch.

Every swept database keeps, in each value, the u32 hour of the record's last
change (``Database.hour_at`` says where). At each commit the writer walks a
slice of every swept database from where the previous commit stopped (the
position is kept in meta under ``sweep/<name>``), deletes the entries older
than the window, and moves on; the slice is a little larger than what the
batch added, so the walk laps the database faster than it grows.
"""

from __future__ import annotations

import itertools
import struct
from typing import Any

from shingles.store import cluster
from shingles.store.cluster import ID
from shingles.store.layout import RECORD_VERSION

__all__ = ["sweep", "sweep_step"]

_U32LE = struct.Struct("<I")
_MAILING = struct.Struct("<Q")  # a message record's mailing id, after its version byte


def sweep_step(txn: Any, db: Any, meta: Any, mark: bytes, budget: int, hour_at: int,
               cutoff: int) -> list[tuple[bytes, bytes]]:
    """Delete the expired entries among budget entries of db from where the last sweep
    stopped; return the deleted (key, value) pairs.

    An entry is expired when the u32 hour at offset hour_at of its value is below
    cutoff. The position is kept in meta under mark (version byte + next key), so
    consecutive calls walk db round and round; past the end the walk goes round
    once more within the same call.
    """
    start = txn.get(mark, db=meta)
    cursor = txn.cursor(db=db)
    if not (cursor.set_range(bytes(start[1:])) if start else cursor.first()):
        cursor.first()  # the mark's key and all after it are gone: go round
    seen = list(itertools.islice(cursor.iternext(), budget))
    if len(seen) < budget and cursor.first():  # past the end: go round once more
        seen += itertools.islice(cursor.iternext(), budget - len(seen))
    unpack = _U32LE.unpack_from
    try:
        expired = [(key, value) for key, value in seen if unpack(value, hour_at)[0] < cutoff]
    except struct.error:  # a value too short to hold its hour: read each one, keep those
        end = hour_at + 4
        expired = [(key, value) for key, value in seen
                   if len(value) >= end and unpack(value, hour_at)[0] < cutoff]
    if cursor.key() and cursor.next():
        txn.put(mark, bytes([RECORD_VERSION]) + cursor.key(), db=meta)
    else:
        txn.delete(mark, db=meta)  # reached the end: the next pass starts at the top
    # A small database may list a key twice: delete it once.
    return [(key, value) for key, value in expired if txn.delete(key, db=db)]


def sweep(txn: Any, dbs: dict[str, Any], name: str, hour_at: int, cutoff: int,
          budget: int) -> int:
    """Run one sweep step over database name; return how many entries it dropped.

    An expired mailing also takes its representatives and its list of merged
    ids with it (their own records carry no hour).
    """
    deleted = sweep_step(txn, dbs[name], dbs["meta"], b"sweep/" + name.encode(), budget,
                         hour_at, cutoff)
    if name == "stats":
        for key, _ in deleted:
            txn.delete(key, db=dbs["reps"])
            cluster.drop_children(txn, dbs["children"], ID.unpack(key)[0])
    elif name == "messages":
        # A message's membership entry was written with it, with the same hour, under
        # the mailing its record names: it goes with the message, found by key rather
        # than by a walk of its own (the walk of members only picks up strays).
        members = dbs["members"]
        for key, value in deleted:
            mailing = _MAILING.unpack_from(value, 1)[0]
            if mailing:
                txn.delete(ID.pack(mailing) + key, db=members)
    return len(deleted)
