"""Fingerprints of texts: the public face of the signature core.

``fingerprint(text)`` is a pure function of (text, scheme, lexicon): no I/O and
no global state, so it runs the same in a script, a mail filter or a Spark
executor, and its inputs and outputs pickle.
"""

from __future__ import annotations

import dataclasses
import functools
import struct
from typing import Any

from shingles import _backend
from shingles._backend import BackendName
from shingles.lexicon import Lexicon
from shingles.scheme import DEFAULT_SCHEME, Scheme

__all__ = ["Fingerprint", "Fingerprinter", "fingerprint"]


def _unpack(data: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(data) // 8}Q", data)


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """The signatures of one text, and the scheme that made them.

    The signatures are kept as packed little-endian uint64 arrays (what a store
    writes, and ``numpy.frombuffer(fp.minhash_bytes, "<u8")`` reads); the
    ``minhashes``, ``supershingles`` and ``megashingles`` properties give them as
    tuples of ints.

    Attributes:
        scheme: ``Scheme.id`` of the scheme used; fingerprints of other schemes
            never match.
        tokens: Number of words read.
        shingles: Number of w-word windows hashed (repeats included).
        minhash_bytes: The 84 min-hashes, b"" when the text is too short.
        supershingle_bytes: The 6 super-shingles (hashes of 14 min-hashes each), or b"".
        megashingle_bytes: The 15 mega-shingles, one per pair (i < j) of
            super-shingles; the top 4 bits hold the pair's number 0..14, so keys of
            different pairs never collide. b"" when the text is too short.
        imatch: I-Match signatures; the top 8 bits hold the lexicon number: 0 for
            the main lexicon, k for sub-lexicon k. Only lexicons with enough of
            the text's terms give one, so the tuple may be shorter than K + 1.
        lexicon: ``Lexicon.id`` of the lexicon used, or None.
        reason: Why there is no shingle signature, or None when there is one.
    """

    scheme: str
    tokens: int
    shingles: int
    minhash_bytes: bytes
    supershingle_bytes: bytes
    megashingle_bytes: bytes
    imatch: tuple[int, ...] = ()
    lexicon: str | None = None
    reason: str | None = None

    @functools.cached_property
    def minhashes(self) -> tuple[int, ...]:
        """Return the 84 min-hashes as ints, () when the text is too short."""
        return _unpack(self.minhash_bytes)

    @functools.cached_property
    def supershingles(self) -> tuple[int, ...]:
        """Return the 6 super-shingles as ints, () when the text is too short."""
        return _unpack(self.supershingle_bytes)

    @functools.cached_property
    def megashingles(self) -> tuple[int, ...]:
        """Return the 15 mega-shingles as ints, () when the text is too short."""
        return _unpack(self.megashingle_bytes)

    @property
    def has_shingles(self) -> bool:
        """Return whether the text was long enough for a shingle signature."""
        return bool(self.minhash_bytes)

    def matches(self, other: Fingerprint) -> bool:
        """Return whether both texts belong to one mailing by the paper's rule.

        That is: they share a mega-shingle (at least 2 of 6 super-shingles are
        equal) or any I-Match signature. Fingerprints of different schemes or
        lexicons never match.
        """
        if self.scheme != other.scheme:
            return False
        if set(self.megashingles) & set(other.megashingles):
            return True
        return self.lexicon == other.lexicon and bool(set(self.imatch) & set(other.imatch))

    def resemblance(self, other: Fingerprint) -> float:
        """Return the share of equal min-hashes: an unbiased estimate of Jaccard resemblance.

        Raises:
            ValueError: if either fingerprint has no min-hashes or the schemes differ.
        """
        if self.scheme != other.scheme:
            raise ValueError("fingerprints of different schemes cannot be compared")
        if not (self.minhashes and other.minhashes):
            raise ValueError("a fingerprint without min-hashes (too short) has no resemblance")
        same = sum(x == y for x, y in zip(self.minhashes, other.minhashes))
        return same / len(self.minhashes)

    def __getstate__(self) -> dict[str, Any]:
        # Pickle the fields only, not the cached int tuples: Spark ships many of these.
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def to_json(self) -> dict[str, Any]:
        """Return the record as JSON-ready data; 64-bit values as 16-digit hex strings."""
        def hexes(values: tuple[int, ...]) -> list[str]:
            return [f"{v:016x}" for v in values]

        return {
            "scheme": self.scheme,
            "tokens": self.tokens,
            "shingles": self.shingles,
            "minhashes": hexes(self.minhashes),
            "supershingles": hexes(self.supershingles),
            "megashingles": hexes(self.megashingles),
            "imatch": hexes(self.imatch),
            "lexicon": self.lexicon,
            "reason": self.reason,
        }


class Fingerprinter:
    """Incremental fingerprinting, like hashlib: ``update()`` pieces, then ``digest()``.

    The result is the same however the text is split between updates, and memory
    stays flat however long the text is.
    """

    def __init__(self, scheme: Scheme = DEFAULT_SCHEME, lexicon: Lexicon | None = None,
                 *, backend: BackendName = "auto") -> None:
        self._state = _new_state(scheme, lexicon, backend)
        self._scheme = scheme
        self._lexicon = lexicon
        self._done: Fingerprint | None = None

    def update(self, text: str) -> None:
        """Add text; raise TypeError for bytes, ValueError after digest()."""
        if self._done is not None:
            raise ValueError("update() after digest(): start a new Fingerprinter")
        self._state.feed(text)

    def digest(self) -> Fingerprint:
        """Return the fingerprint of everything added so far (and end the session)."""
        if self._done is None:
            self._done = _build(self._state.finish(), self._scheme, self._lexicon)
        return self._done


def fingerprint(text: str, scheme: Scheme = DEFAULT_SCHEME, lexicon: Lexicon | None = None,
                *, backend: BackendName = "auto") -> Fingerprint:
    """Return the fingerprint of text.

    Args:
        text: The visible text of a message (str; decode bytes first).
        scheme: Fingerprint parameters; the default suits mail.
        lexicon: Lexicon for I-Match signatures; None gives no I-Match.
        backend: "auto" (compiled core when available), "cython" or "python".

    Raises:
        TypeError: if text is not a str.
        BackendError: if backend="cython" and the compiled core is missing.
        SchemeMismatchError: if the lexicon was built for another scheme.
    """
    state = _new_state(scheme, lexicon, backend)
    state.feed(text)
    return _build(state.finish(), scheme, lexicon)


def _new_state(scheme: Scheme, lexicon: Lexicon | None, backend: BackendName) -> Any:
    impl = _backend.resolve(backend)
    if lexicon is None:
        return impl.State(scheme, None)
    lexicon.check_scheme(scheme)
    return impl.State(scheme, lexicon.table(impl))


def _build(raw: tuple[Any, ...], scheme: Scheme, lexicon: Lexicon | None) -> Fingerprint:
    tokens, shingles, distinct, minhashes, supers, megas, imatch = raw
    reason = None
    if not minhashes:
        reason = (f"too short: {distinct} distinct {scheme.window}-word shingles, "
                  f"the scheme needs {scheme.min_shingles}")
    return Fingerprint(scheme.id, tokens, shingles, minhashes, supers, megas, imatch,
                       lexicon.id if lexicon is not None else None, reason)
