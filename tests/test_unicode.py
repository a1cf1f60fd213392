"""The per-character shortcut of normalisation equals normalising the whole text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

import dataclasses

from shingles import Lexicon, Scheme, SchemeMismatchError, _unicode, _unicode_tables
from shingles._reference import is_context, normalise, normalise_piece

# Characters that compose, decompose or reorder: the cases the shortcut must get right.
TRICKY = ("e\u0301a\u0308\u0327\u0323o\u031b\u0345\u0344İIıßẞﬁﬀ½²´¨ǅ\u1100\u1161\u11a8가"
          "\u3131\u314f\u3150\u0f73\u0f71\u0f72ῼΐ\u212b\u2126Å\uff21\u00a0\u2002\u200b")


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=60)
       | st.text(alphabet=st.sampled_from(TRICKY + "abc XYZ"), max_size=60))
def test_normalise_piece_equals_whole_text_normalisation(text: str) -> None:
    assert normalise_piece(text) == normalise(text)


def test_context_characters_include_the_known_troublemakers() -> None:
    for ch in "\u0301\u0308\u1161\u11a8\u3150\u0f73\u0344":  # marks, jamo, leading non-starters
        assert is_context(ch), f"U+{ord(ch):04X}"
    for ch in "aZ9 éжﬁ½가":
        assert not is_context(ch), f"U+{ord(ch):04X}"


def test_tables_in_use_are_of_the_unicode_normalisation_uses() -> None:
    # Whatever version _unicode_tables was generated under, the tables the tokeniser
    # uses are this interpreter's, and the scheme id names that version.
    assert _unicode.UNICODE_VERSION == unicodedata.unidata_version
    assert f"unicode={unicodedata.unidata_version}" in Scheme().id
    for first, last in _unicode.DROP_RANGES:
        assert all(unicodedata.category(chr(cp)) == "Cf" for cp in range(first, last + 1))
    for first, last in _unicode.MARK_RANGES:
        assert all(unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me")
                   for cp in range(first, last + 1))
    if _unicode_tables.UNICODE_VERSION == unicodedata.unidata_version:
        assert _unicode.CONTEXT_RANGES == _unicode_tables.CONTEXT_RANGES


def test_tables_of_another_unicode_are_derived_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    # A _unicode_tables generated under another version must not be used as it is.
    import importlib

    monkeypatch.setattr(_unicode_tables, "UNICODE_VERSION", "1.0.0")
    monkeypatch.setattr(_unicode_tables, "DROP_RANGES", ((0x41, 0x41),))
    monkeypatch.setattr(_unicode, "derive", lambda: ((), (), ()))  # too slow to run here
    fresh = importlib.reload(_unicode)
    try:
        assert fresh.DROP_RANGES != ((0x41, 0x41),)
    finally:
        monkeypatch.undo()
        importlib.reload(_unicode)


def test_fingerprints_of_another_unicode_version_are_refused() -> None:
    other = Scheme().id.replace(f"unicode={unicodedata.unidata_version}", "unicode=13.0.0")
    assert other != Scheme().id
    with pytest.raises(SchemeMismatchError):
        Scheme.from_id(other)
    lexicon = Lexicon.build([("alpha beta gamma delta " * 5, "a.example")] * 3)
    stale = dataclasses.replace(lexicon, token_id=lexicon.token_id.replace(
        f"unicode={unicodedata.unidata_version}", "unicode=13.0.0"))
    with pytest.raises(SchemeMismatchError):
        stale.check_scheme(Scheme())
