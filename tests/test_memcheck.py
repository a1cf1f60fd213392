"""The compiled modules under valgrind's memcheck: no invalid read, write or free.

The guide asks that C we write gets a valgrind or sanitizer run. Ours is the
Cython of ext/ (and ext/kernels.c): one subprocess runs the bundled sample mail
through parsing (shingles._mime), fingerprinting (shingles._core) and a store
with a short retention window (shingles._store: the probe, its key filter,
retention's walk and the sort of a batch's writes), then the store loops on their
edge cases, all under memcheck.
Python's own allocator is switched off (PYTHONMALLOC=malloc) so memcheck sees
every block; leaks are not counted (the interpreter keeps much alive at exit).
The interpreter itself draws "uninitialised value" reports (int.from_bytes of
fresh random bytes at import, its collector at exit) that no suppression file
ships for this build: those count only when one of our modules is on the stack,
while an invalid read, write or free counts wherever it shows.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import re
import subprocess
import sys
import textwrap

import pytest

import shingles
from shingles._lean import lean, store_loops

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample.mbox"

SCRIPT = textwrap.dedent("""
    import struct, sys, tempfile
    import lmdb
    from shingles import fingerprint
    from shingles._store import KeyFilter, probe, sorted_items, walk
    from shingles.config import StoreSettings
    from shingles.errors import StoreFormatError
    from shingles.mail.read import read
    from shingles.scheme import Scheme
    from shingles.store.reader import Store

    mails = [m for m in read(sys.argv[1]) if not hasattr(m, "error")]
    assert mails, "no sample mail"
    settings = StoreSettings(batch_size=4, retention_days=0.1)
    with Store(tempfile.mkdtemp(), settings=settings) as store, store.session() as s:
        scheme = Scheme.from_id(store.scheme_id)
        for mail in mails * 3:
            s.add(mail, fingerprint(mail.text, scheme))

    env = lmdb.open(tempfile.mkdtemp(), max_dbs=2, map_size=1 << 24)
    db = env.open_db(b"d")
    txn = env.begin(write=True)
    keys = [struct.pack(">Q", i * 0x9E3779B97F4A7C15 % (1 << 64)) for i in range(500)]
    for i, key in enumerate(keys[:300]):
        txn.put(key, struct.pack("<BQI", 1, i, i % 50), db=db)
    txn.put(b"short", b"\\x01\\x02", db=db)  # not a 1-byte singleton: on the heap
    held = KeyFilter(100)  # over-full: most bits set
    held.update(keys[:300])
    olds, hours = [], []
    probe(txn, db, {keys[1]: struct.pack("<BQI", 1, 7, 40)}, held, keys, olds, hours, 10)
    assert len(olds) == len(hours) == 500
    try:
        probe(txn, db, {}, None, [b"short"], [], [], 0)
    except StoreFormatError:
        pass
    cursor = txn.cursor(db=db)
    cursor.last()
    for _ in range(4):  # round past the end, deleting at the cursor
        walk(cursor, 200, 9, 30)
    txn.abort()
    # Keys shorter than the 8-byte prefix, and runs sharing it, as members' keys do.
    writes = {bytes([i % 3]) * (i % 11) + key: key for i, key in enumerate(keys)}
    assert sorted_items(writes) == sorted(writes.items()) and sorted_items({}) == []
    print("memcheck script done")
""")


def test_the_compiled_modules_make_no_invalid_memory_access(tmp_path: pathlib.Path) -> None:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        if os.environ.get("CI"):
            pytest.fail("valgrind is missing on CI: .ci/run installs it")
        pytest.skip("valgrind is not installed (CI installs it)")
    if shingles.BACKEND != "cython" or lean is None or store_loops is None:
        pytest.skip("the compiled modules are not built")
    script = tmp_path / "memcheck_script.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [valgrind, "--tool=memcheck", "--leak-check=no", "--num-callers=40", "--quiet",
         sys.executable, str(script), str(SAMPLE)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONMALLOC": "malloc", "SHINGLES_REQUIRE_EXT": "1"})
    assert done.returncode == 0 and "memcheck script done" in done.stdout, done.stderr[-4000:]
    ours = [report for report in re.split(r"\n==\d+== \n", done.stderr)
            if re.search(r"Invalid (read|write|free)|Mismatched free", report)
            or _in_our_code(report)]
    assert not ours, "\n\n".join(ours)[:6000]


def _in_our_code(report: str) -> bool:
    """Return whether a memcheck report happened in our compiled code: one of its
    innermost frames is ours (not merely a caller far up the stack, as when a
    module's start-up imports a Python module)."""
    frames = [line for line in report.splitlines() if re.search(r"==\d+==\s+(at|by) 0x", line)]
    return any(re.search(r"shingles[/.]_|_(store|mime|core)\.(c|pyx)|kernels\.c|__pyx", frame)
               for frame in frames[:4])
