"""The fingerprint scheme: every parameter that changes a fingerprint's bits.

A store or a lexicon records the scheme it was made with and refuses another
one, so fingerprints made with other settings are never silently mixed.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal

from shingles._unicode import UNICODE_VERSION
from shingles.errors import SchemeMismatchError

__all__ = [
    "Scheme",
    "DEFAULT_SCHEME",
    "SCHEME_VERSION",
    "NUM_PERM",
    "BANDS",
    "ROWS",
    "MAX_TOKEN_CHARS",
    "CHUNK_CHARS",
]

#: Version of the algorithm itself (hash family, tokeniser rules, record layout).
#: Bump it whenever any fingerprint bit could change for the same parameters.
SCHEME_VERSION = 2  # 2: links (URLs and host names folded to one token)

#: The paper's layout: 84 min-hashes, grouped as 6 super-shingles of 14 each.
NUM_PERM = 84
BANDS = 6
ROWS = 14

#: A run of word characters longer than this is cut into tokens of this length,
#: so the tokeniser's state stays bounded on base64 blobs and binary garbage.
MAX_TOKEN_CHARS = 64

#: Text is normalised in pieces of at most this many characters, cut after the
#: last ASCII white space inside the piece; memory stays flat on huge texts.
CHUNK_CHARS = 1 << 16

#: Fixed default seed: fingerprints of the default scheme agree across machines.
DEFAULT_SEED = 0x5EED_5A1E_C0DE_2004

DigitMode = Literal["fold", "keep"]
LinkMode = Literal["fold", "keep"]


@dataclasses.dataclass(frozen=True)
class Scheme:
    """Parameters of the fingerprint; compare ``scheme.id`` to check compatibility.

    Attributes:
        window: Words per shingle (w). 4 by default, chosen with bench/bench_window.py
            (figures in bench/README.md): personalised copies glue at any w; from
            w = 2 to 4 the distinct corpus messages caught in glued pairs fall by 18%,
            beyond 4 little more, while each extra word makes copies with changed
            words less alike.
        min_shingles: Fewest distinct shingles a text needs for a shingle signature.
            Shorter texts ("Thanks!", empty bodies) get none, so they never glue. At
            12 every glued corpus pair with a short text is a real template; higher
            values only take signatures away.
        digits: "fold" turns every run of decimal digits into one "0", so order
            numbers, dates and prices do not break shingles; "keep" keeps them.
        links: "fold" turns every URL (http://, https://, www.) and bare host name
            ("example.com", lower case) into one token, as digits are folded: campaigns
            rotate their link domains on every copy. "keep" reads them as words.
        seed: Seed of every hash in the scheme.
    """

    window: int = 4
    min_shingles: int = 12
    digits: DigitMode = "fold"
    seed: int = DEFAULT_SEED
    links: LinkMode = "fold"

    def __post_init__(self) -> None:
        if not 1 <= self.window <= 16:
            raise ValueError(f"window must be 1..16 words, got {self.window}")
        if not 1 <= self.min_shingles <= 4096:
            raise ValueError(f"min_shingles must be 1..4096, got {self.min_shingles}")
        if self.digits not in ("fold", "keep"):
            raise ValueError(f"digits must be 'fold' or 'keep', got {self.digits!r}")
        if self.links not in ("fold", "keep"):
            raise ValueError(f"links must be 'fold' or 'keep', got {self.links!r}")
        if not 0 <= self.seed < 1 << 64:
            raise ValueError("seed must be an unsigned 64-bit integer")

    @functools.cached_property
    def id(self) -> str:
        """Return a string naming the algorithm version and every parameter."""
        return (
            f"shingles/{SCHEME_VERSION} w={self.window} perm={NUM_PERM} "
            f"bands={BANDS}x{ROWS} min={self.min_shingles} {self.token_id}"
        )

    @classmethod
    def from_id(cls, scheme_id: str) -> Scheme:
        """Return the Scheme whose ``id`` is scheme_id; raise SchemeMismatchError if none is.

        Stores record the id; this gives tools the scheme to fingerprint with.
        """
        version = scheme_id.split(" ", 1)[0].partition("/")[2]
        if scheme_id.startswith("shingles/") and version != str(SCHEME_VERSION):
            raise SchemeMismatchError(
                f"made with fingerprint scheme version {version}, and this shingles uses "
                f"version {SCHEME_VERSION} ({scheme_id!r}): its fingerprints cannot be mixed "
                f"with new ones; rebuild it from the messages")
        fields = dict(part.split("=", 1) for part in scheme_id.split() if "=" in part)
        try:
            scheme = cls(window=int(fields["w"]), min_shingles=int(fields["min"]),
                         digits=fields["digits"],  # type: ignore[arg-type]
                         seed=int(fields["seed"], 16),
                         links=fields["links"])  # type: ignore[arg-type]
        except (KeyError, ValueError) as exc:
            raise SchemeMismatchError(f"not a scheme id of this shingles: {scheme_id!r}") from exc
        if scheme.id != scheme_id:
            raise SchemeMismatchError(f"scheme {scheme_id!r} is not this shingles' "
                                      f"(it would be {scheme.id!r})")
        return scheme

    @functools.cached_property
    def token_id(self) -> str:
        """Return a string naming what decides token hashes (all a lexicon depends on)."""
        return (f"tokens/{SCHEME_VERSION} digits={self.digits} links={self.links} "
                f"seed={self.seed:#018x} "
                f"unicode={UNICODE_VERSION}")


DEFAULT_SCHEME = Scheme()
