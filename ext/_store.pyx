# cython: language_level=3, embedsignature=True
"""The store's two hottest loops, compiled: retention's walk and the index probe.

Compiled twins of shingles.store.retention.walk_py and shingles.store.writer.probe_py
(tests/test_twins.py holds each equal to its twin). They make the same py-lmdb calls
in the same order, through its public API; what they save is the interpreter's work
around each call, most of a walk's step (bench/README.md, "The store's loops
compiled").
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.ref cimport PyObject
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport calloc, free

from shingles.errors import StoreFormatError

# An index record: u8 version, u64 mailing id, u32 hour, little-endian (layout.pack_index).
DEF INDEX_SIZE = 13


cdef inline uint32_t le32(const unsigned char *p) noexcept:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline uint64_t le64(const unsigned char *p) noexcept:
    return le32(p) | (<uint64_t>le32(p + 4) << 32)


# ---------------------------------------------------------------- the key filter
# The compiled twin of shingles.store.keyfilter.KeyFilterPy (tests/test_twins.py holds
# the two equal): the same bits set for the same keys.

DEF HASHES = 7  # bits a key sets, all in one 512-bit block: one cache line a key
DEF BITS_PER_KEY = 10


cdef inline uint64_t mix(uint64_t x) noexcept:
    # splitmix64's finaliser: index keys are hashes already, but a band key starts
    # with its band number, and a filter must not depend on how keys are made.
    x ^= x >> 30
    x *= <uint64_t>0xbf58476d1ce4e5b9
    x ^= x >> 27
    x *= <uint64_t>0x94d049bb133111eb
    x ^= x >> 31
    return x


cdef inline uint64_t fold(const unsigned char *p, Py_ssize_t n) noexcept:
    cdef uint64_t h = <uint64_t>n
    cdef Py_ssize_t i
    for i in range(n):
        h = ((h << 8) | (h >> 56)) ^ p[i]
    return h


cdef class KeyFilter:
    """A blocked Bloom filter of byte keys (see shingles.store.keyfilter.KeyFilterPy)."""

    cdef uint64_t *words
    cdef uint64_t blocks_mask
    cdef readonly Py_ssize_t capacity
    cdef readonly Py_ssize_t added

    def __cinit__(self, Py_ssize_t capacity):
        cdef uint64_t blocks = 1
        if capacity < 1:
            capacity = 1
        while blocks * 512 < <uint64_t>capacity * BITS_PER_KEY:
            blocks <<= 1
        self.words = <uint64_t *>calloc(blocks * 8, sizeof(uint64_t))
        if self.words == NULL:
            raise MemoryError()
        self.blocks_mask = blocks - 1
        self.capacity = capacity
        self.added = 0

    def __init__(self, Py_ssize_t capacity):
        """Size the filter for capacity keys (10 bits each, in 512-bit blocks, a power of
        two of them)."""

    def __dealloc__(self):
        free(self.words)

    @property
    def bits(self):
        """Return the filter's size in bits."""
        return (self.blocks_mask + 1) * 512

    cdef inline void put(self, const unsigned char *p, Py_ssize_t n) noexcept:
        cdef uint64_t h1 = mix(fold(p, n)), h2 = mix(h1 ^ <uint64_t>0x9e3779b97f4a7c15), bit
        cdef uint64_t *block = self.words + (h1 & self.blocks_mask) * 8
        cdef int i
        for i in range(HASHES):
            bit = (h2 >> (9 * i)) & 511
            block[bit >> 6] |= (<uint64_t>1) << (bit & 63)
        self.added += 1

    cdef inline bint check_and_put(self, const unsigned char *p, Py_ssize_t n) noexcept:
        # One hash and one cache line for both: the probe asks, then the batch writes it.
        cdef uint64_t h1 = mix(fold(p, n)), h2 = mix(h1 ^ <uint64_t>0x9e3779b97f4a7c15), bit
        cdef uint64_t *block = self.words + (h1 & self.blocks_mask) * 8
        cdef uint64_t mask
        cdef bint held = True
        cdef int i
        for i in range(HASHES):
            bit = (h2 >> (9 * i)) & 511
            mask = (<uint64_t>1) << (bit & 63)
            if not block[bit >> 6] & mask:
                held = False
                block[bit >> 6] |= mask
        if not held:
            self.added += 1
        return held

    cdef inline bint holds(self, const unsigned char *p, Py_ssize_t n) noexcept:
        cdef uint64_t h1 = mix(fold(p, n)), h2 = mix(h1 ^ <uint64_t>0x9e3779b97f4a7c15), bit
        cdef const uint64_t *block = self.words + (h1 & self.blocks_mask) * 8
        cdef int i
        for i in range(HASHES):
            bit = (h2 >> (9 * i)) & 511
            if not (block[bit >> 6] >> (bit & 63)) & 1:
                return False
        return True

    def add(self, bytes key not None):
        """Add a key."""
        self.put(<const unsigned char *>PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))

    def update(self, keys):
        """Add every key of an iterable of bytes."""
        cdef bytes key
        for item in keys:
            key = bytes(item)
            self.put(<const unsigned char *>PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))

    def check_and_add(self, key):
        """Return whether key may have been added before (False: it never was); add it."""
        cdef bytes raw = bytes(key)
        return self.check_and_put(<const unsigned char *>PyBytes_AS_STRING(raw),
                                  PyBytes_GET_SIZE(raw))

    def __contains__(self, key):
        """Return whether key may have been added (False: it never was)."""
        cdef bytes raw = bytes(key)
        return self.holds(<const unsigned char *>PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))


def walk(cursor, Py_ssize_t budget, Py_ssize_t hour_at, long long cutoff):
    """Return the (key, value) entries deleted by walking budget entries from the cursor
    (see shingles.store.retention.walk_py)."""
    value, step, key, delete, first = (cursor.value, cursor.next, cursor.key, cursor.delete,
                                       cursor.first)
    deleted = []
    cdef bytes raw
    cdef bint expired
    while budget > 0:
        budget -= 1
        raw = bytes(value())
        expired = (PyBytes_GET_SIZE(raw) >= hour_at + 4 and
                   le32(<const unsigned char *>PyBytes_AS_STRING(raw) + hour_at) < cutoff)
        if expired:
            deleted.append((key(), raw))
            delete()  # moves to the next entry
            if not (key() or first()):
                break
        elif not step() and not first():
            break
    return deleted


def probe(txn, db, dict pending, KeyFilter held, keys, list olds, list hours,
          long long floor):
    """Append the mailing id and hour each index key names to olds and hours
    (see shingles.store.writer.probe_py)."""
    get = txn.get
    cdef PyObject *found
    cdef const unsigned char *data
    cdef bytes name
    cdef uint64_t old
    cdef uint32_t hour
    for key in keys:
        found = PyDict_GetItem(pending, key)
        if found is not NULL:
            raw = <object>found
        else:
            name = bytes(key)
            if held is not None and not held.check_and_put(
                    <const unsigned char *>PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name)):
                raw = None  # never stored: no look-up, and the filter has it now
            else:
                raw = get(key, None, db)
        if raw is None:
            olds.append(0)
            hours.append(0)
            continue
        raw = bytes(raw)
        if PyBytes_GET_SIZE(raw) != INDEX_SIZE:
            raise StoreFormatError(f"index record of {PyBytes_GET_SIZE(raw)} bytes, "
                                   f"not {INDEX_SIZE}")
        data = <const unsigned char *>PyBytes_AS_STRING(raw)
        old, hour = le64(data + 1), le32(data + 9)
        if hour < floor:
            old = hour = 0
        olds.append(old)
        hours.append(hour)

