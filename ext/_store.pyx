# cython: boundscheck=False, wraparound=False
"""Compiled helpers of the store's hot loops (shingles.session has the Python twins).

The retention sweep looks at about two entries per entry written; in Python,
reading the hour out of each value costs more than fetching the entry.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport uint32_t


def expired_keys(list entries not None, Py_ssize_t at, long long cutoff):
    """Return the keys of (key, value) entries whose u32 hour at offset at is below cutoff.

    A value too short to hold the hour is left alone (kept), as is anything that
    is not bytes: the caller's records are fixed layouts, so neither happens.
    """
    cdef list out = []
    cdef tuple entry
    cdef object value
    cdef const unsigned char *p
    cdef uint32_t hour
    for item in entries:
        entry = <tuple?>item
        value = entry[1]
        if type(value) is not bytes or PyBytes_GET_SIZE(value) < at + 4:
            continue
        p = <const unsigned char *>PyBytes_AS_STRING(value) + at
        hour = p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)
        if hour < cutoff:
            out.append(entry[0])
    return out
