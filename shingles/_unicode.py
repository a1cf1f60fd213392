"""The character classes the tokeniser uses, of the Unicode version it normalises with.

Normalisation (``unicodedata.normalize``) and the letter and digit tests
(``str.isalnum``, ``Py_UNICODE_ISALNUM``) follow the interpreter's Unicode
database, which changes between Python versions (3.11 ships 14.0.0, 3.12
15.0.0). The tokeniser's other classes (format characters dropped, combining
marks kept, characters needing context to normalise) must be of that same
version, and the scheme id names it (``UNICODE_VERSION``), so fingerprints of
two versions are never compared silently. The classes are pre-computed in
``_unicode_tables`` (``python ext/gen_unicode_tables.py``) because deriving them
costs seconds; when that file was made under another version than this
interpreter's, they are derived here at import instead.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Callable

from shingles import _unicode_tables as _pinned

__all__ = ["CONTEXT_RANGES", "DROP_RANGES", "MARK_RANGES", "UNICODE_VERSION", "derive"]

Ranges = tuple[tuple[int, int], ...]

#: The Unicode version normalisation really uses: this interpreter's.
UNICODE_VERSION: str = unicodedata.unidata_version


def ranges_where(test: Callable[[str], bool]) -> Ranges:
    """Return inclusive (first, last) code point ranges of the characters passing test."""
    found: list[tuple[int, int]] = []
    start = None
    for cp in range(sys.maxunicode + 2):
        inside = cp <= sys.maxunicode and not 0xD800 <= cp <= 0xDFFF and test(chr(cp))
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            found.append((start, cp - 1))
            start = None
    return tuple(found)


def _normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFKC", folded)


def context_ranges() -> Ranges:
    """Return ranges of characters whose normal form may depend on their neighbours.

    A character is context-free when it is a starter (combining class 0) that no
    canonical composition takes as its second part, and the same holds for the
    first character of its NFKC and NFKC-casefold forms. A text of context-free
    characters normalises character by character; anything else needs the whole
    text (e.g. "e" + U+0301 composes to "é", compatibility jamo compose to syllables).
    """
    second = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul V and T jamo
    for cp in range(sys.maxunicode + 1):
        parts = unicodedata.decomposition(chr(cp)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            first, last = (chr(int(p, 16)) for p in parts)
            if unicodedata.normalize("NFC", first + last) == chr(cp):
                second.add(ord(last))

    def unsafe(ch: str) -> bool:
        return unicodedata.combining(ch) != 0 or ord(ch) in second

    def in_context(ch: str) -> bool:
        forms = (ch, unicodedata.normalize("NFKC", ch), _normalise(ch))
        return any(form and unsafe(form[0]) for form in forms)

    return ranges_where(in_context)


def derive() -> tuple[Ranges, Ranges, Ranges]:
    """Return (DROP_RANGES, MARK_RANGES, CONTEXT_RANGES) from this interpreter's database."""
    return (ranges_where(lambda ch: unicodedata.category(ch) == "Cf"),
            ranges_where(lambda ch: unicodedata.category(ch) in ("Mn", "Mc", "Me")),
            context_ranges())


DROP_RANGES: Ranges
MARK_RANGES: Ranges
CONTEXT_RANGES: Ranges
if _pinned.UNICODE_VERSION == UNICODE_VERSION:
    DROP_RANGES, MARK_RANGES, CONTEXT_RANGES = (
        _pinned.DROP_RANGES, _pinned.MARK_RANGES, _pinned.CONTEXT_RANGES)
else:  # tables of another Unicode than the one we normalise with: never mix the two
    DROP_RANGES, MARK_RANGES, CONTEXT_RANGES = derive()
