"""A damaged store never crashes the process: exit 2 and one line saying what is wrong
and what to do, run as users run the command (a subprocess per case)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import lmdb
import pytest

from shingles.errors import StoreFormatError
from shingles.store.layout import IpCounters, Stats, unpack_index, unpack_message
from shingles.store.reader import Store

from .test_ingest import make_mbox  # type: ignore[import-not-found]  # tests is no package


def shingles(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shingles", *args], capture_output=True,
                          text=True, timeout=120)


def one_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """Assert exit 2 and a single "shingles: ..." line on stderr naming words; return it."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("shingles: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A store with a few hundred messages in it, and the mbox they came from."""
    root = tmp_path_factory.mktemp("damage")
    (root / "in.mbox").write_bytes(make_mbox(300))
    assert shingles("ingest", "--store", str(root / "good"), str(root / "in.mbox")).returncode == 0
    return root


def damaged(good: pathlib.Path, tmp_path: pathlib.Path, data: bytes) -> pathlib.Path:
    store = tmp_path / "store"
    store.mkdir()
    (store / "data.mdb").write_bytes(data)
    return store


def both_ways(store: pathlib.Path, good: pathlib.Path, *words: str) -> None:
    """The reading and the writing commands both refuse the store with one line."""
    one_line(shingles("mailings", "--store", str(store)), *words)
    one_line(shingles("scan", "--store", str(store), str(good / "in.mbox")), *words)


def test_garbage_data_file(good: pathlib.Path, tmp_path: pathlib.Path) -> None:
    store = damaged(good, tmp_path, os.urandom(1 << 16))
    both_ways(store, good, "not an LMDB file", "backup")


def test_zero_filled_data_file(good: pathlib.Path, tmp_path: pathlib.Path) -> None:
    store = damaged(good, tmp_path, bytes(1 << 16))
    both_ways(store, good, "all zeros")


def test_truncated_data_file_is_refused_before_it_is_mapped(good: pathlib.Path,
                                                            tmp_path: pathlib.Path) -> None:
    # Mapped, a page past the end would be SIGBUS (exit 135) rather than an error.
    whole = (good / "good" / "data.mdb").read_bytes()
    store = damaged(good, tmp_path, whole[:len(whole) // 3])
    line = one_line(shingles("mailings", "--store", str(store)), "cut short")
    assert f"where its last commit needs {len(whole)}" in line or "needs" in line
    both_ways(store, good, "cut short")


def test_foreign_lmdb_environment(good: pathlib.Path, tmp_path: pathlib.Path) -> None:
    store = tmp_path / "store"
    with lmdb.open(str(store), max_dbs=2) as env, env.begin(write=True) as txn:
        txn.put(b"someone", b"else's data")
    one_line(shingles("mailings", "--store", str(store)), "not a shingles store")
    one_line(shingles("ingest", "--store", str(store), str(good / "in.mbox")), "shingles store")
    with lmdb.open(str(store), readonly=True) as env, env.begin() as txn:
        assert list(txn.cursor()) == [(b"someone", b"else's data")]  # left as it was


def test_damaged_page_inside_a_valid_file(good: pathlib.Path, tmp_path: pathlib.Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(good / "good", store)
    data = bytearray((store / "data.mdb").read_bytes())
    data[3 * 4096:] = b"\xa5" * (len(data) - 3 * 4096)  # meta pages intact, the rest not
    (store / "data.mdb").write_bytes(bytes(data))
    one_line(shingles("mailings", "--store", str(store)), "damaged")


def test_records_that_fail_to_decode_raise_store_format_error() -> None:
    for bad in (b"", b"\x01", b"\x01" + b"\xff" * 5):
        for unpack in (unpack_index, unpack_message, IpCounters.unpack, Stats.unpack):
            with pytest.raises(StoreFormatError):
                unpack(bad)


def test_a_record_that_fails_to_decode_is_one_line(good: pathlib.Path,
                                                   tmp_path: pathlib.Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(good / "good", store)
    with Store(store) as opened:
        with opened._env.begin(write=True) as txn:  # a cut statistics record
            key, value = next(iter(txn.cursor(db=opened._dbs["stats"])))
            txn.put(key, value[:20], db=opened._dbs["stats"])
    one_line(shingles("mailings", "--store", str(store)), "cannot be read", "store check")


def _mount_works(point: pathlib.Path) -> str | None:
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(point)],
                          capture_output=True, text=True)
    return None if done.returncode == 0 else f"cannot mount a tmpfs: {done.stderr.strip()}"


def test_read_only_store_for_a_writer(good: pathlib.Path, tmp_path: pathlib.Path) -> None:
    point = tmp_path / "ro"
    point.mkdir()
    why = _mount_works(point)
    if why is not None:
        pytest.skip(f"{why} (a read-only file system is how root meets a read-only store)")
    try:
        subprocess.run(["mount", "-o", "remount,size=4m", str(point)], check=True)
        shutil.copytree(good / "good", point / "s")
        subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
        one_line(shingles("ingest", "--store", str(point / "s"), str(good / "in.mbox")),
                 "cannot be written", "only read")
        listed = shingles("mailings", "--store", str(point / "s"))
        assert listed.returncode == 0 and len(listed.stdout.splitlines()) > 1
    finally:
        subprocess.run(["umount", str(point)], check=False)


def test_full_disk_stops_cleanly_and_the_same_command_works_once_there_is_room(
        good: pathlib.Path, tmp_path: pathlib.Path) -> None:
    point = tmp_path / "small"
    point.mkdir()
    why = _mount_works(point)
    if why is not None:
        pytest.skip(why)
    try:
        subprocess.run(["mount", "-o", "remount,size=160k", str(point)], check=True)
        box = tmp_path / "big.mbox"
        box.write_bytes(make_mbox(3000, seed=7))
        store = point / "s"
        command = ("ingest", "--store", str(store), "--batch", "200", str(box))
        one_line(shingles(*command), "no space left", "run the same command again")
        with Store(store, readonly=True) as kept:  # whole batches, as committed
            assert kept.counts()["messages"] % 200 == 0
        subprocess.run(["mount", "-o", "remount,size=64m", str(point)], check=True)
        again = shingles(*command)
        assert again.returncode == 0, again.stderr
        with Store(store, readonly=True) as done:
            assert done.counts()["messages"] == 3000
    finally:
        subprocess.run(["umount", str(point)], check=False)
