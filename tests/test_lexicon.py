"""I-Match lexicons: the frequency band, sub-lexicons, the source cap, and the file format."""

from __future__ import annotations

import pathlib
import random
from collections.abc import Callable

import pytest

from shingles import Lexicon, LexiconFormatError, LexiconSettings, Scheme, fingerprint
from shingles._reference import tokens, xxh3
from shingles.lexicon import capped_total

WORDS = [a + b + c + d for a in "bdfgklmnprst" for b in "aeiou" for c in "lmnrst" for d in "aeo"]


def term(word: str) -> int:
    return xxh3(word.encode(), Scheme().seed)


def corpus(documents: int = 300, seed: int = 1) -> list[str]:
    """Documents over a Zipf-like vocabulary: a few words everywhere, many rare ones."""
    rnd = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    return [" ".join(rnd.choices(WORDS, weights, k=80)) for _ in range(documents)]


def test_lexicon_keeps_the_middle_band_of_document_frequency() -> None:
    docs = corpus()
    settings = LexiconSettings(min_df=3, max_df=0.10)
    lexicon = Lexicon.build(docs, settings=settings)
    df: dict[str, int] = {}
    for doc in docs:
        for word in set(tokens(doc, Scheme())):
            df[word] = df.get(word, 0) + 1
    expected = {term(w) for w, n in df.items() if 3 <= n <= 0.10 * len(docs)}
    assert set(lexicon.terms) == expected and len(expected) > 100
    assert list(lexicon.terms) == sorted(lexicon.terms)


def test_sub_lexicons_hold_about_their_fraction_and_bit_zero_is_the_main() -> None:
    lexicon = Lexicon.build(corpus(), settings=LexiconSettings(sub_fraction=0.7, sub_lexicons=10))
    assert lexicon.signatures == 11 and all(mask & 1 for mask in lexicon.masks)
    for k in range(1, 11):
        share = sum(mask >> k & 1 for mask in lexicon.masks) / len(lexicon)
        assert 0.55 < share < 0.85


def test_changed_word_breaks_the_main_signature_but_a_sub_lexicon_still_matches() -> None:
    lexicon = Lexicon.build(corpus(), settings=LexiconSettings(min_terms=5))
    in_lexicon = [w for w in WORDS if term(w) in set(lexicon.terms)]
    original = " ".join(in_lexicon[:30])
    changed = " ".join(in_lexicon[:29] + in_lexicon[40:41])
    a, b = fingerprint(original, lexicon=lexicon), fingerprint(changed, lexicon=lexicon)
    assert len(a.imatch) == 11
    assert a.imatch[0] != b.imatch[0]  # the main lexicon signature broke
    assert set(a.imatch) & set(b.imatch)  # Lexicon Randomization rescues the match
    assert a.matches(b)


def test_too_few_lexicon_terms_give_no_signature() -> None:
    lexicon = Lexicon.build(corpus(), settings=LexiconSettings(min_terms=8))
    in_lexicon = [w for w in WORDS if term(w) in set(lexicon.terms)]
    assert fingerprint(" ".join(in_lexicon[:7]), lexicon=lexicon).imatch == ()
    assert fingerprint(" ".join(in_lexicon[:8]), lexicon=lexicon).imatch[0] >> 56 == 0


def test_capped_total_limits_one_sources_share() -> None:
    assert capped_total([1000], 0.25) == 1  # a single source counts once
    assert capped_total([1000, 10, 10, 10], 0.25) == 10 + 30  # at most a quarter of the total
    assert capped_total([5, 5, 5, 5], 0.25) == 20  # balanced sources are untouched
    assert capped_total([1000, 10], 1.0) == 1010  # cap off


def test_one_source_cannot_push_a_word_into_the_lexicon() -> None:
    docs: list[tuple[str, str | None]] = [(doc, None) for doc in corpus(200)]
    # A spammer sends 20 messages all carrying "zzyzx" to get it into the lexicon.
    docs += [("zzyzx " + doc, "spammer.example") for doc in corpus(20, seed=9)]
    capped = Lexicon.build(docs, settings=LexiconSettings(min_df=3))
    uncapped = Lexicon.build(docs, settings=LexiconSettings(min_df=3, max_source_share=1.0))
    assert term("zzyzx") in uncapped.terms
    assert term("zzyzx") not in capped.terms


def test_one_source_cannot_push_words_out_by_flooding() -> None:
    docs: list[tuple[str, str | None]] = [(doc, None) for doc in corpus(200)]
    clean = Lexicon.build(docs)
    # 5,000 near-empty messages from one sender would make every real word look
    # ten times rarer and drag the common ones into the band.
    flooded = Lexicon.build(docs + [("hello", "flood.example")] * 5000)
    assert set(clean.terms) - set(flooded.terms) == set()


def test_save_and_load_round_trip(tmp_path: pathlib.Path) -> None:
    lexicon = Lexicon.build(corpus())
    path = tmp_path / "lexicon.shlx"
    lexicon.save(path)
    loaded = Lexicon.load(path)
    assert loaded == lexicon and loaded.id == lexicon.id
    text = corpus(1, seed=4)[0]
    assert fingerprint(text, lexicon=loaded) == fingerprint(text, lexicon=lexicon)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:10], "too short"),
    (lambda b: b"XXXX" + b[4:], "bad magic"),
    (lambda b: b[:4] + b"\x09\x00" + b[6:], "format 9 is not supported"),
    (lambda b: b[:-20] + bytes([b[-20] ^ 1]) + b[-19:], "checksum"),
    (lambda b: b[:-12] + b[-8:], "checksum"),
])
def test_damaged_files_are_refused(damage: Callable[[bytes], bytes], message: str) -> None:
    blob = Lexicon.build(corpus(50)).to_bytes()
    with pytest.raises(LexiconFormatError, match=message):
        Lexicon.from_bytes(damage(blob))
