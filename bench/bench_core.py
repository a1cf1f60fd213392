"""Benchmark of the signature core: speed beside its peers, estimator bias, the 2-of-6 curve.

Run from the repository root, with the package installed (pip install '.[bench]'):

    python bench/bench_core.py [--quick] [--out bench/out/core]

It reads the real corpus (../shared/corpus or $SHINGLES_CORPUS) and prints:
1. Speed, one process on one core, on the visible text of every corpus message
   (--quick: every 10th): our compiled core, the plain-Python reference,
   datasketch MinHash(num_perm=84) in its default set-up and rensa RMinHash(84),
   the peers fed with 4-word shingles built in Python (how their users feed
   them) and once more with the shingles built beforehand. Every engine times
   the same texts, the same rounds (3; --quick 1), and reports the median round;
   us/message, messages/s, MB/s of the text bytes timed, our speed-up over each.
2. Estimator bias: copies of corpus bodies with a share q of words substituted;
   mean (estimated resemblance - exact Jaccard of the shingle sets), with its
   standard error. An unbiased estimator gives 0 within noise; the bar is 0.01.
3. The >= 2-of-6 rule: share of pairs sharing a mega-shingle, by bins of exact
   Jaccard J, beside P(J) = 1 - (1 - J^14)^6 - 6 J^14 (1 - J^14)^5 averaged over
   the bin's pairs, and z = (measured - expected) / binomial error; the sum of
   z^2 over the bins is compared with chi-square's 95% point (one |z| above 2
   among nine bins is what chance gives a third of the time).
Results also go to OUT/results.json.
"""

from __future__ import annotations

import argparse
import gc
import math
import pathlib
import random
import statistics
import sys
import time
from collections.abc import Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import shingles  # noqa: E402
from corpus import bodies, write_results  # noqa: E402
from shingles import Scheme, fingerprint  # noqa: E402
from shingles._reference import tokens  # noqa: E402

SCHEME = Scheme()


def python_shingles(text: str, w: int = 4) -> list[str]:
    """Return w-word shingles the way a datasketch or rensa user builds them."""
    words = text.lower().split()
    return [" ".join(words[i:i + w]) for i in range(len(words) - w + 1)]


#: Rounds each engine runs over the texts; every engine reports the median round.
ROUNDS = {True: 1, False: 3}
#: --quick times every 10th corpus text; the full run all of them.
QUICK_STRIDE = 10


def time_rounds(run: Callable[[str], object], texts: list[str], rounds: int) -> list[float]:
    """Return the seconds of each of `rounds` runs over texts (garbage collector on, as
    callers run it, after a collection so no round pays for the one before)."""
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        for text in texts:
            run(text)
        times.append(time.perf_counter() - start)
    return times


def speed(texts: list[str], quick: bool) -> dict[str, dict[str, float]]:
    """Return one row per engine: every engine times the same texts, the same number of
    rounds, and reports the median round; MB/s counts the UTF-8 bytes of those texts."""
    timed = texts[::QUICK_STRIDE] if quick else texts
    rounds = ROUNDS[quick]
    timed_bytes = sum(len(t.encode("utf-8")) for t in timed)
    runs: dict[str, Callable[[str], object]] = {}
    runs["shingles (cython)"] = lambda t: fingerprint(t, backend="cython")
    runs["shingles (python reference)"] = lambda t: fingerprint(t, backend="python")
    # Shingles built beforehand for the "given" rows, so no one can say we timed split().
    given = {id(t): python_shingles(t) for t in timed}
    try:
        from datasketch import MinHash

        def datasketch_default(text: str) -> object:
            m = MinHash(num_perm=84)
            for shingle in python_shingles(text):
                m.update(shingle.encode("utf-8"))
            return m.digest()

        encoded = {key: [s.encode("utf-8") for s in value] for key, value in given.items()}

        def datasketch_given(text: str) -> object:
            m = MinHash(num_perm=84)
            for shingle in encoded[id(text)]:
                m.update(shingle)
            return m.digest()

        runs["datasketch MinHash(84)"] = datasketch_default
        runs["datasketch, shingles given"] = datasketch_given
    except ImportError:
        print("datasketch is not installed: pip install '.[bench]'", file=sys.stderr)
    try:
        from rensa import RMinHash

        def rensa_default(text: str) -> object:
            m = RMinHash(num_perm=84, seed=42)
            m.update(python_shingles(text))
            return m.digest()

        def rensa_given(text: str) -> object:
            m = RMinHash(num_perm=84, seed=42)
            m.update(given[id(text)])
            return m.digest()

        runs["rensa RMinHash(84)"] = rensa_default
        runs["rensa, shingles given"] = rensa_given
    except ImportError:
        print("rensa is not installed: pip install '.[bench]'", file=sys.stderr)

    results = {}
    for name, run in runs.items():
        times = time_rounds(run, timed, rounds)
        seconds = statistics.median(times)
        results[name] = {"us_per_message": seconds / len(timed) * 1e6,
                         "messages_per_s": len(timed) / seconds,
                         "mb_per_s": timed_bytes / seconds / 1e6, "messages": len(timed),
                         "bytes": timed_bytes, "rounds": rounds, "statistic": "median",
                         "round_seconds": times}
    ours = results["shingles (cython)"]["us_per_message"]
    for row in results.values():
        row["ours_faster_by"] = row["us_per_message"] / ours
    return results


def shingle_set(words: list[str], w: int) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + w]) for i in range(len(words) - w + 1)}


def p_two_of_six(j: float) -> float:
    s = j ** 14
    return 1 - (1 - s) ** 6 - 6 * s * (1 - s) ** 5


def chi2_critical_95(dof: int) -> float:
    """Return the 95th percentile of chi-square with dof degrees (Wilson-Hilferty)."""
    z, k = 1.6449, float(dof)
    return k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3


def make_pairs(texts: list[str], rates: list[float], per_rate: int,
               seed: int) -> list[tuple[float, shingles.Fingerprint, shingles.Fingerprint]]:
    """Return (exact Jaccard, fingerprint of base, fingerprint of copy) triples."""
    rnd = random.Random(seed)
    bases = [words for words in (tokens(t, SCHEME) for t in texts) if len(words) >= 100]
    vocabulary = sorted({word for words in bases for word in words})
    pairs = []
    for rate in rates:
        for _ in range(per_rate):
            words = rnd.choice(bases)
            copy = [rnd.choice(vocabulary) if rnd.random() < rate else w for w in words]
            a, b = shingle_set(words, SCHEME.window), shingle_set(copy, SCHEME.window)
            exact = len(a & b) / len(a | b)
            one, two = fingerprint(" ".join(words)), fingerprint(" ".join(copy))
            if one.has_shingles and two.has_shingles:  # repetitive bodies can fall short
                pairs.append((exact, one, two))
    return pairs


def bias(pairs: list[tuple[float, shingles.Fingerprint, shingles.Fingerprint]]) -> dict[str, float]:
    errors = [a.resemblance(b) - exact for exact, a, b in pairs]
    return {"pairs": len(errors), "mean_error": statistics.fmean(errors),
            "standard_error": statistics.stdev(errors) / math.sqrt(len(errors))}


def two_of_six(pairs: list[tuple[float, shingles.Fingerprint, shingles.Fingerprint]]
               ) -> list[dict[str, float]]:
    edges = [0.0, 0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96, 0.98, 1.0001]
    rows = []
    for low, high in zip(edges, edges[1:]):
        inside = [(exact, a, b) for exact, a, b in pairs if low <= exact < high]
        if len(inside) < 30:
            continue
        measured = statistics.fmean(float(a.matches(b)) for _, a, b in inside)
        expected = statistics.fmean(p_two_of_six(exact) for exact, _, _ in inside)
        error = math.sqrt(max(expected * (1 - expected), 1e-12) / len(inside))
        rows.append({"j_low": low, "j_high": min(high, 1.0), "pairs": len(inside),
                     "mean_j": statistics.fmean(e for e, _, _ in inside),
                     "measured": measured, "expected": expected, "binomial_error": error,
                     "z": (measured - expected) / error})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every 10th text, one round, fewer pairs")
    parser.add_argument("--out", default="bench/out/core", help="folder for results.json")
    args = parser.parse_args()

    print(f"backend: {shingles.BACKEND}; scheme: {SCHEME.id}")
    texts = bodies()
    print(f"corpus: {len(texts)} messages, mean {statistics.fmean(len(t.encode()) for t in texts):.0f}"
          " bytes of visible text")

    results: dict[str, object] = {"scheme": SCHEME.id, "backend": shingles.BACKEND}
    table = speed(texts, args.quick)
    first = next(iter(table.values()))
    print(f"\n1. speed, one core (text -> fingerprint): every engine on the same "
          f"{first['messages']:.0f} texts ({first['bytes'] / 1e6:.1f} MB), median of "
          f"{first['rounds']:.0f} round(s)")
    results["speed"] = table
    print(f"{'engine':30} {'us/msg':>9} {'msgs/s':>9} {'MB/s':>7} {'ours x':>8}")
    for name, row in table.items():
        print(f"{name:30} {row['us_per_message']:9.1f} {row['messages_per_s']:9.0f} "
              f"{row['mb_per_s']:7.1f} {row['ours_faster_by']:8.1f}")

    per_rate = 150 if args.quick else 800
    rates = [0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2]
    pairs = make_pairs(texts, rates, per_rate, seed=1)
    print(f"\n2. estimator bias over {len(pairs)} pairs (copies with {rates} of words substituted)")
    results["bias"] = bias(pairs)
    b = results["bias"]
    print(f"mean(estimate - exact Jaccard) = {b['mean_error']:+.4f} "  # type: ignore[index]
          f"(standard error {b['standard_error']:.4f}); bar: |bias| <= 0.01")

    print("\n3. the >= 2-of-6 rule against P(J)")
    rows = two_of_six(pairs)
    results["two_of_six"] = rows
    print(f"{'J bin':13} {'pairs':>6} {'mean J':>7} {'measured':>9} {'P(J)':>7} {'error':>7} {'z':>6}")
    for row in rows:
        print(f"[{row['j_low']:.2f}, {row['j_high']:.2f}) {row['pairs']:6d} {row['mean_j']:7.3f} "
              f"{row['measured']:9.3f} {row['expected']:7.3f} {row['binomial_error']:7.3f} "
              f"{row['z']:+6.2f}")
    chi2 = sum(row["z"] ** 2 for row in rows)
    critical = chi2_critical_95(len(rows))
    results["two_of_six_chi2"] = {"chi2": chi2, "bins": len(rows), "critical_95": critical}
    print(f"chi-square over the {len(rows)} bins = {chi2:.1f} (95% critical value "
          f"{critical:.1f}): measured rates {'agree' if chi2 <= critical else 'DISAGREE'} with P(J)")

    write_results(args.out, results)


if __name__ == "__main__":
    main()
