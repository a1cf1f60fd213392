"""How the shingle window w and the minimum shingle count were chosen.

Run from the repository root with the package installed:

    python bench/bench_window.py [--bases 300] [--out bench/out/window]

On the real corpus (../shared/corpus or $SHINGLES_CORPUS) it prints, for each
window w, the paper rule's (a shared mega-shingle) recall on copies of corpus
messages with small changes and its glued pairs among the distinct corpus
messages; then, for w = 4, the glued pairs by the minimum number of distinct
shingles a text needs for a signature, counting those that involve short texts.
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import random
import statistics
import sys
from collections import defaultdict

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from corpus import bodies, write_results  # noqa: E402
from shingles import Fingerprint, Scheme, fingerprint  # noqa: E402
from shingles._reference import tokens  # noqa: E402

GREETINGS = ["Dear {}!", "Hello {},", "Hi {} -", "Good morning {},"]
NAMES = ["Alice", "Boris Petrov", "Chen Wei", "Dolores", "Ekaterina", "Frank", "Gita"]


def substitute(words: list[str], rate: float, vocabulary: list[str], rnd: random.Random) -> str:
    return " ".join(rnd.choice(vocabulary) if rnd.random() < rate else w for w in words)


def greet_and_token(words: list[str], rnd: random.Random) -> str:
    token = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
    greeting = rnd.choice(GREETINGS).format(rnd.choice(NAMES))
    return f"{greeting}\n{' '.join(words)}\nref {token}"


def glued_pairs(fps: list[Fingerprint]) -> set[tuple[int, int]]:
    """Return the pairs of indexes that share a mega-shingle."""
    by_key: dict[int, list[int]] = defaultdict(list)
    for i, fp in enumerate(fps):
        for key in fp.megashingles:
            by_key[key].append(i)
    pairs = set()
    for members in by_key.values():
        pairs.update(itertools.combinations(sorted(set(members)), 2))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bases", type=int, default=300, help="base messages for recall")
    parser.add_argument("--out", default="bench/out/window")
    args = parser.parse_args()

    ham = bodies(("ham",), quoted=False)  # what the engine fingerprints
    texts = ham + bodies(("spam",), quoted=False)
    seen, distinct, is_ham = set(), [], []
    for number, text in enumerate(texts):
        key = " ".join(tokens(text, Scheme()))
        if key not in seen:
            seen.add(key)
            distinct.append(text)
            is_ham.append(number < len(ham))
    all_pairs = len(distinct) * (len(distinct) - 1) // 2
    print(f"corpus: {len(texts)} messages, {len(distinct)} distinct after removing exact "
          f"duplicates of the token stream ({all_pairs} pairs)")

    rnd = random.Random(4)
    token_lists = [tokens(t, Scheme()) for t in distinct]
    long_ones = [words for words in token_lists if len(words) >= 100]
    bases = rnd.sample(long_ones, min(args.bases, len(long_ones)))
    vocabulary = sorted({w for words in long_ones for w in words})
    copies = {
        "5% words": [(b, substitute(b, 0.05, vocabulary, rnd)) for b in bases],
        "10% words": [(b, substitute(b, 0.10, vocabulary, rnd)) for b in bases],
        "greeting+token": [(b, greet_and_token(b, rnd)) for b in bases],
    }

    results: dict[str, object] = {"distinct_messages": len(distinct), "pairs": all_pairs}
    print(f"\nrecall of the paper rule (copy matches its base, {len(bases)} bases of >= 100 "
          "words) and glued pairs among distinct corpus messages, by window w")
    print(f"{'w':>2} " + " ".join(f"{k:>15}" for k in copies) + f" {'glued pairs':>12} "
          f"{'messages in them':>17} {'ham-spam pairs':>15}")
    by_window = {}
    for w in (2, 3, 4, 5, 6):
        scheme = Scheme(window=w)
        recall = {kind: statistics.fmean(
            float(fingerprint(" ".join(base), scheme).matches(fingerprint(copy, scheme)))
            for base, copy in pairs) for kind, pairs in copies.items()}
        glued = glued_pairs([fingerprint(t, scheme) for t in distinct])
        involved = len({i for pair in glued for i in pair})
        # A ham glued to a spam is a false merge for sure; the rest may be real copies.
        crossed = sum(is_ham[i] != is_ham[j] for i, j in glued)
        by_window[w] = {"recall": recall, "glued_pairs": len(glued), "messages": involved,
                        "ham_spam_pairs": crossed}
        print(f"{w:>2} " + " ".join(f"{recall[k]:15.3f}" for k in copies)
              + f" {len(glued):12d} {involved:17d} {crossed:15d}")
    results["by_window"] = by_window

    print("\nglued pairs at w = 4 by minimum distinct shingles (short = under 40 words)")
    print(f"{'min':>4} {'glued pairs':>12} {'with a short text':>18} {'texts with signature':>21}")
    by_minimum = {}
    lengths = [len(words) for words in token_lists]
    for minimum in (1, 4, 8, 12, 16, 24, 32):
        fps = [fingerprint(t, Scheme(min_shingles=minimum)) for t in distinct]
        glued = glued_pairs(fps)
        short = sum(1 for i, j in glued if min(lengths[i], lengths[j]) < 40)
        signed = sum(fp.has_shingles for fp in fps)
        by_minimum[minimum] = {"glued_pairs": len(glued), "with_short": short,
                               "with_signature": signed}
        print(f"{minimum:4d} {len(glued):12d} {short:18d} {signed:21d}")
    results["by_min_shingles"] = by_minimum

    write_results(args.out, results)


if __name__ == "__main__":
    main()
