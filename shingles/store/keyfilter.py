"""A Bloom filter of the index's keys, so filing a message skips the look-ups of keys
the store never held.

Most keys a message brings are new: on the bench stream 82% of the index probes
found nothing (16% were the batch's own writes, 2% stored entries), and each cost
an LMDB look-up of ~1 us. A filter of every stored key answers "never held" for
~99% of them with no look-up at all (bench/README.md, "Index keys never held").

A filter belongs to a writable Store, whose writer lock makes its sessions the
only writers: it is built from the index once a session has filed enough to pay
for reading every key (``BUILD_EVERY``), takes each key the probe finds it never
held as it answers (``check_and_add``: the batch writes every key it probes, and
the block is in the cache then), and is built again once it has taken as many keys
as it was sized for (``ROOM`` times what its database held).
Retention's deletions, and the keys of a batch that never commits, stay in it as
false positives until then. A filter that says "held" is only a hint (the look-up
decides), so it can never hide a key.

``KeyFilterPy`` is the plain-Python reference; the compiled twin is
``shingles._store.KeyFilter``. Only the compiled one is used: in pure Python a
check costs as much as the look-up it saves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shingles._lean import store_loops

__all__ = ["AVAILABLE", "BUILD_EVERY", "INDEXES", "ROOM", "SLACK", "KeyFilterPy", "build",
           "messages_to_build"]

#: Whether filters are kept: only where the compiled filter is built.
AVAILABLE = store_loops is not None

#: The index databases a filter is kept for.
INDEXES = ("mega", "imatch", "band")
#: A session builds the filters once it has filed one message for this many stored
#: index keys: reading a key to build costs ~0.1 us, a message saves ~10 us.
BUILD_EVERY = 100
#: A filter is sized for this many times what its database held when it was built (and
#: SLACK more), and rebuilt once it has taken that many keys: each rebuild reads every
#: key, so the larger the room, the less it costs a message (~0.15 us a key read, over
#: the (ROOM - 1) x held keys added before the next).
ROOM = 4
SLACK = 1024
_HASHES = 7  # bits a key sets, in one block: ~1% false positives at 10 bits a key
_BITS_PER_KEY = 10
_M64 = (1 << 64) - 1


def _mix(x: int) -> int:
    # splitmix64's finaliser: index keys are hashes already, but a band key starts
    # with its band number, and a filter must not depend on how keys are made.
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _positions(key: bytes, blocks_mask: int) -> list[int]:
    """Return the bits key sets: 7 in one 512-bit block (one cache line a key)."""
    h = len(key)
    for byte in key:
        h = (((h << 8) | (h >> 56)) & _M64) ^ byte
    h1 = _mix(h)
    h2 = _mix(h1 ^ 0x9E3779B97F4A7C15)
    base = (h1 & blocks_mask) * 512
    return [base + ((h2 >> (9 * i)) & 511) for i in range(_HASHES)]


class KeyFilterPy:
    """A blocked Bloom filter of byte keys: ``key in f`` is False only for keys never added.

    Args:
        capacity: The keys it is sized for (10 bits each, in 512-bit blocks, a power of
            two of them).
    """

    def __init__(self, capacity: int) -> None:
        blocks = 1
        while blocks * 512 < max(capacity, 1) * _BITS_PER_KEY:
            blocks <<= 1
        self._bits = bytearray(blocks * 64)
        self._blocks_mask = blocks - 1
        self.capacity = max(capacity, 1)
        self.added = 0

    @property
    def bits(self) -> int:
        """Return the filter's size in bits."""
        return (self._blocks_mask + 1) * 512

    def add(self, key: bytes) -> None:
        """Add a key."""
        for bit in _positions(key, self._blocks_mask):
            self._bits[bit >> 3] |= 1 << (bit & 7)
        self.added += 1

    def update(self, keys: Iterable[bytes]) -> None:
        """Add every key of an iterable of bytes."""
        for key in keys:
            self.add(bytes(key))

    def check_and_add(self, key: bytes) -> bool:
        """Return whether key may have been added before (False: it never was); add it."""
        held = key in self
        if not held:
            self.add(key)
        return held

    def __contains__(self, key: object) -> bool:
        """Return whether key may have been added (False: it never was)."""
        return all(self._bits[bit >> 3] >> (bit & 7) & 1
                   for bit in _positions(bytes(key), self._blocks_mask))  # type: ignore[call-overload]


def messages_to_build(txn: Any, dbs: dict[str, Any]) -> int:
    """Return how many messages a session must have filed before filters of the index
    databases in dbs, as they stand, are worth building."""
    entries = sum(txn.stat(dbs[name])["entries"] for name in INDEXES if name in dbs)
    return -(-entries // BUILD_EVERY)


def build(txn: Any, dbs: dict[str, Any]) -> dict[str, Any]:
    """Return a filter of every key of each index database in dbs, sized for ROOM times
    what it holds (AVAILABLE must be true)."""
    assert store_loops is not None
    filters = {}
    for name in INDEXES:
        if name in dbs:
            held = store_loops.KeyFilter(ROOM * txn.stat(dbs[name])["entries"] + SLACK)
            held.update(txn.cursor(db=dbs[name]).iternext(keys=True, values=False))
            filters[name] = held
    return filters
