"""python -m bench.trace: the header trace's effect on the recall mode (issue 20).

Runs the recall bench (bench/recall.py: mailings of mutated copies, each copy
judged against a store of the bases) and the false-merge bench
(bench/false_merges.py: distinct corpus messages) for the default recall mode
with and without StoreSettings.trace_threshold, and prints, per engine:
recall at each word-change rate, copies landing in another base's mailing,
glued pairs and false merges. It also prints how well the trace separates the
generator's campaigns: the share of mailings whose copies all share one trace,
and the share of pairs of different mailings whose bases share a trace.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from typing import Any

from bench.corpus import require_corpus

CONDITIONS = (("substitute", 0.05), ("substitute", 0.10), ("substitute", 0.15),
              ("substitute", 0.20), ("mixed", 0.05), ("mixed", 0.10))


def trace_spread(bases: list[Any], vocab: Any, copies: int, seed: int) -> dict[str, float]:
    """Return how the generator's traces fall: one per mailing, apart between mailings."""
    from bench.generator import CONFIG, mailing
    from shingles.mail.parse import parse

    per = []
    for base in bases:
        raws = mailing(base, "substitute", 0.2, copies, vocab, seed)
        per.append({parse(raw, base.key, CONFIG).trace for raw in raws})
    firsts = [next(iter(traces)) for traces in per]
    pairs = list(itertools.combinations(firsts, 2))
    return {"mailings_with_one_trace": sum(len(t) == 1 for t in per) / len(per),
            "pairs_of_mailings_sharing_a_trace": sum(a == b for a, b in pairs) / len(pairs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.trace",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--bases", type=int, default=300, help="mailings (default 300)")
    parser.add_argument("--copies", type=int, default=30, help="copies per mailing (default 30)")
    parser.add_argument("--trace-threshold", type=float, default=0.3,
                        help="resemblance enough when traces agree (default 0.3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print all figures as JSON")
    args = parser.parse_args(argv)
    require_corpus()
    from bench import false_merges, recall
    from bench.engines import Engine
    from bench.generator import Vocabulary, load_bases
    from shingles.config import StoreSettings
    from shingles.store.reader import RECALL_SCHEME

    engines = [Engine("recall", StoreSettings(mode="recall"), scheme=RECALL_SCHEME),
               Engine(f"recall+trace t={args.trace_threshold}",
                      StoreSettings(mode="recall", trace_threshold=args.trace_threshold),
                      scheme=RECALL_SCHEME)]
    bases = load_bases()
    vocab = Vocabulary.of(bases)
    picked = recall.pick_bases(bases, args.bases, args.seed)
    spread = trace_spread(picked, vocab, 5, args.seed)
    print(f"traces: {spread['mailings_with_one_trace']:.3f} of mailings have one trace; "
          f"{spread['pairs_of_mailings_sharing_a_trace']:.4f} of pairs of mailings share one",
          file=sys.stderr)
    rows = recall.run(engines, picked, vocab, args.copies, args.seed,
                      conditions=CONDITIONS)["rows"]
    merges = false_merges.run(engines)
    print(f"{'engine':24} {'kind':11} {'rate':>5} {'recall':>7} {'wrong':>7} {'R3':>6}")
    for row in rows:
        print(f"{row['engine']:24} {row['kind']:11} {row['rate']:5.2f} "
              f"{row['target_recall']:7.3f} {row['wrong_base']:7.4f} {row['R3']:6.3f}")
    print(f"\n{'engine':24} {'glued pairs':>11} {'false merges':>12} {'ham+spam':>8} "
          f"{'thread replies glued':>20}")
    for name, figures in merges["engines"].items():
        threads = figures["threads"]
        print(f"{name:24} {figures['glued_pairs']:11d} {figures['false_merges']:12d} "
              f"{figures['ham_with_spam_pairs']:8d} "
              f"{threads['glued']:>9d} / {threads['posts_with_earlier_thread_post']}")
    if args.json:
        print(json.dumps({"spread": spread, "recall": rows, "false_merges": {
            name: {k: v for k, v in f.items() if k != "lowest_examples"}
            for name, f in merges["engines"].items()}}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
