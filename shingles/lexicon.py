"""I-Match lexicons with Lexicon Randomization (Kolcz, Chowdhury and Alspector 2004).

A lexicon is the set of terms whose document frequency lies in a middle band:
terms in nearly every message say nothing about it, terms in one or two are
typos, names and hash-buster tokens. Beside the main lexicon, K sub-lexicons
each keep a random share of its terms; a changed word that breaks the main
signature is missing from some sub-lexicons, whose signatures still agree.

Terms are token hashes (the tokeniser of the fingerprint scheme), so a lexicon
fits the fingerprints of every scheme with the same ``Scheme.token_id``.

File format, little-endian throughout (``Lexicon.save``)::

    magic "SHLX", u16 format version, u16 token-id length, token-id (utf-8),
    u32 min_terms, u32 signatures (K + 1), f64 sub_fraction, u64 seed,
    u64 documents, u64 term count n, n x u64 terms (sorted), n x u64 masks,
    u64 xxh3 checksum of everything before it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import struct
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable
from typing import Any

import xxhash

from shingles import _backend
from shingles.errors import LexiconFormatError, SchemeMismatchError
from shingles.scheme import DEFAULT_SCHEME, Scheme

__all__ = ["Lexicon", "LexiconSettings"]

MAGIC = b"SHLX"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<4sHH")
_PARAMS = struct.Struct("<IIdQQQ")
_U64 = struct.Struct("<Q")


@dataclasses.dataclass(frozen=True)
class LexiconSettings:
    """How a lexicon is chosen from documents.

    Attributes:
        min_df: Fewest documents a term must appear in. Rarer terms are names,
            typos and random tokens, exactly what a spammer varies.
        max_df: Largest share of documents a term may appear in; commoner terms
            (and, in, the digit token "0") carry no information.
        sub_lexicons: K, the number of random sub-lexicons (Kolcz et al. use up to 10).
        sub_fraction: Share of the main lexicon each sub-lexicon keeps.
        min_terms: Fewest lexicon terms a text needs for a signature of that lexicon;
            fewer would glue short unrelated texts.
        max_source_share: The largest share of a term's document frequency one source
            (sender domain or network) may make up, so one sender cannot push words
            into or out of the lexicon. 1.0 switches the cap off.
        seed: Seed that picks the sub-lexicons.
    """

    min_df: int = 3
    max_df: float = 0.10
    sub_lexicons: int = 10
    sub_fraction: float = 0.7
    min_terms: int = 8
    max_source_share: float = 0.25
    seed: int = 0x1E71C0

    def __post_init__(self) -> None:
        if self.min_df < 1:
            raise ValueError("min_df must be at least 1")
        if not 0 < self.max_df <= 1:
            raise ValueError("max_df must be in (0, 1]")
        if not 0 <= self.sub_lexicons <= 63:
            raise ValueError("sub_lexicons must be 0..63")
        if not 0 < self.sub_fraction < 1:
            raise ValueError("sub_fraction must be in (0, 1)")
        if self.min_terms < 1:
            raise ValueError("min_terms must be at least 1")
        if not 0 < self.max_source_share <= 1:
            raise ValueError("max_source_share must be in (0, 1]")


def capped_total(counts: Iterable[int], max_share: float) -> int:
    """Return the sum of per-source counts with each source's share capped.

    A source counts for at most max_share / (1 - max_share) times what all other
    sources give together (so it makes up at most max_share of the total), and
    for at least 1: a term seen from a single source counts once.
    """
    counts = list(counts)
    if max_share >= 1:
        return sum(counts)
    total = sum(counts)
    ratio = max_share / (1 - max_share)
    return sum(min(c, max(1, math.floor(ratio * (total - c)))) for c in counts)


@dataclasses.dataclass(frozen=True, eq=False)
class Lexicon:
    """A main lexicon and K sub-lexicons, as sorted term hashes and bit masks.

    Bit 0 of a term's mask is the main lexicon (always set), bit k sub-lexicon k.
    """

    token_id: str
    terms: tuple[int, ...]
    masks: tuple[int, ...]
    min_terms: int
    signatures: int
    sub_fraction: float
    seed: int
    documents: int

    @property
    def id(self) -> str:
        """Return a short name of the lexicon's content (its checksum)."""
        return f"lexicon/{self._checksum():016x}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lexicon) and self._blob() == other._blob()

    def __hash__(self) -> int:
        return hash(self._checksum())

    def __len__(self) -> int:
        return len(self.terms)

    def check_scheme(self, scheme: Scheme) -> None:
        """Raise SchemeMismatchError unless the scheme hashes tokens as this lexicon does."""
        if scheme.token_id != self.token_id:
            raise SchemeMismatchError(
                f"lexicon built for {self.token_id!r}, fingerprint scheme uses "
                f"{scheme.token_id!r}: rebuild the lexicon with this scheme")

    def table(self, impl: Any) -> Any:
        """Return the backend's look-up table for this lexicon (built once per backend)."""
        cache = self.__dict__.setdefault("_tables", {})
        key = id(impl)
        if key not in cache:
            cache[key] = impl.LexiconTable(_pack(self.terms), _pack(self.masks),
                                           self.min_terms, self.signatures)
        return cache[key]

    @classmethod
    def build(cls, documents: Iterable[str | tuple[str, Hashable | None]],
              scheme: Scheme = DEFAULT_SCHEME,
              settings: LexiconSettings = LexiconSettings()) -> Lexicon:
        """Return a lexicon chosen from documents.

        Args:
            documents: Texts, or (text, source) pairs where source names the sender
                (domain or network) for the per-source cap; None means unknown,
                and each such document counts as its own source.
            scheme: Fingerprint scheme whose tokeniser defines the terms.
            settings: Document-frequency band, sub-lexicons and caps.
        """
        impl = _backend.resolve("auto")
        term_sources: dict[int, Counter[Hashable]] = defaultdict(Counter)
        doc_sources: Counter[Hashable] = Counter()
        for number, item in enumerate(documents):
            text, source = (item, None) if isinstance(item, str) else item
            if source is None:
                source = ("document", number)
            state = impl.State(scheme, None, True)
            state.feed(text)
            state.finish()
            doc_sources[source] += 1
            for term in _unpack(state.token_set()):
                term_sources[term][source] += 1
        share = settings.max_source_share
        documents_counted = capped_total(doc_sources.values(), share)
        ceiling = settings.max_df * documents_counted
        chosen = sorted(
            term for term, sources in term_sources.items()
            if settings.min_df <= capped_total(sources.values(), share) <= ceiling
        )
        threshold = int(settings.sub_fraction * 2**64)
        masks = []
        for term in chosen:
            mask = 1
            for k in range(1, settings.sub_lexicons + 1):
                if xxhash.xxh3_64_intdigest(_U64.pack(term), settings.seed + k) < threshold:
                    mask |= 1 << k
            masks.append(mask)
        return cls(token_id=scheme.token_id, terms=tuple(chosen), masks=tuple(masks),
                   min_terms=settings.min_terms, signatures=settings.sub_lexicons + 1,
                   sub_fraction=settings.sub_fraction, seed=settings.seed,
                   documents=sum(doc_sources.values()))

    def to_bytes(self) -> bytes:
        """Return the lexicon in its file format, checksum included."""
        return self._blob() + _U64.pack(self._checksum())

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the lexicon to path (atomically: a reader never sees half a file)."""
        tmp = f"{os.fspath(path)}.tmp"
        with open(tmp, "wb") as out:
            out.write(self.to_bytes())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Lexicon:
        """Return the lexicon stored at path; raise LexiconFormatError if it is damaged."""
        with open(path, "rb") as f:
            return cls.from_bytes(f.read())

    @classmethod
    def from_bytes(cls, data: bytes) -> Lexicon:
        """Return the lexicon encoded in data; raise LexiconFormatError if it is damaged."""
        if len(data) < _HEADER.size + _PARAMS.size + 8:
            raise LexiconFormatError("not a shingles lexicon: file too short")
        magic, version, id_len = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise LexiconFormatError("not a shingles lexicon: bad magic bytes")
        if version != FORMAT_VERSION:
            raise LexiconFormatError(f"lexicon format {version} is not supported "
                                     f"(this shingles reads {FORMAT_VERSION})")
        body, (checksum,) = data[:-8], _U64.unpack(data[-8:])
        if xxhash.xxh3_64_intdigest(body) != checksum:
            raise LexiconFormatError("lexicon checksum mismatch: the file is damaged")
        offset = _HEADER.size
        try:
            token_id = body[offset:offset + id_len].decode("utf-8")
            offset += id_len
            min_terms, signatures, fraction, seed, docs, count = _PARAMS.unpack_from(body, offset)
            offset += _PARAMS.size
            if len(body) != offset + 16 * count:
                raise LexiconFormatError("lexicon length does not match its term count")
            terms = _unpack(body[offset:offset + 8 * count])
            masks = _unpack(body[offset + 8 * count:])
        except (UnicodeDecodeError, struct.error) as exc:
            raise LexiconFormatError(f"damaged lexicon header: {exc}") from exc
        return cls(token_id=token_id, terms=terms, masks=masks, min_terms=min_terms,
                   signatures=signatures, sub_fraction=fraction, seed=seed, documents=docs)

    def _blob(self) -> bytes:
        token_id = self.token_id.encode("utf-8")
        return b"".join([
            _HEADER.pack(MAGIC, FORMAT_VERSION, len(token_id)), token_id,
            _PARAMS.pack(self.min_terms, self.signatures, self.sub_fraction, self.seed,
                         self.documents, len(self.terms)),
            _pack(self.terms), _pack(self.masks),
        ])

    def _checksum(self) -> int:
        cached = self.__dict__.get("_checksum_value")
        if cached is None:
            cached = xxhash.xxh3_64_intdigest(self._blob())
            self.__dict__["_checksum_value"] = cached
        return int(cached)


def _pack(values: tuple[int, ...]) -> bytes:
    return struct.pack(f"<{len(values)}Q", *values)


def _unpack(data: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(data) // 8}Q", data)
