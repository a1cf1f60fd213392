"""The store's own LMDB binding (shingles._store): py-lmdb's behaviour, and its hot loops'
equality with their Python twins in shingles.store.writer."""

from __future__ import annotations

import pathlib
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lmdb as pylmdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shingles._lean import store as compiled
from shingles.store.layout import pack_index
from shingles.store.writer import _probe_py, _refile_py, _sweep_py

pytestmark = pytest.mark.skipif(compiled is None, reason="shingles._store is not compiled")

KEYS = st.binary(min_size=1, max_size=6)


@contextmanager
def env_of(binding: Any, **options: Any) -> Iterator[Any]:
    """Yield a fresh environment of binding (a module with py-lmdb's API) in a temp dir."""
    with tempfile.TemporaryDirectory() as tmp:
        env = binding.open(tmp, map_size=1 << 24, max_dbs=4, **options)
        try:
            yield env
        finally:
            env.close()


# One step on either binding: (operation, key, value); what it returns is compared.
OPS = st.lists(st.tuples(
    st.sampled_from(["put", "put_dup", "put_new", "get", "delete", "delete_dup", "set_range",
                     "set_key", "first", "next", "key", "value", "iter3", "dups",
                     "cursor_delete", "entries"]),
    KEYS, st.binary(max_size=5)), max_size=40)


def run(env: Any, ops: list[tuple[str, bytes, bytes]]) -> list[Any]:
    """Apply ops in one write transaction on a plain and a dupsort database; return results."""
    out: list[Any] = []
    with env.begin(write=True) as txn:
        plain = env.open_db(b"plain", txn=txn)
        dups = env.open_db(b"dups", txn=txn, dupsort=True)
        cursors = {id(plain): txn.cursor(db=plain), id(dups): txn.cursor(db=dups)}
        for i, (op, key, value) in enumerate(ops):
            db = dups if i % 2 else plain
            try:
                out.append(step(txn, db, cursors[id(db)], op, key, value))
            except Exception as exc:  # noqa: BLE001 - both must fail alike
                out.append(("error", "valsize" if "VALSIZE" in str(exc).upper() else "other"))
        out.append([list(txn.cursor(db=d)) for d in (plain, dups)])
    return out


def step(txn: Any, db: Any, cursor: Any, op: str, key: bytes, value: bytes) -> Any:
    """Return what one operation returns."""
    def walk3() -> list[bytes]:  # a partial walk leaves the cursor on its last entry
        walked = [k + b"=" + v for _, (k, v) in zip(range(3), cursor.iternext())]
        return [*walked, cursor.key()]

    actions = {
        "put": lambda: txn.put(key, value, db=db),
        "put_dup": lambda: txn.put(key, value, db=db, dupdata=False),
        "put_new": lambda: txn.put(key, value, db=db, overwrite=False),
        "get": lambda: txn.get(key, db=db),
        "delete": lambda: txn.delete(key, db=db),
        "delete_dup": lambda: txn.delete(key, value, db=db),
        "set_range": lambda: cursor.set_range(key),
        "set_key": lambda: cursor.set_key(key),
        "first": cursor.first,
        "next": cursor.next,
        "key": cursor.key,
        "value": cursor.value,
        "iter3": walk3,
        "dups": lambda: list(cursor.iternext_dup(keys=False)) if cursor.key() else None,
        "cursor_delete": lambda: (cursor.delete(), cursor.key()),
        "entries": lambda: txn.stat(db)["entries"],
    }
    return actions[op]()


@given(OPS)
def test_binding_does_what_py_lmdb_does(ops: list[tuple[str, bytes, bytes]]) -> None:
    assert compiled is not None
    with env_of(compiled) as ours, env_of(pylmdb) as theirs:
        assert run(ours, ops) == run(theirs, ops)


def test_a_store_file_written_by_the_binding_reads_in_py_lmdb(tmp_path: pathlib.Path) -> None:
    assert compiled is not None
    env = compiled.open(str(tmp_path), map_size=1 << 20, max_dbs=2)
    with env.begin(write=True) as txn:
        db = env.open_db(b"d", txn=txn)
        txn.put(b"k", b"v", db=db)
    env.close()
    env = pylmdb.open(str(tmp_path), map_size=1 << 20, max_dbs=2, readonly=True)
    with env.begin() as txn:
        assert txn.get(b"k", db=env.open_db(b"d", txn=txn, create=False)) == b"v"
    env.close()


def test_binding_errors_are_py_lmdb_s(tmp_path: pathlib.Path) -> None:
    assert compiled is not None
    env = compiled.open(str(tmp_path), map_size=1 << 16, max_dbs=2)
    try:
        with pytest.raises(compiled.Error, match="already open"):
            compiled.open(str(tmp_path), max_dbs=2)
        with pytest.raises(compiled.NotFoundError):
            env.open_db(b"absent", create=False)
        txn = env.begin(write=True)
        with pytest.raises(compiled.MapFullError):
            for i in range(10_000):
                txn.put(i.to_bytes(4, "big"), b"x" * 100)
        txn.abort()
        with pytest.raises(compiled.Error, match="finished"):
            txn.get(b"k")
        env.set_mapsize(1 << 22)  # grown, the same writes fit
        with env.begin(write=True) as txn:
            for i in range(10_000):
                txn.put(i.to_bytes(4, "big"), b"x" * 100)
            cursor = txn.cursor()
        with pytest.raises(compiled.Error, match="finished"):
            cursor.first()  # its transaction is committed
        with env.begin() as txn:
            assert txn.stat(None)["entries"] == 10_000
            open_reader = env.begin()
    finally:
        env.close()  # ends the open reader first
    with pytest.raises(compiled.Error, match="finished"):
        open_reader.get(b"k")
    with pytest.raises(compiled.Error, match="closed"):
        env.begin()


def test_an_environment_dropped_unclosed_can_be_opened_again(tmp_path: pathlib.Path) -> None:
    assert compiled is not None
    env = compiled.open(str(tmp_path), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v")
    del env, txn  # no close(): freeing it closes it and forgets it was open
    env = compiled.open(str(tmp_path), map_size=1 << 20)
    with env.begin() as txn:
        assert txn.get(b"k") == b"v"
    env.close()


def index_db(env: Any, name: bytes, entries: dict[bytes, tuple[int, int]], txn: Any) -> Any:
    db = env.open_db(name, txn=txn)
    for key, (mailing, hour) in entries.items():
        txn.put(key, pack_index(mailing, hour), db=db)
    return db


INDEX = st.dictionaries(KEYS, st.tuples(st.integers(1, 2**64 - 1), st.integers(0, 2**32 - 1)),
                        max_size=12)


@given(INDEX, st.lists(KEYS, max_size=10), st.integers(1, 5), st.integers(0, 3))
def test_probe_and_refile_equal_their_python_twins(
        entries: dict[bytes, tuple[int, int]], extra: list[bytes], mailing: int,
        hour: int) -> None:
    assert compiled is not None
    keys = [*list(entries)[::2], *extra]
    value = pack_index(mailing, hour)
    with env_of(compiled) as env, env.begin(write=True) as txn:
        results = []
        for name, probe, refile in ((b"c", compiled.probe, compiled.refile),
                                    (b"p", _probe_py, _refile_py)):
            db = index_db(env, name, entries, txn)
            olds: list[int] = [7]  # refile reads from an offset
            hours: list[int] = [7]
            probe(txn, db, keys, olds, hours)
            new = refile(txn, db, keys, olds, hours, 1, value)
            results.append((olds, hours, new, list(txn.cursor(db=db))))
        assert results[0] == results[1]
        olds, _, new, _ = results[0]
        assert new == sum(old == 0 for old in olds[1:])


MARKS = st.one_of(st.none(), KEYS, st.just(b""))


@given(st.dictionaries(KEYS, st.binary(max_size=8), max_size=25), MARKS, st.integers(1, 40),
       st.integers(0, 4), st.integers(-1, 2**32))
def test_sweep_equals_its_python_twin(entries: dict[bytes, bytes], mark: bytes | None,
                                      budget: int, hour_at: int, cutoff: int) -> None:
    """Same deletions, same mark, on a database walked round, cut short or empty."""
    assert compiled is not None
    results = []
    for binding, sweep in ((compiled, compiled.sweep), (compiled, _sweep_py),
                           (pylmdb, _sweep_py)):
        with env_of(binding) as env, env.begin(write=True) as txn:
            db = env.open_db(b"d", txn=txn)
            meta = env.open_db(b"meta", txn=txn)
            for key, value in entries.items():
                txn.put(key, value, db=db)
            if mark is not None:
                txn.put(b"sweep", b"\x01" + mark, db=meta)
            deleted = sweep(txn, db, meta, b"sweep", budget, hour_at, cutoff, 1)
            results.append((deleted, list(txn.cursor(db=db)), txn.get(b"sweep", db=meta)))
    assert results[0] == results[1] == results[2]
    deleted, left, _ = results[0]
    hour = struct.Struct("<I")
    assert not any(len(v) >= hour_at + 4 and hour.unpack_from(v, hour_at)[0] < cutoff
                   for k, v in left if k in deleted)
    assert len(deleted) + len(left) == len(entries)
