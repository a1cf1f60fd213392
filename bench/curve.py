"""The 2-of-6 curve and I-Match, on pairs of texts with controlled Jaccard resemblance.

Pairs: a corpus base (>= 100 words, as the scheme's tokens) and a copy with a
share q of its words replaced by corpus words, q from 0.25% to 50%; J is the
exact Jaccard resemblance of the two shingle sets. By bins of J:
- the share of pairs with a shared mega-shingle (>= 2 of 6 super-shingles
  equal) beside P(J) = 1 - (1 - J^14)^6 - 6 J^14 (1 - J^14)^5, with binomial
  errors and a chi-square (bench_core.two_of_six does the binning and fit);
- I-Match alone: the share of pairs with an equal main signature (K = 0) and
  with any equal signature of the main and 10 sub-lexicons (K = 10), lexicon
  built from the corpus; and the paper's rule (mega-shingle or I-Match).
"""

from __future__ import annotations

import random
import statistics
from typing import Any

from bench.bench_core import chi2_critical_95, p_two_of_six, shingle_set, two_of_six
from bench.engines import corpus_lexicon
from bench.generator import Base
from shingles import fingerprint
from shingles._reference import tokens
from shingles.fingerprint import Fingerprint
from shingles.scheme import DEFAULT_SCHEME

RATES = (0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5)
EDGES = (0.0, 0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.96, 0.98, 1.0001)


def pairs(bases: list[Base], per_rate: int, seed: int) -> list[tuple[float, str, str]]:
    """Return (exact Jaccard, base text, copy text) for per_rate copies at each rate."""
    rnd = random.Random(f"curve/{seed}")
    words = [tokens(b.text, DEFAULT_SCHEME) for b in bases]
    vocabulary = sorted({w for ws in words for w in ws})
    w = DEFAULT_SCHEME.window
    out = []
    for rate in RATES:
        for _ in range(per_rate):
            base = rnd.choice(words)
            copy = [rnd.choice(vocabulary) if rnd.random() < rate else x for x in base]
            a, b = shingle_set(base, w), shingle_set(copy, w)
            out.append((len(a & b) / len(a | b), " ".join(base), " ".join(copy)))
    return out


def _imatch_equal(a: Fingerprint, b: Fingerprint, main_only: bool) -> bool:
    mine = {s for s in a.imatch if not main_only or s >> 56 == 0}
    return bool(mine & set(b.imatch))


def run(bases: list[Base], per_rate: int, seed: int) -> dict[str, Any]:
    """Return the 2-of-6 bins with their fit, and I-Match rates by bin."""
    made = pairs(bases, per_rate, seed)
    lexicon = corpus_lexicon(10)
    plain = [(j, fingerprint(a), fingerprint(b)) for j, a, b in made]
    lexical = [(j, fingerprint(a, lexicon=lexicon), fingerprint(b, lexicon=lexicon))
               for j, a, b in made]
    rows = two_of_six(plain)
    chi2 = sum(r["z"] ** 2 for r in rows)
    bins = []
    for low, high in zip(EDGES, EDGES[1:]):
        inside = [(j, a, b) for j, a, b in lexical if low <= j < high]
        if not inside:
            continue
        signed = [(j, a, b) for j, a, b in inside if a.imatch and b.imatch]
        bins.append({
            "j_low": low, "j_high": min(high, 1.0), "pairs": len(inside),
            "mean_j": statistics.fmean(j for j, _, _ in inside),
            "two_of_six": statistics.fmean(
                bool(set(a.megashingles) & set(b.megashingles)) for _, a, b in inside),
            "p_j": statistics.fmean(p_two_of_six(j) for j, _, _ in inside),
            "imatch_k0": statistics.fmean(_imatch_equal(a, b, True) for _, a, b in inside),
            "imatch_k10": statistics.fmean(_imatch_equal(a, b, False) for _, a, b in inside),
            "paper_rule": statistics.fmean(a.matches(b) for _, a, b in inside),
            "with_imatch_signature": len(signed) / len(inside),
        })
    return {"pairs": len(made), "rates": list(RATES), "two_of_six": rows,
            "chi2": chi2, "bins_fitted": len(rows), "critical_95": chi2_critical_95(len(rows)),
            "fit_agrees": chi2 <= chi2_critical_95(len(rows)), "imatch": bins,
            "lexicon_terms": len(lexicon)}
