"""shingles: find bulk mailings in a mail stream by near-duplicate signatures.

    import shingles
    fp = shingles.fingerprint(text)
    fp.minhashes, fp.supershingles, fp.megashingles, fp.imatch
    shingles.BACKEND   # "cython" (compiled core) or "python" (reference)
"""

from shingles._backend import BACKEND
from shingles.errors import (
    BackendError,
    LexiconFormatError,
    SchemeMismatchError,
    ShinglesError,
)
from shingles.fingerprint import Fingerprint, Fingerprinter, fingerprint
from shingles.lexicon import Lexicon, LexiconSettings
from shingles.scheme import DEFAULT_SCHEME, Scheme

__version__ = "0.1.0"

__all__ = [
    "BACKEND",
    "BackendError",
    "DEFAULT_SCHEME",
    "Fingerprint",
    "Fingerprinter",
    "Lexicon",
    "LexiconFormatError",
    "LexiconSettings",
    "Scheme",
    "SchemeMismatchError",
    "ShinglesError",
    "fingerprint",
]
