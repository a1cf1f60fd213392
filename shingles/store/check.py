"""``shingles store check``: walk every record of a store and say what is wrong.

Each record must decode by its database's layout (``Database.decode``); index
keys still inside the retention window must lead to a live mailing; the
union-find must be sound: every parent chain ends (no cycle) at a root, a
merged mailing keeps no statistics, and every id a root lists as merged into
it finds its way back to that root.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from shingles.errors import StoreFormatError
from shingles.store.cluster import ID
from shingles.store.layout import unpack_index

if TYPE_CHECKING:
    from shingles.store.reader import Store

__all__ = ["Finding", "check"]

#: Key lengths of the databases whose keys have a fixed layout.
_KEY_BYTES = {"stats": 8, "parent": 8, "children": 8, "reps": 8, "messages": 16,
              "members": 24}
_INDEXES = ("mega", "band", "imatch")
#: A parent chain longer than this is a cycle (merges halve nothing, but path
#: compression keeps real chains a step or two).
_MAX_CHAIN = 10_000


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing wrong in a store: the database, the record's key (hex), and what."""

    database: str
    key: str
    problem: str

    def to_json(self) -> dict[str, str]:
        """Return the finding as JSON-ready data."""
        return dataclasses.asdict(self)


def check(store: Store) -> Iterator[Finding]:
    """Yield what is wrong in store (nothing for a sound store), in one read transaction."""
    with store._read() as txn:
        dbs = store._dbs
        yield from _records(store, txn)
        try:  # the window as the last writer kept it (each run may set its own)
            cutoff = max(0, store._floor(txn))
        except (StoreFormatError, struct.error, ValueError):
            cutoff = 0  # a damaged meta record: told by the store's own checks
        yield from _union_find(txn, dbs, cutoff)
        for name in _INDEXES:
            for key, value in txn.cursor(db=dbs[name]):
                try:
                    mailing, hour = unpack_index(value)
                except StoreFormatError:
                    continue  # told above
                if hour >= cutoff and _live_root(txn, dbs, mailing) is None:
                    yield Finding(name, bytes(key).hex(), f"names mailing {mailing}, which "
                                  "is gone, while the key is inside the retention window")


def _records(store: Store, txn: Any) -> Iterator[Finding]:
    for name, database in store.databases.items():
        db = store._dbs.get(name)
        if db is None:
            continue
        size = _KEY_BYTES.get(name)
        for key, value in _dups(txn, db):
            if size is not None and len(key) != size:
                yield Finding(name, bytes(key).hex(), f"key of {len(key)} bytes, not {size}")
            if database.decode is not None:
                try:
                    database.decode(bytes(value))
                except StoreFormatError as exc:
                    yield Finding(name, bytes(key).hex(), str(exc).partition(" (")[0]
                                  .partition("; run")[0])


def _dups(txn: Any, db: Any) -> Iterator[tuple[bytes, bytes]]:
    cursor = txn.cursor(db=db)
    if cursor.first():
        yield from cursor.iternext()  # every value of every key, dupsort or not


def _live_root(txn: Any, dbs: dict[str, Any], mailing: int) -> int | None:
    root = _find(txn, dbs, mailing)
    return root if root >= 0 and txn.get(ID.pack(root), db=dbs["stats"]) is not None else None


def _union_find(txn: Any, dbs: dict[str, Any], cutoff: int) -> Iterator[Finding]:
    for key, value in txn.cursor(db=dbs["parent"]):
        try:
            child, (parent, hour) = ID.unpack(key)[0], unpack_index(value)
        except (StoreFormatError, struct.error):
            continue  # told above
        if txn.get(key, db=dbs["stats"]) is not None:
            yield Finding("parent", bytes(key).hex(), f"mailing {child} was merged into "
                          f"{parent} but still has its own statistics")
        node, seen = parent, {child}
        while True:
            if node in seen or len(seen) > _MAX_CHAIN:
                yield Finding("parent", bytes(key).hex(), f"the parent chain of mailing "
                              f"{child} goes round in a cycle")
                break
            seen.add(node)
            raw = txn.get(ID.pack(node), db=dbs["parent"])
            if raw is None:
                if hour >= cutoff and txn.get(ID.pack(node), db=dbs["stats"]) is None:
                    yield Finding("parent", bytes(key).hex(), f"mailing {child} leads to "
                                  f"root {node}, which has no statistics")
                break
            try:
                node = unpack_index(raw)[0]
            except StoreFormatError:
                break
    for key, value in _dups(txn, dbs["children"]):
        if len(key) != 8 or len(value) != 8:
            continue  # told above
        root, child = ID.unpack(key)[0], ID.unpack(value)[0]
        end = _find(txn, dbs, child)
        # A chain that ends at an id without statistics was cut by retention: the
        # links of an old merge expire before the list of the root that lives on
        # (that list goes with the root; the messages it led to went first).
        cut = end >= 0 and txn.get(ID.pack(end), db=dbs["stats"]) is None
        if end != root and not cut:
            yield Finding("children", bytes(key).hex(), f"lists mailing {child} as merged "
                          f"into {root}, but its parent chain does not lead there")


def _find(txn: Any, dbs: dict[str, Any], mailing: int) -> int:
    """Return the root of mailing's parent chain, -1 when the chain is damaged or a cycle."""
    node = mailing
    for _ in range(_MAX_CHAIN):
        raw = txn.get(ID.pack(node), db=dbs["parent"])
        if raw is None:
            return node
        try:
            node = unpack_index(raw)[0]
        except StoreFormatError:
            return -1
    return -1
