"""Speed and size side by side, on the same messages.

1. Signature only (text -> signature): bench_core.speed, on the visible text
   of every corpus message: our core, the reference, datasketch MinHash(84),
   rensa RMinHash(84).
2. End to end on one labelled stream (bench.generator.stream) written to an
   mbox on disk: read, parse (shingles.mail.parse for everyone), sign, and file or
   index each message. Ours: fingerprint + Store.add in paper mode (4-word
   shingles) and recall mode (its default 2-word shingles), LMDB on disk,
   durable commits of the default batch (10,000). Peers: datasketch MinHash(84)
   over 4-word shingles built in Python + MinHashLSH 21 bands x 4 rows
   (query, then insert), and rensa RMinHash(84) + RMinHashLSH(21 bands) the
   same way, both in memory. Each engine runs in its own fresh process (spawn),
   so its peak memory is its own: messages/s per core (CPU time of that
   process), peak RSS above the process after imports, and the bytes its index
   takes per message (our store file; the peers' pickled index). Every engine
   runs with the garbage collector as our store Session runs it (off, collected
   after each batch of 10,000; bench/gcstate.py). Our paper mode keys
   mega-shingles, the peers band LSH 21x4: the same kind of index as our recall
   mode only.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import resource
import tempfile
import time
from typing import Any

from bench.generator import CONFIG, Base, stream

PEERS = ("shingles paper", "shingles recall", "datasketch MinHash+MinHashLSH",
         "rensa RMinHash+RMinHashLSH")


def _rss(field: str = "VmHWM") -> int:
    """Return the process's peak (VmHWM) or current (VmRSS) resident memory in bytes."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_peak() -> None:
    """Start the peak-RSS count afresh (Linux: imports of scipy and the like peak above the run)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _child(name: str, mbox: str, work: str, queue: Any) -> None:
    """Run one engine over the mbox in this (fresh) process; put its figures on queue."""
    try:
        queue.put(_measure(name, mbox, work))
    except Exception as exc:  # noqa: BLE001 - a peer that fails is reported, not hidden
        queue.put({"engine": name, "error": f"{type(exc).__name__}: {exc}"})


def _measure(name: str, mbox: str, work: str) -> dict[str, Any]:
    from shingles import fingerprint
    from shingles.mail import read as mailio
    add: Any
    finish: Any
    if name.startswith("shingles"):
        from shingles.scheme import DEFAULT_SCHEME
        from shingles.store.reader import RECALL_SCHEME, Store
        from shingles.config import StoreSettings

        mode = name.split()[1]
        # Each mode with the scheme a new store of that mode takes by default.
        scheme = RECALL_SCHEME if mode == "recall" else DEFAULT_SCHEME
        store = Store(work, scheme=scheme, settings=StoreSettings(mode=mode))
        session = store.session().__enter__()

        def add(mail: Any) -> None:
            session.add(mail, fingerprint(mail.text, scheme))

        def finish() -> int:
            session.__exit__(None, None, None)
            size = os.path.getsize(os.path.join(work, "data.mdb"))
            store.close()
            return size
    else:
        from bench.bench_core import python_shingles

        if name.startswith("datasketch"):
            from datasketch import MinHash, MinHashLSH

            index = MinHashLSH(num_perm=84, params=(21, 4))

            def sign(text: str) -> Any:
                m = MinHash(num_perm=84)
                m.update_batch([s.encode("utf-8") for s in python_shingles(text)])
                return m
        else:
            from rensa import RMinHash, RMinHashLSH

            index = RMinHashLSH(0.5, 84, 21)

            def sign(text: str) -> Any:
                m = RMinHash(num_perm=84, seed=42)
                m.update(python_shingles(text))
                return m
        count = 0

        def add(mail: Any) -> None:
            nonlocal count
            m = sign(mail.text)
            index.query(m)
            index.insert(count, m)
            count += 1

        def finish() -> int:
            return len(pickle.dumps(index))
    import gc

    from bench.gcstate import SessionGC

    _reset_peak()
    rss = _rss("VmRSS")
    gc.collect()
    # Every engine in the collector regime of our Session (off, collected per batch);
    # ours sets it up itself, the peers get it here.
    regime = SessionGC() if not name.startswith("shingles") else None
    cpu, wall = time.process_time(), time.perf_counter()
    n = 0
    if regime:
        regime.__enter__()
    for record in mailio.read(mbox, CONFIG):
        if not hasattr(record, "error"):
            add(record)
            n += 1
            if regime:
                regime.tick()
    if regime:
        regime.__exit__(None, None, None)
    size = finish()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"engine": name, "messages": n, "cpu_seconds": cpu, "wall_seconds": wall,
            "messages_per_cpu_second": n / cpu, "rss_after_imports_bytes": rss,
            "peak_rss_bytes": _rss(), "peak_rss_growth_bytes": _rss() - rss,
            "index_bytes": size, "index_bytes_per_message": size / n}


def _result(name: str, child: Any, queue: Any) -> dict[str, Any]:
    """Return what the child put on queue, or an error row if it died without a word."""
    import queue as queues

    while True:
        try:
            return queue.get(timeout=2)
        except queues.Empty:
            if not child.is_alive():
                return {"engine": name, "error": f"the process died (exit code {child.exitcode})"}


def end_to_end(bases: list[Base], messages: int, seed: int, progress: Any = None
               ) -> list[dict[str, Any]]:
    """Return one row per engine (PEERS) over the first `messages` of a labelled stream."""
    # The mbox and our store go to disk: durable commits are part of what we time.
    with tempfile.TemporaryDirectory(prefix="shingles-speed.") as disk:
        mbox = os.path.join(disk, "stream.mbox")
        with open(mbox, "wb") as out:
            for n, item in enumerate(stream(bases, seed=seed)):
                if n >= messages:
                    break
                out.write(b"From bench@example.net Tue Sep  1 00:00:00 2026\n"
                          + item.raw + b"\n")
        context = multiprocessing.get_context("spawn")
        rows = []
        task = progress.add_task("speed end to end", total=len(PEERS)) if progress else None
        for number, name in enumerate(PEERS):
            queue = context.Queue()
            work = os.path.join(disk, f"store{number}")
            child = context.Process(target=_child, args=(name, mbox, work, queue))
            child.start()
            rows.append(_result(name, child, queue))
            child.join()
            if progress:
                progress.advance(task)
    ours = rows[0].get("messages_per_cpu_second")
    for row in rows:
        if "error" not in row and ours:
            row["ours_paper_faster_by"] = ours / row["messages_per_cpu_second"]
    return rows


def run(bases: list[Base], texts: list[str], messages: int, quick: bool, seed: int,
        progress: Any = None) -> dict[str, Any]:
    """Return signature-only rows (bench_core.speed) and end-to-end rows."""
    from bench.bench_core import speed

    signature = speed(texts, quick)
    return {"signature_only": signature, "end_to_end": end_to_end(bases, messages, seed, progress),
            "end_to_end_messages": messages}
