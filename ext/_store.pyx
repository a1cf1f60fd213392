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

from shingles.errors import StoreFormatError

# An index record: u8 version, u64 mailing id, u32 hour, little-endian (layout.pack_index).
DEF INDEX_SIZE = 13


cdef inline uint32_t le32(const unsigned char *p) noexcept:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline uint64_t le64(const unsigned char *p) noexcept:
    return le32(p) | (<uint64_t>le32(p + 4) << 32)


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


def probe(txn, db, dict pending, keys, list olds, list hours, long long floor):
    """Append the mailing id and hour each index key names to olds and hours
    (see shingles.store.writer.probe_py)."""
    get = txn.get
    cdef PyObject *found
    cdef const unsigned char *data
    cdef uint64_t old
    cdef uint32_t hour
    for key in keys:
        found = PyDict_GetItem(pending, key)
        raw = <object>found if found is not NULL else get(key, None, db)
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
