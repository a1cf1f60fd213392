"""Benchmark of the archive job (shingles spark-cluster) beside `shingles ingest`.

Run from the repository root, with the package installed with its extras
(pip install '.[bench,spark]'; Java 17 for Spark):

    python bench/bench_spark.py [--synthetic 200000] [--partitions 16] [--out bench/out/spark]

1. The corpora (ham + spam, 6,046 messages): the job in paper mode on local[1]
   and on local[2], and `shingles ingest --mode paper --retention-days 0` (the
   library's ingest into a fresh store) on the same input, in the same run.
   Messages/s = messages / the job's own time (session start-up apart, shown
   beside it).
2. With --synthetic N (0 skips it): an archive of N messages generated inside
   the job, on local[2], from the corpus bases with the bench's mutations
   (bench/generator.py): copy i of mailing g = i // --copies is base
   g mod |bases| changed by mutation kind g mod |kinds| at a rate of 2-5%, so
   every base comes back in many mailings (large components, big buckets). The
   job then runs as on real input; the figures are the time per stage, the
   rounds of connected components and messages/s. --synthetic 10000000 is the
   issue's 10M-message run (see bench/README.md for how long it takes here).
3. With --recall-diff: the corpora in recall mode, job against store, every
   message they put in different mailings, grouped into cases (results.json).
Results also go to OUT/results.json.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Executors import bench.generator to make the synthetic archive.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])

from bench.corpus import require_corpus, write_results  # noqa: E402
from shingles.config import SparkSettings, StoreSettings  # noqa: E402
from shingles.mail.read import read  # noqa: E402
from shingles.scheme import Scheme  # noqa: E402
from shingles.spark import job  # noqa: E402
from shingles.spark.sources import SEQ_BITS  # noqa: E402
from shingles.store.reader import Store  # noqa: E402
from shingles.verdicts.engine import ingest  # noqa: E402


def _job(master: str, inputs: Any, out: str | None, partitions: int,
         make: Any = None) -> dict[str, Any]:
    started = time.perf_counter()
    spark = job.session(master, f"bench {master}",
                        {"spark.sql.shuffle.partitions": str(partitions),
                         "spark.driver.memory": "6g"})
    up = time.perf_counter() - started
    try:
        source = make(spark) if make is not None else inputs
        report, _, _ = job.run(spark, source, out,
                               settings=SparkSettings(partitions=partitions))
    finally:
        spark.stop()
    print(report.summary(), file=sys.stderr)
    return {"master": master, "messages": report.messages, "seconds": round(report.seconds, 2),
            "messages_per_second": round(report.messages / report.seconds),
            "session_start_seconds": round(up, 2), "rounds": report.rounds,
            "edges": report.edges, "mailings": report.mailings,
            "duplicates": report.duplicates, "errors": report.errors,
            "stages": {name: round(t, 2) for name, t in report.stages}}


def _ingest(inputs: list[str], work: pathlib.Path) -> dict[str, Any]:
    started = time.perf_counter()
    with Store(work / "store", settings=StoreSettings(retention_days=0)) as store:
        done = ingest(store, read(inputs))
    seconds = time.perf_counter() - started
    messages = done.summary.messages + done.errors
    return {"messages": messages, "seconds": round(seconds, 2),
            "messages_per_second": round(messages / seconds)}


def _partition_of_store(store: Store) -> list[frozenset[str]]:
    return [frozenset(ref.source for ref in store.messages(m.id)) for m in store.mailings()]


def recall_differences(inputs: list[str], partitions: int, work: pathlib.Path) -> dict[str, Any]:
    """Return the messages the job's and the store's recall-mode partitions put differently.

    Each difference is a set of messages (a connected piece of the overlap of the
    two partitions) with the store's groups and the job's groups over it: "job
    joined" when the job has one mailing where the store has several, "store
    joined" for the reverse, "regrouped" when both split it differently.
    """
    settings = StoreSettings(mode="recall", retention_days=0)
    with Store(work / "recall-store", settings=settings) as store:
        ingest(store, read(inputs))
        theirs = _partition_of_store(store)
        # The job fingerprints with the store's scheme: a new store's seed is random.
        scheme = Scheme.from_id(store.scheme_id)
    spark = job.session("local[2]", "bench recall", {"spark.sql.shuffle.partitions":
                                                     str(partitions)})
    try:
        _, messages, _ = job.run(spark, inputs, None, store=settings, scheme=scheme,
                                 settings=SparkSettings(partitions=partitions, min_size=1))
        groups: dict[int, set[str]] = {}
        for row in messages.where("mailing is not null and duplicate_of is null").collect():
            groups.setdefault(row["mailing"], set()).add(row["source"])
    finally:
        spark.stop()
    mine = [frozenset(g) for g in groups.values()]
    of_mine = {s: g for g in mine for s in g}
    of_theirs = {s: g for g in theirs for s in g}
    differing = {s for s in of_mine if of_mine[s] != of_theirs.get(s)}
    cases: list[dict[str, Any]] = []
    seen: set[str] = set()
    for source in sorted(differing):
        if source in seen:
            continue
        # The smallest set closed under both partitions that holds this message.
        piece, todo = set(), [source]
        while todo:
            s = todo.pop()
            if s in piece:
                continue
            piece.add(s)
            todo += list(of_mine[s] | of_theirs[s])
        seen |= piece
        store_groups = {of_theirs[s] for s in piece}
        job_groups = {of_mine[s] for s in piece}
        kind = ("job joined" if len(job_groups) == 1 else
                "store joined" if len(store_groups) == 1 else "regrouped")
        cases.append({"kind": kind, "messages": len(piece),
                      "store": sorted(sorted(g) for g in store_groups),
                      "job": sorted(sorted(g) for g in job_groups)})
    kinds: dict[str, int] = {}  # kind -> messages
    for case in cases:
        kind, n = str(case["kind"]), int(case["messages"])
        kinds[kind] = kinds.get(kind, 0) + n
    return {"clustered": len(of_mine), "differing_messages": len(differing),
            "messages_in_differing_pieces": sum(c["messages"] for c in cases),
            "by_kind": kinds, "cases": cases}


def _synthetic(n: int, copies: int, partitions: int) -> Any:
    """Return a maker of the RDD of n generated raw messages (see the module docstring)."""
    from bench.generator import KINDS, Vocabulary, load_bases

    bases = load_bases()
    vocab = Vocabulary.of(bases)

    def make(spark: Any) -> Any:
        sc = spark.sparkContext
        shared = sc.broadcast((bases, vocab))
        per = -(-n // partitions)

        def generate(index: int, _: Any) -> Any:
            from bench.generator import T0, _plain_envelope, mutate, render

            bases, vocab = shared.value
            for i in range(index * per, min(n, (index + 1) * per)):
                group = i // copies
                base = bases[group % len(bases)]
                kind = KINDS[group % len(KINDS)]
                rnd = random.Random(f"spark/{i}")
                draft = mutate(base, kind, rnd.choice([0.02, 0.03, 0.05]), rnd, vocab)
                raw = render(draft, subject=base.subject,
                             to=f"user{rnd.randrange(10**6)}@example.org",
                             message_id=f"{i}.{group}@synthetic.example",
                             date=T0 + timedelta(seconds=i),
                             envelope=_plain_envelope(rnd, base.key))
                yield (index << SEQ_BITS) | i, f"synthetic:{i}", raw, None

        return sc.parallelize(range(partitions), partitions).mapPartitionsWithIndex(generate)

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=int, default=200_000, metavar="N",
                        help="messages of the generated archive (0: skip)")
    parser.add_argument("--copies", type=int, default=100, help="copies per synthetic mailing")
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--out", default="bench/out/spark")
    parser.add_argument("--recall-diff", action="store_true",
                        help="also list how recall mode's mailings differ from the store's")
    args = parser.parse_args()
    corpus = require_corpus()
    inputs = [str(corpus / "ham.mbox.gz"), str(corpus / "spam.mbox.gz")]
    results: dict[str, Any] = {}
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-spark-"))
    try:
        results["corpus"] = {
            "local[1]": _job("local[1]", inputs, str(work / "out1"), args.partitions),
            "local[2]": _job("local[2]", inputs, str(work / "out2"), args.partitions),
            "ingest": _ingest(inputs, work),
        }
        print("\ncorpus (paper mode)      messages   seconds   messages/s")
        for name, row in results["corpus"].items():
            print(f"  {name:22} {row['messages']:8d} {row['seconds']:9.1f} "
                  f"{row['messages_per_second']:12d}")
        if args.recall_diff:
            diff = recall_differences(inputs, args.partitions, work)
            results["recall_differences"] = diff
            print(f"\nrecall mode: {diff['differing_messages']} of {diff['clustered']} "
                  f"clustered messages in another mailing than the store's; by kind (messages "
                  f"of the pieces): {diff['by_kind']}; every case in results.json")
        if args.synthetic:
            make = _synthetic(args.synthetic, args.copies, args.partitions)
            row = _job("local[2]", None, None, args.partitions, make)
            results["synthetic"] = {"messages": args.synthetic, "copies": args.copies, **row}
            print(f"\nsynthetic, local[2]: {row['messages']} messages in {row['seconds']} s "
                  f"({row['messages_per_second']}/s), {row['rounds']} rounds of connected "
                  f"components, {row['edges']} edges, {row['mailings']} mailings")
            for name, seconds in row["stages"].items():
                print(f"  {name:18} {seconds:8.1f} s")
            per = row["seconds"] / row["messages"]
            print(f"  10M messages at this rate: about {per * 1e7 / 3600:.1f} h on local[2]")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
