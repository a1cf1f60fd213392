"""Benchmark of the mailing store: whole-path ingest speed, bytes per message, look-ups.

Run from the repository root, with the package installed (pip install '.[bench]'):

    python bench/bench_store.py [--messages 1000000] [--mode paper|recall]
        [--retention-days 1] [--per-hour 2000] [--sample 50000] [--lookups 20000]
        [--synthetic] [--work DIR] [--mbox FILE] [--whole-only] [--out bench/out/store]

1. A stream of --messages messages is generated into an mbox (not timed): mailings
   made from corpus messages by mutation (a personal greeting and a few words
   changed in each copy when the body is plain; byte-identical bodies otherwise,
   as many spam runs are), each with its own sending IPs, beside one-off
   messages (a corpus body with a third of its words changed). Mailing sizes are
   heavy-tailed; a few hundred are active at a time and end, so the stream never
   repeats. Dates advance --per-hour messages an hour. Without the corpus (or
   with --synthetic) bases are random texts.
2. The whole path, one process on one core: read the mbox, parse, fingerprint,
   file into the store with durable (fsync'd) commits of the default batch
   (StoreSettings.batch_size, 10,000 messages), with retention on. Messages/s
   per core = messages / CPU seconds of this process. The second half of the
   stream (the window full, the store at its steady state) is also split into
   read+parse, timed in the stream, and the rest (fingerprint + store). The
   store file's size and the process's resident memory (VmRSS, the peak VmHWM,
   and of VmRSS the heap, RssAnon, and the mapped files, RssFile: LMDB's map
   counts there page by page as it is touched), with Python's allocated blocks,
   are sampled as the stream goes: all must level off once the window is full. --mbox reads a stream generated before (not regenerated), and
   --whole-only stops after this step.
3. The same stages one at a time on the first --sample messages, to show where
   the time goes.
4. Look-up latency: Store.lookup of --lookups fingerprints (half from the last
   window, half unseen texts), p50/p99.
5. Beside it: datasketch MinHashLSH with 21 bands of 4 (the recall mode's bands)
   doing the same query-then-insert per message on the same --sample
   fingerprints, in memory; our store doing add (query + insert, on disk) on
   them too. Both run with the garbage collector as a Session runs it (off,
   collected after each batch: bench/gcstate.py). Only --mode recall compares
   one kind of index with the same kind; paper mode's mega-shingle keys are
   another kind, and the output says so.
Results also go to OUT/results.json.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import pathlib
import pickle
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numpy
from corpus import corpus_dir, raw_messages
from gcstate import SessionGC

import shingles
from shingles import fingerprint
from shingles.mail import read as mailio
from shingles.verdicts.engine import ingest
from shingles.scheme import DEFAULT_SCHEME, Scheme
from shingles.store.reader import RECALL_SCHEME, Store
from shingles.config import StoreSettings

T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
NAMES = ["anna", "boris", "chen", "dara", "emil", "fatima", "gosia", "hugo", "ines", "jonas"]
_WORD = re.compile(rb"[A-Za-z]{3,12}")
_DROP = re.compile(rb"^(message-id|to|cc|date|received|return-path|delivered-to|x-[^:]*)"
                   rb":.*(\r?\n[ \t].*)*\r?\n", re.IGNORECASE | re.MULTILINE)


def syllables(rnd: random.Random, n: int) -> str:
    return "".join(rnd.choice("bdfgklmnprstvz") + rnd.choice("aeiou") for _ in range(n))


class Base:
    """One message a mailing is made of: its header block and body, and whether the
    body is plain enough (no transfer encoding) to change words in."""

    def __init__(self, raw: bytes) -> None:
        cut = raw.find(b"\n\n")
        head, body = (raw[:cut + 1], raw[cut + 2:]) if cut >= 0 else (raw, b"")
        self.head = _DROP.sub(b"", head)
        self.body = body
        lower = head.lower()
        self.plain = b"base64" not in lower and b"quoted-printable" not in lower
        self.words = [m.span() for m in _WORD.finditer(body)] if self.plain else []

    def copy(self, rnd: random.Random, share: float, greeting: bool) -> bytes:
        """Return the body with a share of its words replaced (plain bodies only)."""
        if not self.words:
            return self.body
        body = bytearray(self.body)
        k = max(1, int(share * len(self.words))) if share else 0
        for start, end in sorted(rnd.sample(self.words, min(k, len(self.words))), reverse=True):
            body[start:end] = syllables(rnd, max(2, (end - start) // 2)).encode()
        if greeting:
            body[0:0] = f"Hello {rnd.choice(NAMES)} {syllables(rnd, 3)},\n\n".encode()
        return bytes(body)


def bases(synthetic: bool, seed: int) -> list[Base]:
    """Return the messages mailings are made of: the corpus, or random texts."""
    if not synthetic:
        return [Base(raw) for name in ("spam", "ham") for raw in raw_messages(name)]
    rnd = random.Random(seed)
    vocabulary = [syllables(rnd, rnd.randint(1, 4)) for _ in range(20000)]
    out = []
    for i in range(6000):
        text = " ".join(rnd.choice(vocabulary) for _ in range(rnd.randint(30, 600)))
        out.append(Base(f"From: list{i % 300}@example.net\nSubject: note {i}\n"
                        f"Content-Type: text/plain; charset=utf-8\n\n{text}\n".encode()))
    return out


def generate(path: pathlib.Path, n: int, per_hour: int, synthetic: bool, seed: int = 1) -> dict:
    """Write the stream to path; return how it was made (mailings, one-offs)."""
    rnd = random.Random(seed)
    pool = bases(synthetic, seed)
    mutable = [b for b in pool if b.words]
    active = 300
    weights = [1 / (rank + 1) ** 1.1 for rank in range(active)]

    def new_mailing() -> dict:
        base = rnd.choice(pool)
        ips = rnd.choice([1, 1, 2, 4, 50, 500])  # a bulk sender or a botnet
        net = f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}"
        return {"base": base, "quota": int(min(50000, max(2, rnd.lognormvariate(3.5, 1.5)))),
                "ips": ips, "net": net, "unsubscribe": rnd.random() < 0.4}

    slots = [new_mailing() for _ in range(active)]
    made = {"mailings": active, "one_off": 0, "copies": 0}
    step = 3600 / per_hour
    with open(path, "wb") as out:
        for i in range(n):
            when = T0 + timedelta(seconds=i * step)
            extra = b""
            if rnd.random() < 0.25:
                base, body = rnd.choice(mutable), None
                body = base.copy(rnd, 0.33, greeting=False)
                ip = f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
                made["one_off"] += 1
            else:
                k = rnd.choices(range(active), weights)[0]
                mailing = slots[k]
                base = mailing["base"]
                body = base.copy(rnd, 0.01, greeting=True)
                host = rnd.randrange(mailing["ips"])
                ip = f"{mailing['net']}.{host // 250 % 256}.{host % 250 + 1}"
                if mailing["unsubscribe"]:
                    extra = b"List-Unsubscribe: <mailto:leave@example.net>\n"
                mailing["quota"] -= 1
                made["copies"] += 1
                if mailing["quota"] <= 0:
                    slots[k] = new_mailing()
                    made["mailings"] += 1
            date = format_datetime(when).encode()
            head = (b"Received: from mta.example.net (mta.example.net [" + ip.encode() +
                    b"]) by mx.example.org; " + date + b"\nMessage-ID: <" + str(i).encode() +
                    b"." + str(seed).encode() + b"@bench.example>\nTo: user" +
                    str(rnd.randrange(100000)).encode() + b"@example.org\nDate: " + date +
                    b"\n" + extra)
            message = head + base.head + b"\n" + body.replace(b"\nFrom ", b"\n>From ")
            out.write(b"From bench@example.net Mon Jan  5 00:00:00 2026\n" + message + b"\n\n")
    return made


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Latencies:
    """Per-call times in us: wall (what a caller waits) and this thread's CPU time,
    which other processes on a busy machine do not inflate."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def time(self, call: Callable[[], object]) -> object:
        wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
        result = call()
        self.cpu.append((time.thread_time_ns() - cpu) / 1000)
        self.wall.append((time.perf_counter_ns() - wall) / 1000)
        return result

    def summary(self) -> dict:
        return {"p50_us": percentile(self.wall, 0.5), "p99_us": percentile(self.wall, 0.99),
                "cpu_p50_us": percentile(self.cpu, 0.5), "cpu_p99_us": percentile(self.cpu, 0.99),
                "mean_us": statistics.fmean(self.wall)}

    @staticmethod
    def text(summary: dict) -> str:
        return (f"p50 {summary['p50_us']:.1f} us, p99 {summary['p99_us']:.1f} us "
                f"(CPU: {summary['cpu_p50_us']:.1f} / {summary['cpu_p99_us']:.1f} us)")


def resident() -> tuple[int, int, int, int]:
    """Return this process's resident memory, bytes: now and at its peak (VmRSS, VmHWM),
    and of now the anonymous part (the Python heap) and the file-backed part (mostly
    the store's LMDB map, whose pages count once touched)."""
    fields = dict(line.split(":", 1) for line in
                  pathlib.Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[k].split()[0]) * 1024  # type: ignore[return-value]
                 for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"))


def whole_path(box: pathlib.Path, store_dir: pathlib.Path, settings: StoreSettings,
               n: int, tail_size: int) -> dict:
    """Ingest the mbox through read, parse, fingerprint and store; return speed and sizes.

    The texts of the last tail_size messages are kept (under "_tail") for look-ups.
    """
    data = store_dir / "data.mdb"
    series: list[tuple[int, int]] = []
    # Messages, VmRSS, VmHWM, RssAnon, RssFile (bytes), and Python's allocated blocks
    # (objects and buffers alive: what would grow if ours kept something per message).
    memory: list[tuple[int, ...]] = []
    every = max(1000, n // 40)
    seen = 0

    def tick() -> None:
        nonlocal seen
        seen += 1
        if seen % every == 0:
            series.append((seen, os.path.getsize(data)))
            memory.append((seen, *resident(), sys.getallocatedblocks()))

    tail: collections.deque = collections.deque(maxlen=tail_size)
    # CPU time spent reading and parsing, by the second half of the stream (the
    # store's steady state once the window is full): the rest is fingerprint + store.
    reading = [0.0, 0.0]  # first half, second half
    half = n // 2
    half_cpu = [0.0]

    def keep_tail(records: Iterator) -> Iterator:
        # perf_counter, as 8c693ed's bench had it: the CPU clock is a system call (0.59 us
        # here, twice a message, 0.5% of the path counted against the code measured),
        # and reading and parsing are CPU-bound, so their wall time is their CPU time.
        clock, it, i = time.perf_counter, iter(records), 0
        while True:
            start = clock()
            record = next(it, None) if i < n else None
            if record is None:  # the end, or n read from a longer stream (--mbox)
                return
            reading[i >= half] += clock() - start
            if i == half:
                half_cpu[0] = time.process_time()
            i += 1
            if not hasattr(record, "error"):
                tail.append(record.text)
            yield record

    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    with Store(store_dir, settings=settings) as store:
        report = ingest(store, keep_tail(mailio.read(str(box))), on_message=tick)
        end = time.process_time()
        cpu, wall = end - cpu, time.perf_counter() - wall
        second_half = end - half_cpu[0]
        sizes, counts, info = store.sizes(), store.counts(), store.info()
        top = store.top(5)
    index = sum(sizes[name] for name in ("mega", "band", "imatch", "parent", "children"))
    in_window = max(1, info["messages"])  # stored, not the tombstones of expired ones
    return {
        "messages": report.summary.messages, "errors": report.errors,
        "summary": report.to_json(), "cpu_seconds": cpu, "wall_seconds": wall,
        "messages_per_cpu_second": report.summary.messages / cpu,
        "messages_per_wall_second": report.summary.messages / wall,
        "second_half_us_per_message": 1e6 * second_half / (n - half),
        "second_half_read_parse_us_per_message": 1e6 * reading[1] / (n - half),
        "file_bytes": sizes["file"], "file_bytes_per_message": sizes["file"] / n,
        "messages_in_window": info["messages"], "mailings_in_window": counts["stats"],
        "tombstones": info["forgotten_messages"],
        "index_bytes_per_message_in_window": index / in_window,
        "bytes_per_message_in_window": sum(v for k, v in sizes.items() if k != "file") / in_window,
        "db_bytes": sizes, "db_entries": counts, "file_size_series": series,
        "rss_series": memory,
        "top_mailings": [(m.size, m.distinct_ips, m.subject[:50]) for m in top],
        "_tail": list(tail),
    }


def scheme_of(settings: StoreSettings) -> Scheme:
    """Return the scheme a new store of these settings fingerprints with."""
    return RECALL_SCHEME if settings.mode == "recall" else DEFAULT_SCHEME


def stages(box: pathlib.Path, sample: int, settings: StoreSettings, work: pathlib.Path) -> dict:
    """Time read+parse, fingerprint and store on the first `sample` messages; keep them."""
    cpu = time.process_time()
    mails = []
    for record in mailio.read(str(box)):
        if not hasattr(record, "error"):
            mails.append(record)
        if len(mails) >= sample:
            break
    parse_cpu = time.process_time() - cpu
    cpu = time.process_time()
    fps = [fingerprint(m.text, scheme_of(settings)) for m in mails]
    fp_cpu = time.process_time() - cpu
    shutil.rmtree(work / "stage", ignore_errors=True)
    with Store(work / "stage", settings=settings) as store:
        cpu = time.process_time()
        with store.session() as session:
            for m, fp in zip(mails, fps):
                session.add(m, fp)
        store_cpu = time.process_time() - cpu
    n = len(mails)
    return {"messages": n, "read_parse_per_s": n / parse_cpu, "fingerprint_per_s": n / fp_cpu,
            "store_per_s": n / store_cpu, "_mails": mails, "_fps": fps}


def lookups(store_dir: pathlib.Path, texts: list[str], count: int, scheme: Scheme,
            seed: int = 2) -> dict:
    """Time Store.lookup on the stream's last messages and on as many unseen texts."""
    rnd = random.Random(seed)
    present = [fp for fp in (fingerprint(t, scheme) for t in texts[-(count // 2):])
               if fp.minhash_bytes]
    absent = [fingerprint(" ".join(syllables(rnd, 3) for _ in range(150)), scheme)
              for _ in range(count - len(present))]
    found = [0, 0]
    times = Latencies()
    with Store(store_dir, readonly=True) as store:
        for i, fp in enumerate(present + absent):
            hit = times.time(lambda fp=fp: store.lookup(fp))
            found[i >= len(present)] += hit is not None
    return {"lookups": len(times.wall), "present": len(present), "present_found": found[0],
            "absent_found": found[1], **times.summary()}


def datasketch_side(fps: list, bands: int, rows: int) -> dict:
    """Query-then-insert every fingerprint into datasketch MinHashLSH, in memory."""
    from datasketch import LeanMinHash, MinHashLSH

    # Our min-hashes are 64-bit affine hashes, which datasketch calls "affine64".
    sketches = [LeanMinHash(seed=1, hashvalues=numpy.frombuffer(fp.minhash_bytes, "<u8"),
                            scheme="affine64")
                for fp in fps if fp.minhash_bytes]
    lsh = MinHashLSH(num_perm=84, params=(bands, rows))
    times = Latencies()
    gc.collect()
    # The collector as our Session runs it (off, collected per batch): the same for both.
    with SessionGC() as gc_state:
        cpu = time.process_time()
        for key, sketch in enumerate(sketches):
            times.time(lambda sketch=sketch: lsh.query(sketch))
            lsh.insert(key, sketch, check_duplication=False)
            gc_state.tick()
        cpu = time.process_time() - cpu
    # Its index lives in Python dicts; the pickle is what it would take to keep it.
    pickled = len(pickle.dumps(lsh, protocol=pickle.HIGHEST_PROTOCOL))
    return {"messages": len(sketches), "query_insert_per_s": len(sketches) / cpu,
            "query": times.summary(), "pickled_bytes_per_message": pickled / max(1, len(sketches))}


#: What the datasketch row is beside ours, per mode: the same kind of index or not.
DIFFERS = {
    "recall": "same kind of index: 21 bands of 4 min-hashes each side",
    "paper": "NOT the same kind of index: ours keys 15 mega-shingles (pairs of 6 "
             "super-shingles of 14 min-hashes), datasketch 21 bands of 4 (the recall mode's "
             "kind); compare the recall-mode run for like with like",
}


def store_side(fps: list, mails: list, settings: StoreSettings, work: pathlib.Path) -> dict:
    """Our store's add (query + insert, durable) on the same fingerprints, store only."""
    shutil.rmtree(work / "side", ignore_errors=True)
    times = Latencies()
    gc.collect()
    with Store(work / "side", settings=settings) as store:
        cpu = time.process_time()
        with store.session() as session:
            for mail, fp in zip(mails, fps):
                times.time(lambda mail=mail, fp=fp: session.add(mail, fp))
        cpu = time.process_time() - cpu
        file_bytes = store.sizes()["file"]
    return {"messages": len(fps), "add_per_s": len(fps) / cpu, "add": times.summary(),
            "file_bytes_per_message": file_bytes / len(fps)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--mode", choices=("paper", "recall"), default="paper")
    parser.add_argument("--retention-days", type=float, default=1.0)
    parser.add_argument("--per-hour", type=int, default=2000,
                        help="messages per hour of message time (default %(default)s)")
    parser.add_argument("--sample", type=int, default=50_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--synthetic", action="store_true", help="random texts, not the corpus")
    parser.add_argument("--work", type=pathlib.Path, default=None,
                        help="where the mbox and the stores go (default: a temporary folder)")
    parser.add_argument("--mbox", type=pathlib.Path, default=None,
                        help="read this stream (made by an earlier run) instead of generating one")
    parser.add_argument("--whole-only", action="store_true",
                        help="stop after the whole path (step 2)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench/out/store"))
    args = parser.parse_args()
    synthetic = args.synthetic or corpus_dir() is None
    if synthetic and not args.synthetic:
        print("bench_store: no corpus found; bases are random texts", file=sys.stderr)
    work = args.work or pathlib.Path(tempfile.mkdtemp(prefix="bench_store."))
    work.mkdir(parents=True, exist_ok=True)
    # The public seed: the stages and look-ups fingerprint outside the store, as a
    # deployment sharing signatures would (a new store's default seed is secret).
    settings = StoreSettings(mode=args.mode, retention_days=args.retention_days,
                             seed=DEFAULT_SCHEME.seed)
    print(f"backend {shingles.BACKEND}; mode {settings.matching}; retention "
          f"{args.retention_days:g} days; {args.per_hour} messages per hour of message time")

    box = args.mbox or work / "stream.mbox"
    made: dict = {"mbox": str(args.mbox)}
    if args.mbox is None:
        start = time.perf_counter()
        made = generate(box, args.messages, args.per_hour, synthetic)
        print(f"generated {args.messages:,} messages ({box.stat().st_size / 1e6:.0f} MB; "
              f"{made['copies']:,} copies in {made['mailings']:,} mailings, "
              f"{made['one_off']:,} one-off) in {time.perf_counter() - start:.0f} s")

    shutil.rmtree(work / "store", ignore_errors=True)
    whole = whole_path(box, work / "store", settings, args.messages, args.lookups // 2)
    tail = whole.pop("_tail")
    print("\n1. whole path (read, parse, fingerprint, store, durable commits), one core:")
    print(f"   {whole['messages']:,} messages in {whole['cpu_seconds']:.1f} CPU s "
          f"({whole['wall_seconds']:.1f} s wall): {whole['messages_per_cpu_second']:,.0f} "
          f"messages/s per core ({whole['messages_per_wall_second']:,.0f}/s wall)")
    print(f"   store file {whole['file_bytes'] / 1e6:.1f} MB = "
          f"{whole['file_bytes_per_message']:.0f} bytes per message ingested; in the window: "
          f"{whole['messages_in_window']:,} messages (and {whole['tombstones']:,} tombstones), "
          f"{whole['mailings_in_window']:,} mailings, "
          f"{whole['bytes_per_message_in_window']:.0f} bytes/message of which index "
          f"{whole['index_bytes_per_message_in_window']:.0f}")
    steady, reading = whole["second_half_us_per_message"], \
        whole["second_half_read_parse_us_per_message"]
    print(f"   second half of the stream (window full): {steady:.0f} us/message, of which "
          f"read+parse {reading:.0f}, fingerprint+store {steady - reading:.0f}")
    series = whole["file_size_series"]
    print("   file size as the stream went (messages: MB): " + ", ".join(
        f"{m // 1000}k: {b / 1e6:.0f}" for m, b in series[::max(1, len(series) // 10)]))
    memory = whole["rss_series"]
    print("   resident memory as the stream went (messages: MiB now / peak; now: heap + "
          "mapped files; Python's allocated blocks, thousands): " + ", ".join(
              f"{m // 1000}k: {rss / 2**20:.0f}/{peak / 2**20:.0f}; {anon / 2**20:.0f}"
              f"+{mapped / 2**20:.0f}; {blocks // 1000}k"
              for m, rss, peak, anon, mapped, blocks in memory[::max(1, len(memory) // 10)]))
    print(f"   largest mailings (size, IPs, subject): {whole['top_mailings'][:3]}")
    if args.whole_only:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(
            {"backend": shingles.BACKEND, "matching": settings.matching,
             "retention_days": args.retention_days, "generated": made, "whole_path": whole},
            indent=1, default=str))
        return 0

    stage = stages(box, args.sample, settings, work)
    mails, fps = stage.pop("_mails"), stage.pop("_fps")
    per = {k: 1e6 / v for k, v in stage.items() if k.endswith("_per_s")}
    print(f"\n2. stages on the first {stage['messages']:,} messages, messages/s per core "
          f"(us/message): read+parse {stage['read_parse_per_s']:,.0f} "
          f"({per['read_parse_per_s']:.0f}), fingerprint {stage['fingerprint_per_s']:,.0f} "
          f"({per['fingerprint_per_s']:.0f}), store {stage['store_per_s']:,.0f} "
          f"({per['store_per_s']:.0f})")

    looked = lookups(work / "store", tail, args.lookups, scheme_of(settings))
    print(f"\n3. Store.lookup of the last {looked['present']:,} messages' fingerprints "
          f"({looked['present_found']:,} found) and {looked['lookups'] - looked['present']:,} "
          f"unseen ones ({looked['absent_found']} found): {Latencies.text(looked)}")

    ours = store_side(fps, mails, settings, work)
    theirs = datasketch_side(fps, 21, 4)
    print(f"\n4. query+insert on the same {ours['messages']:,} fingerprints, one core:")
    print(f"   shingles Store.add ({args.mode}, LMDB on disk, "
          f"fsync per {settings.batch_size:,}): "
          f"{ours['add_per_s']:,.0f}/s, add {Latencies.text(ours['add'])}, "
          f"{ours['file_bytes_per_message']:.0f} bytes/message "
          f"(with statistics and message records)")
    print(f"   datasketch MinHashLSH 21x4 (in memory): {theirs['query_insert_per_s']:,.0f}/s, "
          f"query {Latencies.text(theirs['query'])}, "
          f"pickled {theirs['pickled_bytes_per_message']:.0f} bytes/message (index only)")
    print(f"   both sides with the collector as a Session runs it (off, collected per batch); "
          f"{DIFFERS[settings.mode]}")

    args.out.mkdir(parents=True, exist_ok=True)
    results = {"backend": shingles.BACKEND, "matching": settings.matching,
               "retention_days": args.retention_days, "per_hour": args.per_hour,
               "synthetic": synthetic, "generated": made, "whole_path": whole,
               "stages": stage, "lookups": looked, "store_side": ours,
               "datasketch": theirs, "index_kinds": DIFFERS[settings.mode]}
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"\nresults in {args.out / 'results.json'}; work files in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
