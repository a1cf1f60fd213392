"""python -m bench [--quick] [--out DIR] [--parts ...]: the benchmark harness of issue 7.

Runs, on the real corpus (../shared/corpus or $SHINGLES_CORPUS):
  recall         recall of each engine against the sqrt(p) bound, per mutation kind and rate
  tune           recall-mode StoreSettings tried against the targets and false merges
  curve          the 2-of-6 curve against P(J); I-Match K=0 and K=10
  false-merges   glued pairs among distinct corpus messages, with examples; thread posts
  speed          signature-only and end-to-end speed, memory and index size beside
                 datasketch and rensa
  effectiveness  missed spam and false positives over one labelled stream (see
                 bench/effectiveness.py for what is judged)
and writes OUT/results.json, OUT/report.md and PNG plots, printing the headline table.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import pathlib
import platform
import subprocess
import sys
import time
from typing import Any

def _where(path: str) -> str:
    """Return where the measured package lives: "source tree" or "installed" (no host paths)."""
    here = pathlib.Path(__file__).resolve().parent.parent
    return "source tree" if pathlib.Path(path).resolve().is_relative_to(here) else "installed"


PARTS = ("recall", "tune", "curve", "false-merges", "speed", "effectiveness")
#: (quick, full) sizes.
SIZES = {
    "recall_bases": (60, 300), "copies": (10, 30), "tune_bases": (60, 200),
    "curve_per_rate": (120, 600), "speed_messages": (2000, 12000),
    "stream_days": (14, 56),
}


def _versions() -> dict[str, str]:
    """Return the versions of Python and of the packages whose speed the report shows:
    a peer's figure moves with its release as well as with the machine."""
    found = {"python": platform.python_version()}
    for name in ("datasketch", "rensa", "lmdb", "selectolax", "numpy"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def _commit() -> tuple[str, list[str]]:
    """Return the commit measured and the tracked code files that differ from it."""
    root = pathlib.Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--name-only", "HEAD", "--", "bench", "shingles",
                                "ext", "setup.py"], cwd=root, capture_output=True, text=True,
                               check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return "unknown", []
    return head, dirty


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: about 4 minutes of one core")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="output folder (default bench/out/quick or bench/out/full)")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--conditions", default=None,
                        help="comma-separated recall conditions KIND:RATE (default: all), "
                             "e.g. substitute:0.05,greeting+token:0")
    parser.add_argument("--engines", default=None,
                        help="comma-separated engine names to run (default: all), e.g. recall")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    size = {k: v[0 if args.quick else 1] for k, v in SIZES.items()}
    out = args.out or pathlib.Path("bench/out") / ("quick" if args.quick else "full")

    from bench.corpus import require_corpus

    require_corpus()
    import shingles
    from bench import report
    from bench.engines import ENGINES, TUNING
    from bench.generator import Vocabulary, load_bases
    from shingles.scheme import DEFAULT_SCHEME

    try:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        # Wide enough for the headline table when stderr is a file or a pipe.
        console: Any = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
        progress: Any = Progress(TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total}"),
                                 TimeElapsedColumn(), console=console)
    except ImportError:
        console, progress = None, None
        print("bench: rich is not installed, no progress bars: pip install '.[bench]'",
              file=sys.stderr)

    def say(text: str) -> None:
        (console.print if console else print)(text)

    started = time.perf_counter()
    commit, dirty = _commit()
    results: dict[str, Any] = {"mode": "quick" if args.quick else "full", "commit": commit,
                               "dirty": dirty, "backend": shingles.BACKEND,
                               "scheme": DEFAULT_SCHEME.id, "seed": args.seed,
                               "cpus": os.cpu_count(), "sizes": size, "parts": parts,
                               "shingles_path": _where(shingles.__file__),
                               "versions": _versions()}
    say(f"shingles bench: {results['mode']} run of {', '.join(parts)}; backend "
        f"{shingles.BACKEND} from {results['shingles_path']}; commit "
        f"{commit[:10]}{'+' if dirty else ''}")
    bases = load_bases()
    vocab = Vocabulary.of(bases)
    say(f"corpus: {len(bases)} distinct bases of >= 100 words")
    engines = list(ENGINES)
    if args.engines:
        wanted = [name.strip() for name in args.engines.split(",")]
        engines = [engine for engine in ENGINES if engine.name in wanted]
        if len(engines) != len(wanted):
            parser.error(f"unknown engine(s); known: {', '.join(e.name for e in ENGINES)}")

    from contextlib import nullcontext

    with progress or nullcontext():
        if "recall" in parts:
            from bench import recall

            picked = recall.pick_bases(bases, size["recall_bases"], args.seed)
            from bench.generator import CONDITIONS

            conditions = CONDITIONS
            if args.conditions:
                conditions = tuple((kind, float(rate or 0)) for kind, _, rate in (
                    item.strip().partition(":") for item in args.conditions.split(",")))
            results["recall"] = recall.run(engines, picked, vocab, size["copies"], args.seed,
                                           progress, conditions)
            report.print_headline(results, console)
        if "tune" in parts:
            from bench import false_merges, recall

            picked = recall.pick_bases(bases, size["tune_bases"], args.seed + 1)
            headline = tuple((k, r) for k, r, _ in report.HEADLINE)
            results["tuning"] = {
                "recall": recall.run(list(TUNING), picked, vocab, 5, args.seed, progress,
                                     headline)["rows"],
                "false_merges": false_merges.run(list(TUNING), progress)}
        if "curve" in parts:
            from bench import curve, recall

            picked = recall.pick_bases(bases, 400, args.seed + 2)
            results["curve"] = curve.run(picked, size["curve_per_rate"], args.seed)
            c = results["curve"]
            say(f"2-of-6 against P(J): chi-square {c['chi2']:.1f} over {c['bins_fitted']} bins "
                f"(95% critical {c['critical_95']:.1f}): "
                f"{'agrees' if c['fit_agrees'] else 'DISAGREES'}")
        if "false-merges" in parts:
            from bench import false_merges

            results["false_merges"] = false_merges.run(engines, progress)
        if "speed" in parts:
            from bench import speed
            from bench.generator import corpus_mails

            texts = [m.text for _, m in corpus_mails()]
            results["speed"] = speed.run(bases, texts, size["speed_messages"], args.quick,
                                         args.seed, progress)
        if "effectiveness" in parts:
            from bench import effectiveness

            results["effectiveness"] = effectiveness.run(engines, bases, vocab,
                                                         size["stream_days"], args.seed,
                                                         progress)
    results["seconds"] = time.perf_counter() - started
    report.write(results, out)
    report.print_headline(results, console)
    if "recall" in parts:
        held = results["recall"]["bound_held_everywhere"]
        say(f"R >= bound on every mailing of every row: {'yes' if held else 'NO'}")
    say(f"wrote {out / 'results.json'}, {out / 'report.md'} and {len(results['plots'])} plots "
        f"in {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
