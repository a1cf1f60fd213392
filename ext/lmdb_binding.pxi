# The store's LMDB binding over the vendored liblmdb (ext/lmdb), included by _store.pyx.
#
# It speaks the part of py-lmdb's API the store uses (open, Environment.begin/
# open_db/info/stat/set_mapsize/close, Transaction.get/put/delete/cursor/stat/
# commit/abort, Cursor positioning and iteration, and py-lmdb's error names), so
# store.py and session.py run unchanged on either binding: this one when the
# compiled core is built, py-lmdb in the pure-Python build. What py-lmdb cannot
# give is C access to the open transaction; the store's hot loops (below, in
# _store.pyx) take it from here.

import os as _os
import weakref as _weakref

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE


class Error(Exception):
    """An LMDB error (the base of the specific ones below)."""


class NotFoundError(Error):
    """A named database (or key) is not there."""


class MapFullError(Error):
    """The environment's map is full: grow it with set_mapsize."""


class MapResizedError(Error):
    """Another process grew the map: adopt it with set_mapsize(0)."""


class ReadonlyError(Error):
    """A write was attempted in a read-only environment or transaction."""


class CorruptedError(Error):
    """The data file is corrupt (a page of the wrong kind, or out of bounds)."""


class VersionMismatchError(Error):
    """The data file was written by an incompatible LMDB version."""


cdef dict _ERRORS = {
    MDB_NOTFOUND: NotFoundError,
    MDB_MAP_FULL: MapFullError,
    MDB_MAP_RESIZED: MapResizedError,
    MDB_CORRUPTED: CorruptedError,
    MDB_PAGE_FULL: CorruptedError,
    MDB_VERSION_MISMATCH: VersionMismatchError,
    MDB_INVALID: VersionMismatchError,
}

# LMDB forbids one environment open twice in one process: its locks are fcntl
# locks of the (process, file) pair, so closing either copy releases both's.
# Environments are known by their data file's (device, inode), as py-lmdb does.
cdef dict _open_files = {}


cdef int _check(int rc, str what) except -1:
    if rc == MDB_SUCCESS:
        return 0
    kind = _ERRORS.get(rc, Error)
    if kind is Error and rc == 13:  # EACCES
        kind = ReadonlyError
    raise kind(f"{what}: {mdb_strerror(rc).decode('utf-8', 'replace')}")


cdef inline bint _found(int rc, str what) except -1:
    """Return True on success, False for MDB_NOTFOUND; raise for any other code."""
    if rc == MDB_SUCCESS:
        return True
    if rc != MDB_NOTFOUND:
        _check(rc, what)
    return False


cdef inline void _val(MDB_val *val, bytes data):
    val.mv_size = <size_t>PyBytes_GET_SIZE(data)
    val.mv_data = <void *>PyBytes_AS_STRING(data)


cdef inline bytes _bytes(MDB_val *val):
    return PyBytes_FromStringAndSize(<char *>val.mv_data, <Py_ssize_t>val.mv_size)


def _file_id(path, subdir):
    name = _os.path.join(path, "data.mdb") if subdir else path
    try:
        st = _os.stat(name)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


cdef class _Database:
    """A named database handle (py-lmdb's _Database): what db= takes."""

    cdef readonly unsigned int dbi
    cdef readonly bint dupsort

    def __repr__(self):
        return f"<_Database {self.dbi}{' dupsort' if self.dupsort else ''}>"


cdef class Environment:
    """An open LMDB environment (use open())."""

    cdef MDB_env *env
    cdef readonly bint readonly
    cdef readonly object path
    cdef object _file
    cdef object _txns  # live transactions: close() ends them first
    cdef _Database _main

    def __cinit__(self):
        self.env = NULL

    def __init__(self, path, *, map_size=10485760, max_dbs=0, subdir=True, readonly=False,
                 lock=True, sync=True, metasync=True, readahead=True, create=True,
                 mode=0o755):
        cdef unsigned int flags = MDB_NOTLS
        cdef int rc
        cdef unsigned int c_mode = mode
        cdef bytes encoded
        cdef const char *c_path
        self.path = _os.fspath(path)
        self.readonly = readonly
        self._txns = _weakref.WeakSet()
        if not subdir:
            flags |= MDB_NOSUBDIR
        if readonly:
            flags |= MDB_RDONLY
        if not lock:
            flags |= MDB_NOLOCK
        if not sync:
            flags |= MDB_NOSYNC
        if not metasync:
            flags |= MDB_NOMETASYNC
        if not readahead:
            flags |= MDB_NORDAHEAD
        if subdir and create and not readonly:
            _os.makedirs(self.path, exist_ok=True)
        file_id = _file_id(self.path, subdir)
        if file_id is not None and file_id in _open_files:
            raise Error(f"{self.path}: the environment is already open in this process")
        _check(mdb_env_create(&self.env), "mdb_env_create")
        try:
            _check(mdb_env_set_mapsize(self.env, map_size), "mdb_env_set_mapsize")
            _check(mdb_env_set_maxdbs(self.env, max_dbs), "mdb_env_set_maxdbs")
            encoded = _os.fsencode(self.path)
            c_path = encoded
            with nogil:
                rc = mdb_env_open(self.env, c_path, flags, c_mode)
            if rc > 0:  # an errno: raise what Python raises for it
                raise OSError(rc, _os.strerror(rc), self.path)
            _check(rc, self.path)
        except BaseException:
            mdb_env_close(self.env)
            self.env = NULL
            raise
        self._file = _file_id(self.path, subdir)
        if self._file is not None:
            _open_files[self._file] = True
        # The unnamed database gets its key comparison when first opened, as a
        # named one does: a look-up in it before that would call no function.
        self._main = self.open_db(None, create=False)

    def __dealloc__(self):
        if self.env != NULL:
            mdb_env_close(self.env)
            if self._file is not None and _open_files is not None:  # None: at exit
                _open_files.pop(self._file, None)

    cdef int _alive(self) except -1:
        if self.env == NULL:
            raise Error("the environment is closed")
        return 0

    def close(self):
        """End every open transaction, then close the environment (idempotent)."""
        if self.env == NULL:
            return
        for txn in list(self._txns):
            (<Transaction>txn)._end(False)
        mdb_env_close(self.env)
        self.env = NULL
        if self._file is not None:
            _open_files.pop(self._file, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def begin(self, db=None, parent=None, write=False, buffers=False):
        """Return a new transaction (a write one if write)."""
        self._alive()
        if parent is not None or buffers:
            raise NotImplementedError("nested transactions and buffers are not supported")
        cdef Transaction txn = Transaction.__new__(Transaction)
        cdef unsigned int flags = 0 if write else MDB_RDONLY
        cdef int rc
        if write and self.readonly:
            raise ReadonlyError(f"{self.path} is open read-only")
        with nogil:
            rc = mdb_txn_begin(self.env, NULL, flags, &txn.txn)
        _check(rc, "mdb_txn_begin")
        txn.env = self
        txn.write = write
        txn.db = db if db is not None else self._main
        self._txns.add(txn)
        return txn

    def open_db(self, key=None, txn=None, reverse_key=False, dupsort=False, create=True,
                integerkey=False, integerdup=False, dupfixed=False):
        """Return a named database's handle, creating it if create (in txn, or its own)."""
        self._alive()
        if reverse_key or integerkey or integerdup or dupfixed:
            raise NotImplementedError("only plain and dupsort databases are supported")
        cdef Transaction own
        if txn is None:
            own = self.begin(write=create and not self.readonly)
            try:
                handle = self.open_db(key, own, dupsort=dupsort, create=create)
            except BaseException:
                own.abort()
                raise
            own.commit()
            return handle
        own = <Transaction?>txn
        own._alive()
        cdef unsigned int flags = (MDB_DUPSORT if dupsort else 0) | (
            MDB_CREATE if create and own.write else 0)
        cdef _Database handle_ = _Database()
        cdef const char *name = NULL
        cdef bytes key_bytes
        if key is not None:
            key_bytes = <bytes?>key
            name = key_bytes
        _check(mdb_dbi_open(own.txn, name, flags, &handle_.dbi), f"open_db {key!r}")
        handle_.dupsort = dupsort
        return handle_

    def set_mapsize(self, size_t map_size):
        """Set the map size; 0 adopts the size another process grew it to."""
        self._alive()
        _check(mdb_env_set_mapsize(self.env, map_size), "mdb_env_set_mapsize")

    def info(self):
        """Return py-lmdb's Environment.info() dictionary."""
        self._alive()
        cdef MDB_envinfo info
        _check(mdb_env_info(self.env, &info), "mdb_env_info")
        return {"map_addr": <size_t>info.me_mapaddr, "map_size": info.me_mapsize,
                "last_pgno": info.me_last_pgno, "last_txnid": info.me_last_txnid,
                "max_readers": info.me_maxreaders, "num_readers": info.me_numreaders}

    def stat(self):
        """Return the main database's statistics (py-lmdb's Environment.stat())."""
        self._alive()
        cdef MDB_stat st
        _check(mdb_env_stat(self.env, &st), "mdb_env_stat")
        return _stat_dict(&st)


cdef dict _stat_dict(MDB_stat *st):
    return {"psize": st.ms_psize, "depth": st.ms_depth, "branch_pages": st.ms_branch_pages,
            "leaf_pages": st.ms_leaf_pages, "overflow_pages": st.ms_overflow_pages,
            "entries": st.ms_entries}


def open(path, **kwargs):
    """Return an open Environment (py-lmdb's lmdb.open, for the options the store uses)."""
    return Environment(path, **kwargs)


cdef class Transaction:
    """A read or write transaction; as a context manager it commits, or aborts on error."""

    cdef MDB_txn *txn
    cdef readonly Environment env
    cdef readonly bint write
    cdef _Database db
    # Writes so far: a cursor reads its entry again after one, since a write may
    # move the data its pointers point into (py-lmdb does the same).
    cdef public unsigned long mutations
    cdef object __weakref__

    def __cinit__(self):
        self.txn = NULL

    def __dealloc__(self):
        if self.txn != NULL:
            mdb_txn_abort(self.txn)
            self.txn = NULL

    cdef inline int _alive(self) except -1:
        if self.txn == NULL:
            raise Error("the transaction is finished (committed or aborted)")
        return 0

    cdef inline unsigned int _dbi(self, object db) except? 0:
        if db is None:
            return self.db.dbi
        return (<_Database?>db).dbi

    cdef int _end(self, bint commit) except -1:
        cdef MDB_txn *txn = self.txn
        cdef int rc = 0
        if txn == NULL:
            return 0
        self.txn = NULL  # a failed commit frees the transaction too
        self.env._txns.discard(self)
        if commit:
            with nogil:
                rc = mdb_txn_commit(txn)
            _check(rc, "mdb_txn_commit")
        else:
            mdb_txn_abort(txn)
        return 0

    def commit(self):
        """Commit (durably, unless the environment was opened with sync=False)."""
        self._alive()
        self._end(True)

    def abort(self):
        """Abandon the transaction's writes (idempotent)."""
        self._end(False)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.txn == NULL:
            return
        self._end(exc_type is None)

    def get(self, bytes key not None, default=None, db=None):
        """Return the value of key (a copy), or default."""
        self._alive()
        cdef MDB_val k, v
        _val(&k, key)
        cdef int rc = mdb_get(self.txn, self._dbi(db), &k, &v)
        if rc == MDB_NOTFOUND:
            return default
        _check(rc, "mdb_get")
        return _bytes(&v)

    def put(self, bytes key not None, bytes value not None, dupdata=True, overwrite=True,
            append=False, db=None):
        """Store value under key; return False if it was there and may not be replaced."""
        self._alive()
        if append:
            raise NotImplementedError("append is not supported")
        cdef MDB_val k, v
        cdef unsigned int flags = (0 if dupdata else MDB_NODUPDATA) | (
            0 if overwrite else MDB_NOOVERWRITE)
        _val(&k, key)
        _val(&v, value)
        self.mutations += 1  # before the call, as py-lmdb: a failed write may move data too
        cdef int rc = mdb_put(self.txn, self._dbi(db), &k, &v, flags)
        if rc == MDB_KEYEXIST:
            return False
        _check(rc, "mdb_put")
        return True

    def delete(self, bytes key not None, bytes value=b"", db=None):
        """Delete key (every value of it in a dupsort database unless value is given)."""
        self._alive()
        cdef MDB_val k, v
        _val(&k, key)
        _val(&v, value)
        self.mutations += 1
        cdef int rc = mdb_del(self.txn, self._dbi(db), &k, &v if value else NULL)
        if rc == MDB_NOTFOUND:
            return False
        _check(rc, "mdb_del")
        return True

    def cursor(self, db=None):
        """Return a cursor on db, not yet positioned."""
        self._alive()
        cdef Cursor cursor = Cursor.__new__(Cursor)
        _check(mdb_cursor_open(self.txn, self._dbi(db), &cursor.cursor), "mdb_cursor_open")
        cursor.txn = self
        return cursor

    def stat(self, db):
        """Return a database's statistics (py-lmdb's Transaction.stat())."""
        self._alive()
        cdef MDB_stat st
        _check(mdb_stat(self.txn, self._dbi(db), &st), "mdb_stat")
        return _stat_dict(&st)


cdef class Cursor:
    """A position in one database of a transaction (py-lmdb's Cursor, in part).

    LMDB frees a write transaction's cursors when it ends, and leaves a read
    transaction's to be closed; the cursor asks its transaction which happened.
    """

    cdef MDB_cursor *cursor
    cdef Transaction txn
    cdef MDB_val k, v
    cdef bint positioned
    cdef unsigned long seen_mutations

    def __cinit__(self):
        self.cursor = NULL
        self.positioned = False

    def __dealloc__(self):
        if self.cursor != NULL and (self.txn is None or self.txn.txn != NULL
                                    or not self.txn.write):
            mdb_cursor_close(self.cursor)
        self.cursor = NULL

    cdef inline int _alive(self) except -1:
        if self.txn.txn == NULL:
            raise Error("the cursor's transaction is finished")
        return 0

    cdef bint _move(self, MDB_cursor_op op, bytes key=None) except -1:
        self._alive()
        if key is not None:
            _val(&self.k, key)
        cdef int rc = mdb_cursor_get(self.cursor, &self.k, &self.v, op)
        self.seen_mutations = self.txn.mutations
        self.positioned = rc == MDB_SUCCESS
        if rc == MDB_NOTFOUND or (rc == 22 and op == MDB_GET_CURRENT):  # 22: EINVAL
            return False
        _check(rc, "mdb_cursor_get")
        return True

    def first(self):
        """Move to the first entry; return False if the database is empty."""
        return self._move(MDB_FIRST)

    def next(self):
        """Move to the next entry (the first if never positioned); False past the last."""
        return self._move(MDB_NEXT)

    def set_key(self, bytes key not None):
        """Move to key exactly; return False if it is not there."""
        return self._move(MDB_SET_KEY, key)

    def set_range(self, bytes key not None):
        """Move to the first key >= key; return False if there is none."""
        if not key:
            return self._move(MDB_FIRST)
        return self._move(MDB_SET_RANGE, key)

    cdef int _fresh(self) except -1:
        # A write may have moved the data under the cursor's pointers: read again.
        self._alive()
        if self.seen_mutations != self.txn.mutations:
            self._move(MDB_GET_CURRENT)
        return 0

    def key(self):
        """Return the current key, b"" when unpositioned."""
        self._fresh()
        return _bytes(&self.k) if self.positioned else b""

    def value(self):
        """Return the current value, b"" when unpositioned."""
        self._fresh()
        return _bytes(&self.v) if self.positioned else b""

    def item(self):
        """Return (key, value) of the current entry."""
        self._fresh()
        if not self.positioned:
            return (b"", b"")
        return (_bytes(&self.k), _bytes(&self.v))

    def delete(self):
        """Delete the current entry and move to the next; return False if unpositioned."""
        self._alive()
        if not self.positioned:
            return False
        self.txn.mutations += 1
        _check(mdb_cursor_del(self.cursor, 0), "mdb_cursor_del")
        self._move(MDB_GET_CURRENT)
        return True

    def iternext(self, keys=True, values=True):
        """Yield entries from the current one (the first if unpositioned) to the end."""
        if not self.positioned:
            self._move(MDB_FIRST)
        return _Iterator(self, MDB_NEXT, keys, values)

    def iternext_dup(self, keys=False, values=True):
        """Yield the current key's values, from the current one on."""
        return _Iterator(self, MDB_NEXT_DUP, keys, values)

    def __iter__(self):
        return self.iternext()


cdef class _Iterator:
    # Yields the current entry, then moves: a caller that stops early (islice)
    # leaves the cursor on the last entry it was given, as py-lmdb's does.
    cdef Cursor cursor
    cdef MDB_cursor_op op
    cdef bint keys, values, started

    def __cinit__(self, Cursor cursor, int op, bint keys, bint values):
        self.cursor = cursor
        self.op = <MDB_cursor_op>op
        self.keys = keys
        self.values = values
        self.started = False

    def __iter__(self):
        return self

    def __next__(self):
        cdef Cursor c = self.cursor
        c._alive()
        if not c.positioned or (self.started and not c._move(self.op)):
            raise StopIteration
        self.started = True
        c._fresh()
        if not c.positioned:
            raise StopIteration
        if self.keys and self.values:
            return (_bytes(&c.k), _bytes(&c.v))
        return _bytes(&c.k) if self.keys else _bytes(&c.v)
