"""The compiled core equals the plain-Python reference bit for bit on any text."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

import shingles
from shingles import Lexicon, LexiconSettings, Scheme, fingerprint
from shingles._reference import CYRILLIC_TO_LATIN

pytestmark = pytest.mark.skipif(shingles.BACKEND != "cython",
                                reason="the compiled core is not built; nothing to compare")

LOOKALIKES = "".join(CYRILLIC_TO_LATIN) + "".join(CYRILLIC_TO_LATIN.values())
# Characters that stress each rule: scripts, digits of other systems, format and
# combining characters, look-alikes, ligatures, full-width forms, lone surrogates.
SPECIALS = ("0123456789٠١٢३४ \t\n\r\x0b\x0c\u00ad\u200b\u200c\u200d\u2060\ufeff\u0301\u0307"
            "ﬁﬀＡＢｃ１２İßẞΣσς€$%&'-_.,!?" + LOOKALIKES + "\ud800\udfff\U0001F600\U0001D400")
# Letters only: digit runs fold to "0", so "w1" and "w2" would be one term.
SYNTHETIC = [a + b + c for a in "bdfk" for b in "aeiou" for c in "lmnprst"]
LINKS = ["https://a.example/x", "HTTP://B.example", "www.c.example.net/", "d.example",
         "(e.example.org).", "<http://f.example/?a=1&b=2>", "g.h", "Ex.com", "a..b", ".com",
         "x.co/日本", "http:/", "www.", "i.e.", "1.2.3"]
WORDS = LINKS + ["the", "sale", "pаypal", "продажа", "прoдажа", "Straße", "ÉCOLE", "日本語", "हिन्दी",
         "x" * 70, "12345", "2024-11-26", "a1b2", "ok"]

texts = st.one_of(
    st.text(max_size=400),
    st.text(alphabet=st.sampled_from(SPECIALS + "abcdeféжик"), max_size=400),
    st.lists(st.sampled_from(WORDS + [" ", "\n", ", "]), max_size=200).map("".join),
    st.lists(st.sampled_from(WORDS), max_size=300).map(" ".join),
)
schemes = st.builds(Scheme, window=st.integers(1, 8), min_shingles=st.integers(1, 20),
                    digits=st.sampled_from(["fold", "keep"]),
                    seed=st.integers(0, 2**64 - 1), links=st.sampled_from(["fold", "keep"]))


def both(text: str, scheme: Scheme = Scheme(), lexicon: Lexicon | None = None) -> None:
    ref = fingerprint(text, scheme, lexicon, backend="python")
    core = fingerprint(text, scheme, lexicon, backend="cython")
    assert core == ref


@given(texts, schemes)
def test_core_equals_reference_on_random_text(text: str, scheme: Scheme) -> None:
    both(text, scheme)


@given(st.lists(texts, min_size=1, max_size=4))
def test_core_equals_reference_when_fed_in_pieces(pieces: list[str]) -> None:
    results = []
    for backend in ("python", "cython"):
        fp = shingles.Fingerprinter(backend=backend)
        for piece in pieces:
            fp.update(piece)
        results.append(fp.digest())
    assert results[0] == results[1] == fingerprint("".join(pieces), backend="cython")


def test_core_equals_reference_across_chunk_cuts() -> None:
    # Texts longer than CHUNK_CHARS are normalised in pieces; the cut rules must agree,
    # with and without white space near the cut, and with marks right after it.
    rnd = random.Random(7)
    with_spaces = " ".join(rnd.choice(WORDS) for _ in range(30_000))
    no_spaces = "é\u0301" * 40_000 + "x" * 70_000
    for text in (with_spaces, no_spaces, with_spaces + no_spaces, "a\u0301 " * 50_000):
        both(text)


def test_core_equals_reference_on_megabytes_of_mixed_text() -> None:
    rnd = random.Random(11)
    alphabet = WORDS + [SPECIALS[i:i + 3] for i in range(0, len(SPECIALS), 3)] + ["\n"]
    text = " ".join(rnd.choice(alphabet) for _ in range(200_000))
    assert len(text.encode("utf-8", "surrogatepass")) > 1_500_000
    both(text)


def test_core_equals_reference_with_a_lexicon() -> None:
    rnd = random.Random(3)
    vocabulary = SYNTHETIC + WORDS
    docs = [" ".join(rnd.choice(vocabulary) for _ in range(rnd.randint(5, 120)))
            for _ in range(400)]
    lexicon = Lexicon.build(docs, settings=LexiconSettings(min_df=2, max_df=0.5, min_terms=3))
    assert len(lexicon) > 50
    for doc in docs[:60]:
        both(doc, lexicon=lexicon)


@given(st.lists(st.sampled_from(WORDS + SYNTHETIC[:40]), max_size=200))
def test_lexicon_signatures_agree_on_random_documents(words: list[str]) -> None:
    docs = [" ".join(words[i:i + 20]) for i in range(0, max(1, len(words)), 5)] + [" ".join(words)]
    lexicon = Lexicon.build(docs, settings=LexiconSettings(min_df=1, max_df=1.0, min_terms=1,
                                                           max_source_share=1.0))
    both(" ".join(words), lexicon=lexicon)
