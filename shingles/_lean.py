"""The optional compiled helpers: mail parsing's (shingles._mime) and the store's loops
(shingles._store), each None when not in use.

Without them the standard email parser and the plain-Python twins do all the
work. SHINGLES_PUREPYTHON=1 leaves them out on purpose; SHINGLES_REQUIRE_EXT=1
turns a failed import into an error, as for the signature core (see _backend.py).
Mail reading imports this module, so it loads neither LMDB nor numpy (nor does
shingles._store: it calls what py-lmdb objects it is handed).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from shingles.errors import BackendError

__all__ = ["lean", "store_loops"]


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
store_loops: ModuleType | None = _optional("_store")
