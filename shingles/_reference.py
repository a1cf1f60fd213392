"""The fingerprint algorithm in plain Python: the specification of the Cython core.

Read this file to know what a fingerprint is. It is written to be plainly right,
never fast; tests/test_parity.py holds ext/_core.pyx equal to it bit for bit.

The steps, each a function or method below:

1. ``split_pieces``: cut the text into pieces of at most CHUNK_CHARS characters,
   after the last ASCII white space of each piece, so memory stays flat.
2. ``normalise_piece``: NFKC, then case folding, then NFKC again (case folding
   can leave text unnormalised: "İ" folds to "i" + U+0307). A piece without
   "context" characters (combining marks and the like, whose normal form depends
   on their neighbours) is normalised character by character: the same result,
   and the core then needs no copy of the text (tests/test_unicode.py checks the
   two agree on random text).
3. ``ReferenceState._feed_normalised``: the tokeniser. Format characters (Cf:
   zero-width spaces, joiners, soft hyphens) are deleted; a word is a run of
   characters that are alphanumeric (``str.isalnum``) or combining marks; any
   other character ends a word. With digits="fold" each run of decimal digits
   becomes one "0". A word longer than MAX_TOKEN_CHARS is cut into tokens of
   that length.
   With links="fold", before normalising, each ASCII-white-space separated chunk
   that is a link (``is_link``: a URL starting http://, https:// or www., or a bare
   lower-case host name such as "example.com", brackets and end punctuation around
   it allowed) is one token, LINK_TOKEN, whatever it holds (``link_spans``).
4. ``fold_homoglyphs``: in a word mixing Latin and Cyrillic letters, look-alike
   letters of the minority script become the majority script's ("pаypal" with a
   Cyrillic "а" is "paypal"; "прoдажа" with a Latin "o" is "продажа").
5. Hashes, all xxh3-64 over little-endian bytes, seeded from the scheme seed S:
   token = xxh3(utf-8 of token, S); shingle = xxh3(w token hashes, S+1);
   min-hash i = min over shingles of (a_i * shingle + b_i) mod 2^64, with
   a_i = xxh3(i, S+2) | 1 and b_i = xxh3(i, S+3); super-shingle k =
   xxh3(min-hashes 14k..14k+13, S+4+k); mega-shingle p of the pair (i, j),
   i < j, numbered 0..14 in order = p << 60 | xxh3(ss_i, ss_j, S+10) >> 4, so
   keys of different pairs can never be equal.
6. Too short: fewer than ``min_shingles`` distinct shingles gives no min-hashes,
   super- or mega-shingles.
7. I-Match: the sorted set of distinct token hashes found in the lexicon; for the
   main lexicon (k = 0) and each sub-lexicon k, the terms whose mask has bit k; with
   at least ``min_terms`` of them the signature is k << 56 | xxh3(terms, S+11) >> 8.
"""

from __future__ import annotations

import bisect
import struct
import unicodedata
from collections import deque
from collections.abc import Mapping

import xxhash

from shingles._unicode import CONTEXT_RANGES, DROP_RANGES, MARK_RANGES
from shingles.scheme import BANDS, CHUNK_CHARS, MAX_TOKEN_CHARS, NUM_PERM, ROWS, Scheme

MASK64 = (1 << 64) - 1
ASCII_SPACE = " \t\n\r\f\v"

# Inclusive code point ranges used to count a word's letters per script.
LATIN_RANGES = ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x1E00, 0x1EFF),
                (0x2C60, 0x2C7F), (0xA720, 0xA7FF), (0xAB30, 0xAB6F))
CYRILLIC_RANGES = ((0x400, 0x52F), (0x1C80, 0x1C8F), (0x2DE0, 0x2DFF), (0xA640, 0xA69F))

# Lower-case Cyrillic letters that render like a Latin letter (after case folding
# only lower case is left). Spammers swap them into words to dodge filters.
CYRILLIC_TO_LATIN = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x",
    "ѕ": "s", "і": "i", "ј": "j", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "ӏ": "l", "ё": "ë", "ї": "ï",
}
LATIN_TO_CYRILLIC = {latin: cyrillic for cyrillic, latin in CYRILLIC_TO_LATIN.items()}

#: The token a link folds to: no text gives it, as "/" never is part of a word.
LINK_TOKEN = "//"
_LINK_OPEN = "<([{\"'*"  # stripped from a chunk's start before it is judged a link
_LINK_CLOSE = ">)]}\"'.,;:!?*"  # and from its end
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_ASCII_LOWER = {c: c + 32 for c in range(65, 91)}

_DROP_STARTS = [first for first, _ in DROP_RANGES]
_MARK_STARTS = [first for first, _ in MARK_RANGES]
_CONTEXT_STARTS = [first for first, _ in CONTEXT_RANGES]


def in_ranges(cp: int, ranges: tuple[tuple[int, int], ...], starts: list[int]) -> bool:
    """Return whether code point cp lies in one of the sorted inclusive ranges."""
    i = bisect.bisect_right(starts, cp) - 1
    return i >= 0 and ranges[i][0] <= cp <= ranges[i][1]


def is_dropped(ch: str) -> bool:
    """Return whether ch is a format character the tokeniser deletes."""
    return in_ranges(ord(ch), DROP_RANGES, _DROP_STARTS)


def is_word_char(ch: str) -> bool:
    """Return whether ch belongs inside a word: alphanumeric or a combining mark."""
    return ch.isalnum() or in_ranges(ord(ch), MARK_RANGES, _MARK_STARTS)


def is_context(ch: str) -> bool:
    """Return whether ch's normal form may depend on the characters around it."""
    return in_ranges(ord(ch), CONTEXT_RANGES, _CONTEXT_STARTS)


def script_of(ch: str) -> str:
    """Return "latin", "cyrillic" or "" for the script whose block holds ch."""
    cp = ord(ch)
    if any(lo <= cp <= hi for lo, hi in LATIN_RANGES):
        return "latin"
    if any(lo <= cp <= hi for lo, hi in CYRILLIC_RANGES):
        return "cyrillic"
    return ""


def fold_homoglyphs(token: str) -> str:
    """Return the token with look-alikes of its minority script (Latin/Cyrillic) swapped."""
    scripts = [script_of(ch) for ch in token]
    latin, cyrillic = scripts.count("latin"), scripts.count("cyrillic")
    if not latin or not cyrillic:
        return token
    # A tie goes to Latin: any fixed choice keeps the fingerprint deterministic.
    table = LATIN_TO_CYRILLIC if cyrillic > latin else CYRILLIC_TO_LATIN
    return "".join(table.get(ch, ch) for ch in token)


def is_link(chunk: str) -> bool:
    """Return whether a chunk of text without ASCII white space is a URL or a host name.

    URL: starts (ASCII case-blind) with "http://", "https://" or "www.". Host: the
    part before any "/" is two or more dot-separated labels of lower-case ASCII
    letters, digits and "-", the last of 2-24 letters ("example.com", "a.b.co/x").
    Brackets and quotes before, and those and end punctuation after, are left out.
    """
    start, end = 0, len(chunk)
    while start < end and chunk[start] in _LINK_OPEN:
        start += 1
    while end > start and chunk[end - 1] in _LINK_CLOSE:
        end -= 1
    core = chunk[start:end]
    head = core[:8].translate(_ASCII_LOWER)
    if head.startswith(("http://", "https://", "www.")):
        return True
    labels = core.split("/", 1)[0].split(".")
    last = labels[-1]
    return (len(labels) >= 2 and all(label and set(label) <= _HOST_CHARS for label in labels)
            and 2 <= len(last) <= 24 and last.isascii() and last.isalpha() and last.islower())


def link_spans(piece: str) -> list[tuple[int, int]]:
    """Return the (start, end) of every link chunk of piece (see is_link), in order."""
    spans = []
    start = None
    for i, ch in enumerate(piece + " "):
        if ch in ASCII_SPACE:
            if start is not None and is_link(piece[start:i]):
                spans.append((start, i))
            start = None
        elif start is None:
            start = i
    return spans


def split_pieces(text: str, final: bool) -> tuple[list[str], str]:
    """Return (pieces to normalise now, the rest to keep for later).

    A piece is cut from the first CHUNK_CHARS characters, after their last ASCII
    white space (NFKC never joins characters across such a space), or at exactly
    CHUNK_CHARS when there is none. Only text longer than CHUNK_CHARS is cut, so
    the pieces are the same however a caller splits the text between feeds.
    """
    pieces = []
    while len(text) > CHUNK_CHARS:
        head = text[:CHUNK_CHARS]
        cut = max(head.rfind(space) for space in ASCII_SPACE) + 1 or CHUNK_CHARS
        pieces.append(text[:cut])
        text = text[cut:]
    if final and text:
        pieces.append(text)
        text = ""
    return pieces, text


def normalise(text: str) -> str:
    """Return NFKC(casefold(NFKC(text)))."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def normalise_piece(piece: str) -> str:
    """Return the normal form of a piece: per character unless it has context characters."""
    if any(is_context(ch) for ch in piece):
        return normalise(piece)
    return "".join(normalise(ch) for ch in piece)


def xxh3(data: bytes, seed: int) -> int:
    """Return the 64-bit xxh3 hash of data with a seed taken modulo 2^64."""
    return xxhash.xxh3_64_intdigest(data, seed & MASK64)


def le64(values: list[int] | tuple[int, ...]) -> bytes:
    """Return the values packed as little-endian unsigned 64-bit integers."""
    return struct.pack(f"<{len(values)}Q", *values)


def permutations(seed: int) -> tuple[list[int], list[int]]:
    """Return the (a, b) coefficients of the 84 min-wise hash functions."""
    a = [xxh3(le64([i]), seed + 2) | 1 for i in range(NUM_PERM)]
    b = [xxh3(le64([i]), seed + 3) for i in range(NUM_PERM)]
    return a, b


def super_and_mega(minhashes: list[int], seed: int) -> tuple[list[int], list[int]]:
    """Return the 6 super-shingles and the 15 position-tagged mega-shingles."""
    supers = [xxh3(le64(minhashes[k * ROWS:(k + 1) * ROWS]), seed + 4 + k) for k in range(BANDS)]
    megas: list[int] = []
    for i in range(BANDS):
        for j in range(i + 1, BANDS):
            megas.append(len(megas) << 60 | xxh3(le64([supers[i], supers[j]]), seed + 10) >> 4)
    return supers, megas


def imatch_signatures(terms: set[int], masks: Mapping[int, int], min_terms: int,
                      signatures: int, seed: int) -> tuple[int, ...]:
    """Return the tagged I-Match signatures of a document's lexicon terms."""
    found = []
    ordered = sorted(terms)
    for k in range(signatures):
        chosen = [t for t in ordered if masks[t] >> k & 1]
        if len(chosen) >= min_terms:
            found.append(k << 56 | xxh3(le64(chosen), seed + 11) >> 8)
    return tuple(found)


RawFingerprint = tuple[int, int, int, bytes, bytes, bytes, tuple[int, ...]]


class ReferenceLexiconTable:
    """Term hash -> sub-lexicon mask look-up, as the core's LexiconTable."""

    def __init__(self, terms: bytes, masks: bytes, min_terms: int, signatures: int) -> None:
        count = len(terms) // 8
        self.masks = dict(zip(struct.unpack(f"<{count}Q", terms),
                              struct.unpack(f"<{count}Q", masks)))
        self.min_terms = min_terms
        self.signatures = signatures


class ReferenceState:
    """Fingerprint state fed with text in any number of pieces; O(1) in text length."""

    def __init__(self, scheme: Scheme, lexicon: ReferenceLexiconTable | None = None,
                 keep_tokens: bool = False) -> None:
        self.scheme = scheme
        self.lexicon = lexicon
        self.keep_tokens = keep_tokens
        self.a, self.b = permutations(scheme.seed)
        self.pending = ""
        self.word: list[str] = []
        self.in_digits = False
        self.window: deque[int] = deque(maxlen=scheme.window)
        self.tokens = 0
        self.shingles = 0
        self.distinct: list[int] = []  # first min_shingles distinct shingles only
        self.minhashes = [MASK64] * NUM_PERM
        self.terms: set[int] = set()

    def feed(self, text: str) -> None:
        """Add text; raise TypeError for anything but str."""
        if not isinstance(text, str):
            raise TypeError(f"feed() takes str, not {type(text).__name__}; "
                            "decode bytes first, e.g. data.decode('utf-8', 'replace')")
        pieces, self.pending = split_pieces(self.pending + text, final=False)
        for piece in pieces:
            self._feed_piece(piece)

    def finish(self) -> RawFingerprint:
        """Return (tokens, shingles, distinct, minhashes, supers, megas, imatch)."""
        pieces, self.pending = split_pieces(self.pending, final=True)
        for piece in pieces:
            self._feed_piece(piece)
        self._end_word()
        mh = ss = mega = b""
        if len(self.distinct) >= self.scheme.min_shingles:
            supers, megas = super_and_mega(self.minhashes, self.scheme.seed)
            mh, ss, mega = le64(self.minhashes), le64(supers), le64(megas)
        imatch: tuple[int, ...] = ()
        if self.lexicon is not None:
            imatch = imatch_signatures(self.terms, self.lexicon.masks, self.lexicon.min_terms,
                                       self.lexicon.signatures, self.scheme.seed)
        return self.tokens, self.shingles, len(self.distinct), mh, ss, mega, imatch

    def token_set(self) -> bytes:
        """Return the distinct token hashes, sorted, as little-endian uint64 (keep_tokens)."""
        return le64(sorted(self.terms))

    def _feed_piece(self, piece: str) -> None:
        """Tokenise a raw piece: its links as LINK_TOKEN (links="fold"), the rest normalised."""
        last = 0
        for start, end in link_spans(piece) if self.scheme.links == "fold" else ():
            self._feed_normalised(normalise_piece(piece[last:start]))
            self._end_word()
            self._add_token(LINK_TOKEN)
            last = end
        self._feed_normalised(normalise_piece(piece[last:]))

    def _feed_normalised(self, text: str) -> None:
        fold_digits = self.scheme.digits == "fold"
        for ch in text:
            if is_dropped(ch):
                continue
            if not is_word_char(ch):
                self._end_word()
                continue
            if fold_digits and ch.isdecimal():
                if self.in_digits:
                    continue
                self.in_digits, ch = True, "0"
            else:
                self.in_digits = False
            self.word.append(ch)
            if len(self.word) == MAX_TOKEN_CHARS:
                self._end_word()

    def _end_word(self) -> None:
        self.in_digits = False
        if not self.word:
            return
        token = fold_homoglyphs("".join(self.word))
        self.word = []
        self._add_token(token)

    def _add_token(self, token: str) -> None:
        token_hash = xxh3(token.encode("utf-8"), self.scheme.seed)
        self.tokens += 1
        if self.keep_tokens or (self.lexicon is not None and token_hash in self.lexicon.masks):
            self.terms.add(token_hash)
        self.window.append(token_hash)
        if len(self.window) < self.scheme.window:
            return
        shingle = xxh3(le64(list(self.window)), self.scheme.seed + 1)
        self.shingles += 1
        if len(self.distinct) < self.scheme.min_shingles and shingle not in self.distinct:
            self.distinct.append(shingle)
        for i in range(NUM_PERM):
            value = (self.a[i] * shingle + self.b[i]) & MASK64
            if value < self.minhashes[i]:
                self.minhashes[i] = value


class _TokenRecorder(ReferenceState):
    def __init__(self, scheme: Scheme) -> None:
        super().__init__(scheme, keep_tokens=False)
        self.found: list[str] = []

    def _add_token(self, token: str) -> None:
        self.found.append(token)


def tokens(text: str, scheme: Scheme) -> list[str]:
    """Return the tokens of text as the fingerprint sees them (for docs and debugging)."""
    recorder = _TokenRecorder(scheme)
    recorder.feed(text)
    recorder.finish()
    return recorder.found
