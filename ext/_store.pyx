# cython: boundscheck=False, wraparound=False
"""The store's LMDB binding and its hot loops, compiled (shingles.store.writer has Python twins).

The binding (lmdb_binding.pxi) wraps the vendored liblmdb; the functions below
run inside its write transactions, where each LMDB call costs a fraction of a
microsecond and a Python-level call through any binding costs more than that:
filing a message reads and writes ~16 index keys, and retention looks at about
two entries per entry written.

Index values are records.pack_index's ``<BQI`` (version, mailing id, hour);
the twins in session.py read them with struct, and a test holds both equal.
"""

from libc.stdint cimport uint32_t, uint64_t

from liblmdb cimport *

include "lmdb_binding.pxi"

DEF INDEX_SIZE = 13  # <BQI


cdef inline uint32_t _u32le(const unsigned char *p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline uint64_t _u64le(const unsigned char *p) noexcept nogil:
    return _u32le(p) | (<uint64_t>_u32le(p + 4) << 32)


cdef inline int _index_of(MDB_val *v, uint64_t *mailing, uint32_t *hour) except -1:
    if v.mv_size != INDEX_SIZE:
        raise CorruptedError(f"an index record has {v.mv_size} bytes, not {INDEX_SIZE}")
    mailing[0] = _u64le(<const unsigned char *>v.mv_data + 1)
    hour[0] = _u32le(<const unsigned char *>v.mv_data + 9)
    return 0


def probe(Transaction txn not None, _Database db not None, keys, list olds not None,
          list hours not None):
    """Append the mailing id and hour each index key names to olds and hours (0, 0: none)."""
    txn._alive()
    cdef MDB_val k, v
    cdef int rc
    cdef uint64_t mailing = 0
    cdef uint32_t hour = 0
    for key in keys:
        _val(&k, <bytes?>key)
        rc = mdb_get(txn.txn, db.dbi, &k, &v)
        if rc == MDB_NOTFOUND:
            olds.append(0)
            hours.append(0)
            continue
        _check(rc, "mdb_get")
        _index_of(&v, &mailing, &hour)
        olds.append(mailing)
        hours.append(hour)


def refile(Transaction txn not None, _Database db not None, keys, list olds not None,
           list hours not None, Py_ssize_t offset, bytes value not None):
    """Write value (a packed index record) under each key whose olds/hours entry
    (from offset on) differs from it; return how many of them were new keys."""
    txn._alive()
    cdef MDB_val k, v
    cdef uint64_t mailing = 0
    cdef uint32_t hour = 0
    cdef Py_ssize_t i = offset, new = 0
    _val(&v, value)
    _index_of(&v, &mailing, &hour)
    for key in keys:
        old = <uint64_t>olds[i]
        if old != mailing or <uint32_t>hours[i] != hour:
            _val(&k, <bytes?>key)
            _check(mdb_put(txn.txn, db.dbi, &k, &v, 0), "mdb_put")
            txn.mutations += 1
            new += old == 0
        i += 1
    return new


def sweep(Transaction txn not None, _Database db not None, _Database meta not None,
          bytes mark not None, Py_ssize_t budget, Py_ssize_t hour_at, long long cutoff,
          int version):
    """Delete the expired entries among budget entries of db from where the last sweep
    stopped; return the deleted keys.

    An entry is expired when the u32 hour at offset hour_at of its value is below
    cutoff. The position is kept in meta under mark (version byte + next key), so
    consecutive calls walk db round and round; past the end the walk goes round
    once more within the same call.
    """
    txn._alive()
    cdef MDB_cursor *cur = NULL
    cdef MDB_val k, v, mk, mv
    cdef Py_ssize_t seen = 0
    cdef bint wrapped = False, positioned
    cdef list expired = [], deleted = []
    cdef bytes after = None
    cdef unsigned char head = <unsigned char>version
    _check(mdb_cursor_open(txn.txn, db.dbi, &cur), "mdb_cursor_open")
    try:
        _val(&mk, mark)
        positioned = False
        if _found(mdb_get(txn.txn, meta.dbi, &mk, &mv), "mdb_get") and mv.mv_size > 1:
            k.mv_size = mv.mv_size - 1
            k.mv_data = <char *>mv.mv_data + 1
            positioned = _found(mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE), "mdb_cursor_get")
        if not positioned:  # no mark, or its key and all after it are gone
            positioned = _found(mdb_cursor_get(cur, &k, &v, MDB_FIRST), "mdb_cursor_get")
        while True:
            while positioned:
                if (v.mv_size >= <size_t>(hour_at + 4)
                        and _u32le(<const unsigned char *>v.mv_data + hour_at) < cutoff):
                    expired.append(_bytes(&k))
                seen += 1
                if seen >= budget:
                    break
                positioned = _found(mdb_cursor_get(cur, &k, &v, MDB_NEXT), "mdb_cursor_get")
            if positioned or wrapped:
                break
            wrapped = True  # past the end: go round once more
            positioned = _found(mdb_cursor_get(cur, &k, &v, MDB_FIRST), "mdb_cursor_get")
        if positioned and _found(mdb_cursor_get(cur, &k, &v, MDB_NEXT), "mdb_cursor_get"):
            after = PyBytes_FromStringAndSize(<char *>&head, 1) + _bytes(&k)
    finally:
        mdb_cursor_close(cur)
    # Writes last: they may move the pages the cursor's pointers were into.
    txn.mutations += 1
    if after is not None:
        _val(&mv, after)
        _check(mdb_put(txn.txn, meta.dbi, &mk, &mv, 0), "mdb_put")
    else:
        _found(mdb_del(txn.txn, meta.dbi, &mk, NULL), "mdb_del")
    for key in expired:  # a small database may list a key twice: delete it once
        _val(&k, <bytes>key)
        if _found(mdb_del(txn.txn, db.dbi, &k, NULL), "mdb_del"):
            deleted.append(key)
    return deleted
