"""What a fingerprint is made of, and how it behaves on real kinds of change and bad input."""

from __future__ import annotations

import dataclasses
import pathlib
import pickle
import random
import struct
import tracemalloc

import pytest
import xxhash

import shingles
import shingles.scheme
from shingles._backend import BackendName
from shingles import Fingerprinter, Scheme, SchemeMismatchError, fingerprint
from shingles._reference import tokens

LETTER_WORDS = [a + b + c + d for a in "bcdfgklmnprstvz" for b in "aeiouy"
                for c in "lmnprst" for d in "aeiou"]


def prose(seed: int, words: int = 200) -> str:
    """Return a deterministic random text of distinct-looking words."""
    rnd = random.Random(seed)
    return " ".join(rnd.choice(LETTER_WORDS) for _ in range(words))


NEWSLETTER = prose(1, 250)


# ---------------------------------------------------------------- tokens


@pytest.mark.parametrize("text, expected", [
    ("Hello, WORLD!", ["hello", "world"]),
    ("ＦＲＥＥ ｍｏｎｅｙ", ["free", "money"]),                       # NFKC: full-width forms
    ("ﬁnance Straße", ["finance", "strasse"]),                       # NFKC ligature, case folding
    ("pay\u200bpal pay\u00adpal pay\u2060pal", ["paypal"] * 3),      # format characters deleted
    ("pаypal", ["paypal"]),                                          # Cyrillic а in a Latin word
    ("прoдажа", ["продажа"]),                                        # Latin o in a Cyrillic word
    ("продажа paypal", ["продажа", "paypal"]),                       # single-script words untouched
    ("Привет, мир", ["привет", "мир"]),
    ("order 12345 on 2024-11-26", ["order", "0", "on", "0", "0", "0"]),
    ("abc123def ٤٥٦", ["abc0def", "0"]),                             # any decimal digits fold
    ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),                                 # combining marks stay inside
    ("x" * 130, ["x" * 64, "x" * 64, "xx"]),                         # long runs are cut
    ("", []),
    ("\ud800 lone \udfff surrogates", ["lone", "surrogates"]),
])
def test_tokens(text: str, expected: list[str]) -> None:
    assert tokens(text, Scheme()) == expected


def test_digits_can_be_kept() -> None:
    assert tokens("order 12345", Scheme(digits="keep")) == ["order", "12345"]


@pytest.mark.parametrize("text, expected", [
    ("see https://Track.Example.com/x?id=9&u=Ann now", ["see", "//", "now"]),
    ("(www.shop.example.net/a), or mail.example.org.", ["//", "or", "//"]),
    ("<HTTP://a.example/p> a.b.co/x?y", ["//", "//"]),
    ("e.g. i.e. U.S. v1.2.3 3.5mm Ex.Com done.", ["e", "g", "i", "e", "u", "s", "v0", "0", "0",
                                                  "0", "0mm", "ex", "com", "done"]),
    ("mail bob@example.com", ["mail", "bob", "example", "com"]),    # an address is no link
])
def test_links_and_host_names_fold_to_one_token(text: str, expected: list[str]) -> None:
    assert tokens(text, Scheme()) == expected
    assert "//" not in tokens(text, Scheme(links="keep"))


def test_copies_with_rotated_link_domains_are_one_text(backend: BackendName) -> None:
    a = NEWSLETTER + " click https://x7.spam-a.example/t/123 or visit spam-a.example today"
    b = NEWSLETTER + " click http://go.other-b.example/t/9 or visit other-b.example today"
    assert fingerprint(a, backend=backend) == fingerprint(b, backend=backend)
    keep = Scheme(links="keep")
    assert fingerprint(a, keep, backend=backend) != fingerprint(b, keep, backend=backend)


def test_an_older_scheme_version_is_refused_with_a_clear_message(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shingles.store.reader import Store

    with monkeypatch.context() as patch:
        patch.setattr(shingles.scheme, "SCHEME_VERSION", 1)
        old = Scheme()
        Store(tmp_path / "s", scheme=old).close()
    assert old.id.startswith("shingles/1 ") and old.id != Scheme().id
    with pytest.raises(SchemeMismatchError, match="scheme version 1.* rebuild it"):
        Scheme.from_id(old.id)
    with pytest.raises(SchemeMismatchError, match="version 1"):
        Store(tmp_path / "s").close()


# ---------------------------------------------------------------- the record


def test_record_has_the_papers_shape(backend: BackendName) -> None:
    fp = fingerprint(NEWSLETTER, backend=backend)
    assert len(fp.minhashes) == 84 and len(fp.supershingles) == 6 and len(fp.megashingles) == 15
    assert all(0 <= v < 2**64 for v in fp.minhashes + fp.supershingles + fp.megashingles)
    assert [m >> 60 for m in fp.megashingles] == list(range(15))  # tagged by pair
    assert fp.reason is None and fp.has_shingles
    assert fp.scheme == Scheme().id and fp.imatch == () and fp.lexicon is None


def test_supershingles_are_hashes_of_14_consecutive_minhashes() -> None:
    fp = fingerprint(NEWSLETTER)
    seed = Scheme().seed
    for k in range(6):
        block = struct.pack("<14Q", *fp.minhashes[14 * k:14 * k + 14])
        assert fp.supershingles[k] == xxhash.xxh3_64_intdigest(block, seed + 4 + k)


def test_fingerprint_is_a_frozen_picklable_value() -> None:
    fp = fingerprint(NEWSLETTER)
    assert pickle.loads(pickle.dumps(fp)) == fp
    with pytest.raises(dataclasses.FrozenInstanceError):
        fp.tokens = 0  # type: ignore[misc]
    assert fp.to_json()["megashingles"][0] == f"{fp.megashingles[0]:016x}"


def test_scheme_id_names_every_parameter() -> None:
    scheme = Scheme(window=5, min_shingles=20, digits="keep", seed=7)
    for part in ("w=5", "perm=84", "bands=6x14", "min=20", "digits=keep", "links=fold",
                 "seed=0x0000000000000007", "unicode="):
        assert part in scheme.id
    with pytest.raises(ValueError):
        Scheme(window=0)
    with pytest.raises(ValueError):
        Scheme(digits="drop")  # type: ignore[arg-type]


# ---------------------------------------------------------------- matching


def substitute(text: str, share: float, seed: int) -> str:
    rnd = random.Random(seed)
    return " ".join(rnd.choice(LETTER_WORDS) if rnd.random() < share else w
                    for w in text.split())


def test_personalised_copies_with_random_tokens_match(backend: BackendName) -> None:
    one = fingerprint(f"Hello Alice,\n{NEWSLETTER}\nref: x8f3k2q9", backend=backend)
    two = fingerprint(f"Dear Bob!\n{NEWSLETTER}\nref: 77zz1m0p", backend=backend)
    assert one.matches(two)
    assert one.resemblance(two) > 0.9


def test_lookalike_and_invisible_character_tricks_do_not_break_the_match() -> None:
    tricked = NEWSLETTER.replace("o", "\u043e").replace("a", "a\u200b")
    assert fingerprint(tricked).minhashes == fingerprint(NEWSLETTER).minhashes


def test_unrelated_texts_do_not_match() -> None:
    fps = [fingerprint(prose(seed)) for seed in range(100, 140)]
    assert not any(a.matches(b) for i, a in enumerate(fps) for b in fps[i + 1:])


def test_heavily_changed_copy_does_not_match() -> None:
    assert not fingerprint(NEWSLETTER).matches(fingerprint(substitute(NEWSLETTER, 0.5, 1)))


def test_different_schemes_never_match() -> None:
    assert not fingerprint(NEWSLETTER).matches(fingerprint(NEWSLETTER, Scheme(window=5)))
    with pytest.raises(ValueError, match="different schemes"):
        fingerprint(NEWSLETTER).resemblance(fingerprint(NEWSLETTER, Scheme(seed=1)))


def test_resemblance_estimates_jaccard_of_the_shingle_sets() -> None:
    # 400 distinct words; the copy replaces the last quarter: exact Jaccard of 4-word
    # shingle sets is known, and 84 min-hashes estimate it within a few standard errors.
    words = random.Random(5).sample(LETTER_WORDS, 400)
    copy = words[:300] + random.Random(6).sample(LETTER_WORDS, 100)
    a, b = fingerprint(" ".join(words)), fingerprint(" ".join(copy))
    sets = [{tuple(ws[i:i + 4]) for i in range(len(ws) - 3)} for ws in (words, copy)]
    exact = len(sets[0] & sets[1]) / len(sets[0] | sets[1])
    assert abs(a.resemblance(b) - exact) < 3 * (exact * (1 - exact) / 84) ** 0.5 + 0.01


def test_datasketch_agrees_on_the_estimate() -> None:
    # The peer, fed the same shingles, estimates the same Jaccard as ours (cross-check).
    datasketch = pytest.importorskip("datasketch")
    words = random.Random(8).sample(LETTER_WORDS, 300)
    copy = words[:200] + random.Random(9).sample(LETTER_WORDS, 100)
    peers = []
    for ws in (words, copy):
        m = datasketch.MinHash(num_perm=256, seed=1)
        for i in range(len(ws) - 3):
            m.update(" ".join(ws[i:i + 4]).encode())
        peers.append(m)
    ours = fingerprint(" ".join(words)).resemblance(fingerprint(" ".join(copy)))
    assert abs(ours - peers[0].jaccard(peers[1])) < 0.15


# ---------------------------------------------------------------- short texts


@pytest.mark.parametrize("text", ["", "Thanks!", "ok", "See you at 5, Anna",
                                  "word " * 500, "0 1 2 3 4 5 6 7 8 9 " * 50])
def test_short_or_repetitive_texts_get_no_signature_and_never_glue(text: str, backend: BackendName) -> None:
    fp = fingerprint(text, backend=backend)
    assert not fp.has_shingles and fp.megashingles == () and fp.minhashes == ()
    assert fp.reason is not None and "too short" in fp.reason
    assert not fp.matches(fingerprint(text, backend=backend))


def test_min_shingles_is_the_threshold() -> None:
    text = " ".join(LETTER_WORDS[:15])  # 15 words -> 12 distinct 4-word shingles
    assert fingerprint(text, Scheme(min_shingles=12)).has_shingles
    assert not fingerprint(text, Scheme(min_shingles=13)).has_shingles


# ---------------------------------------------------------------- input


def test_pieces_give_the_same_fingerprint(backend: BackendName) -> None:
    fp = Fingerprinter(backend=backend)
    for i in range(0, len(NEWSLETTER), 7):
        fp.update(NEWSLETTER[i:i + 7])
    assert fp.digest() == fingerprint(NEWSLETTER)
    with pytest.raises(ValueError, match="after digest"):
        fp.update("more")


@pytest.mark.parametrize("bad", [b"bytes", bytearray(b"x"), 42, None])
def test_non_text_input_is_a_type_error_naming_the_fix(bad: object, backend: BackendName) -> None:
    with pytest.raises(TypeError, match="decode bytes first"):
        fingerprint(bad, backend=backend)  # type: ignore[arg-type]


def test_control_characters_and_lone_surrogates_do_not_crash(backend: BackendName) -> None:
    text = "".join(chr(c) for c in range(0, 0x40)) + "\ud800\udc00\udfff" + NEWSLETTER
    assert fingerprint(text, backend=backend).has_shingles


def test_cython_backend_refuses_when_absent_and_python_always_works() -> None:
    assert fingerprint("x", backend="python").tokens == 1
    if shingles.BACKEND != "cython":
        with pytest.raises(shingles.BackendError):
            fingerprint("x", backend="cython")


def test_lexicon_of_another_scheme_is_refused() -> None:
    lexicon = shingles.Lexicon.build(["a b c"] * 3, Scheme(digits="keep"))
    with pytest.raises(SchemeMismatchError, match="rebuild the lexicon"):
        fingerprint("a b c", lexicon=lexicon)


@pytest.mark.skipif(shingles.BACKEND != "cython", reason="50 MB through the reference is too slow")
def test_fifty_megabytes_stream_through_in_bounded_memory() -> None:
    block = (NEWSLETTER + "\n") * 50
    tracemalloc.start()
    try:
        fp = Fingerprinter()
        sent = 0
        while sent < 50_000_000:
            fp.update(block)
            sent += len(block)
        result = fp.digest()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.has_shingles
    assert peak < 4 * len(block) + 2_000_000  # a few pieces in flight, never the whole text


def test_a_shared_imatch_signature_alone_matches_within_one_lexicon() -> None:
    # The paper's rule: a mega-shingle OR an I-Match signature in common.
    base = fingerprint(prose(5))
    other = fingerprint(prose(6))
    assert not base.matches(other)
    one = dataclasses.replace(base, imatch=(7, 9), lexicon="L")
    two = dataclasses.replace(other, imatch=(9,), lexicon="L")
    assert one.matches(two) and two.matches(one)
    assert not one.matches(dataclasses.replace(two, lexicon="M"))  # another lexicon
    assert not one.matches(dataclasses.replace(two, imatch=(8,)))
