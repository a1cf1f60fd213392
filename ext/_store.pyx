# cython: language_level=3, embedsignature=True
"""The store's hottest loops, compiled: retention's walk, the index probe, the key
filter and the sort of a batch's writes.

Compiled twins of shingles.store.retention.walk_py, shingles.store.writer.probe_py,
shingles.store.keyfilter.KeyFilterPy and shingles.store.writer.sorted_items_py
(tests/test_twins.py holds each equal to its twin). The walk and the probe make the
same py-lmdb calls in the same order, through its public API; what they save is the
interpreter's work around each call, most of a walk's step (bench/README.md, "The
store's loops compiled").
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem, PyDict_Next
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport PyObject, Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, qsort
from libc.string cimport memcmp, memset

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



# ---------------------------------------------------------------- the batch's writes in key order

cdef struct Entry:
    uint64_t prefix  # the key's first 8 bytes, big-endian, zero-padded: most keys differ there
    PyObject *key
    PyObject *value


cdef inline bint after(const Entry *x, const Entry *y) noexcept:
    """Return whether x's key sorts after y's (bytes order, as LMDB's default)."""
    cdef Py_ssize_t n, m
    cdef int c
    if x.prefix != y.prefix:
        return x.prefix > y.prefix
    n, m = PyBytes_GET_SIZE(<object>x.key), PyBytes_GET_SIZE(<object>y.key)
    c = memcmp(PyBytes_AS_STRING(<object>x.key), PyBytes_AS_STRING(<object>y.key),
               n if n < m else m)
    return c > 0 if c else n > m


# qsort's type says nogil; compare only reads bytes objects the dict keeps alive.
ctypedef int (*Compare)(const void *, const void *) noexcept nogil


cdef int compare(const void *x, const void *y) noexcept:
    return after(<const Entry *>x, <const Entry *>y) - after(<const Entry *>y, <const Entry *>x)


DEF RADIX_BITS = 11  # six passes cover the 64-bit prefix


def sorted_items(dict writes not None):
    """Return the (key, value) items of a dict of bytes keys in key order (see
    shingles.store.writer.sorted_items_py)."""
    cdef Py_ssize_t n = len(writes), pos = 0, i = 0, j, size, start, bucket
    cdef Py_ssize_t counts[1 << RADIX_BITS]
    cdef PyObject *key
    cdef PyObject *value
    cdef const unsigned char *p
    cdef uint64_t prefix
    cdef int shift
    cdef Entry *entries = <Entry *>malloc(n * sizeof(Entry) + 1)
    cdef Entry *spare = <Entry *>malloc(n * sizeof(Entry) + 1)
    try:
        if entries == NULL or spare == NULL:
            raise MemoryError()
        while PyDict_Next(writes, &pos, &key, &value):
            if not PyBytes_CheckExact(<object>key):
                raise TypeError(f"keys must be bytes, not {type(<object>key).__name__}")
            p = <const unsigned char *>PyBytes_AS_STRING(<object>key)
            size = PyBytes_GET_SIZE(<object>key)
            prefix = 0
            for j in range(8):
                prefix = (prefix << 8) | (p[j] if j < size else 0)
            entries[i].prefix, entries[i].key, entries[i].value = prefix, key, value
            i += 1
        # Least significant digit first, each pass stable: index keys are hashes, so
        # this beats comparing (timsort over the bytes objects, a cache miss a compare).
        for shift in range(0, 64, RADIX_BITS):
            memset(counts, 0, sizeof(counts))
            for i in range(n):
                counts[(entries[i].prefix >> shift) & ((1 << RADIX_BITS) - 1)] += 1
            start = 0
            for bucket in range(1 << RADIX_BITS):
                start, counts[bucket] = start + counts[bucket], start
            for i in range(n):
                bucket = (entries[i].prefix >> shift) & ((1 << RADIX_BITS) - 1)
                spare[counts[bucket]] = entries[i]
                counts[bucket] += 1
            entries, spare = spare, entries
        # Keys sharing their first 8 bytes (members: a mailing id first) by the rest.
        start = 0
        for i in range(1, n + 1):
            if i == n or entries[i].prefix != entries[start].prefix:
                if i - start > 1:
                    qsort(entries + start, i - start, sizeof(Entry), <Compare>compare)
                start = i
        out = PyList_New(n)
        for i in range(n):
            item = PyTuple_New(2)
            Py_INCREF(<object>entries[i].key)
            PyTuple_SET_ITEM(item, 0, <object>entries[i].key)
            Py_INCREF(<object>entries[i].value)
            PyTuple_SET_ITEM(item, 1, <object>entries[i].value)
            Py_INCREF(item)
            PyList_SET_ITEM(out, i, item)
        return out
    finally:
        free(entries)
        free(spare)
