"""Every exception shingles raises, under one base class.

Each subclass also inherits the built-in type that fits, so callers who do not
know shingles can still catch ``ValueError`` or ``OSError``.
"""

from __future__ import annotations

__all__ = [
    "ShinglesError",
    "BackendError",
    "SchemeMismatchError",
    "LexiconFormatError",
    "StoreFormatError",
    "StoreFullError",
    "StoreLockedError",
]


class ShinglesError(Exception):
    """Base class of every error raised by shingles."""


class BackendError(ShinglesError, ImportError):
    """The requested backend (the compiled core) is not available."""


class SchemeMismatchError(ShinglesError, ValueError):
    """Two parts were made with different fingerprint schemes and cannot be mixed."""


class LexiconFormatError(ShinglesError, ValueError):
    """A lexicon file is not one shingles wrote, or it is damaged."""


class StoreFormatError(ShinglesError, ValueError):
    """A store record is not one this version of shingles can read, or it is damaged."""


class StoreFullError(ShinglesError, OSError):
    """The store's LMDB map is full and could not grow (wraps lmdb.MapFullError)."""


class StoreLockedError(ShinglesError, OSError):
    """Another process is writing to the store; only one writer at a time."""


class MailParseError(ShinglesError, ValueError):
    """Bytes that are not a mail message at all (no header block), or are empty."""


class MessageTooLargeError(MailParseError):
    """A message is larger than the configured cap (``Limits.max_message_bytes``)."""


class ConfigError(ShinglesError, ValueError):
    """A configuration file is not valid TOML or holds an unknown or ill-typed setting."""
