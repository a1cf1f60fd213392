"""Union-find over mailing ids, kept in two LMDB databases.

When one message matches several mailings they become one: the smaller ones
get a parent link to the survivor. ``find`` follows links to the root and
points every link it passed straight at the root (path compression), so
look-ups stay a step or two however many merges happened. ``children`` keeps,
per root, the ids merged into it, so every message of a mailing can be found
without scanning.

Parent values are index records (``records.pack_index``): the parent id and
the hour of the merge, which retention compares with its window. Children
are a dupsort database of 8-byte big-endian ids.
"""

from __future__ import annotations

import struct
from typing import Any

from shingles.store.layout import pack_index, unpack_index

__all__ = ["ID", "drop_children", "find", "link", "merged_ids"]

#: Mailing ids as LMDB keys: big-endian, so cursors walk them in id order.
ID = struct.Struct(">Q")


def find(txn: Any, parent_db: Any, mailing: int, *, compress: bool = True,
         floor: int = -1) -> int:
    """Return the root of mailing's set; with compress, re-point the path at the root.

    Args:
        txn: An LMDB transaction (a write one when compress is true).
        parent_db: The parent-link database.
        mailing: Any mailing id, root or merged.
        compress: Rewrite the links passed so the next find is one step.
        floor: Links older than this hour have expired (retention): the walk stops
            before them, whether the sweep has removed them yet or not.
    """
    path: list[tuple[bytes, int]] = []
    node = mailing
    while True:
        raw = txn.get(ID.pack(node), db=parent_db)
        if raw is None:
            break
        parent, hour = unpack_index(raw)
        if hour < floor:
            break
        path.append((ID.pack(node), hour))
        node = parent
    if compress and len(path) > 1:
        # The last link already points at the root; each keeps its own merge
        # hour, so retention drops it no sooner than the index keys that use it.
        for key, hour in path[:-1]:
            txn.put(key, pack_index(node, hour), db=parent_db)
    return node


def link(txn: Any, parent_db: Any, children_db: Any, child: int, root: int, hour: int) -> None:
    """Make root the parent of the root child, and hand child's merged ids to root."""
    txn.put(ID.pack(child), pack_index(root, hour), db=parent_db)
    root_key = ID.pack(root)
    moved = merged_ids(txn, children_db, child)
    drop_children(txn, children_db, child)
    for mailing in (child, *moved):
        txn.put(root_key, ID.pack(mailing), db=children_db, dupdata=True)


def merged_ids(txn: Any, children_db: Any, root: int) -> list[int]:
    """Return the ids merged into root (not root itself)."""
    cursor = txn.cursor(db=children_db)
    if not cursor.set_key(ID.pack(root)):
        return []
    return [ID.unpack(value)[0] for value in cursor.iternext_dup(keys=False)]


def drop_children(txn: Any, children_db: Any, root: int) -> None:
    """Forget the ids merged into root (when root moves on or expires)."""
    txn.delete(ID.pack(root), db=children_db)
