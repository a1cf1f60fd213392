"""The optional compiled helpers, or None when they are not in use.

- ``lean``: the lean MIME path (shingles._mime); without it the standard email
  parser and the plain-Python helpers do all the work.
- ``store``: the store's own LMDB binding and hot loops (shingles._store);
  without it py-lmdb is the binding and session.py's Python twins run.
- ``lmdb``: the LMDB binding the store uses, one of those two: both speak
  py-lmdb's API, and one process never mixes them.

SHINGLES_PUREPYTHON=1 leaves them out on purpose; SHINGLES_REQUIRE_EXT=1 turns
a failed import into an error, as for the signature core (see _backend.py).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from shingles.errors import BackendError

__all__ = ["lean", "lmdb", "store"]


def _optional(name: str) -> ModuleType | None:
    """Return the compiled module shingles.<name>, or None when it is left out or absent."""
    if os.environ.get("SHINGLES_PUREPYTHON"):
        return None
    try:
        return importlib.import_module(f"shingles.{name}")
    except ImportError as exc:
        if os.environ.get("SHINGLES_REQUIRE_EXT"):
            raise BackendError(f"the compiled module shingles.{name} failed to import ({exc}); "
                               "reinstall with a C compiler, or unset SHINGLES_REQUIRE_EXT"
                               ) from exc
        return None


lean: ModuleType | None = _optional("_mime")
store: ModuleType | None = _optional("_store")
lmdb: ModuleType = store if store is not None else importlib.import_module("lmdb")
