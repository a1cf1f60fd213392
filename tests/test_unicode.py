"""The per-character shortcut of normalisation equals normalising the whole text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shingles import _unicode_tables
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


def test_pinned_tables_match_this_pythons_unicode_where_versions_agree() -> None:
    if unicodedata.unidata_version != _unicode_tables.UNICODE_VERSION:
        pytest.skip("this Python's Unicode database differs from the pinned tables' "
                    f"({_unicode_tables.UNICODE_VERSION}); newer ones may add characters")
    for first, last in _unicode_tables.DROP_RANGES:
        assert all(unicodedata.category(chr(cp)) == "Cf" for cp in range(first, last + 1))
