"""The compiled lean path (shingles._mime), or None when it is not in use.

SHINGLES_PUREPYTHON=1 leaves it out on purpose (the standard email parser and
the plain-Python helpers then do all the work); SHINGLES_REQUIRE_EXT=1 turns a
failed import into an error, as for the signature core (see _backend.py).
"""

from __future__ import annotations

import os
from types import ModuleType

from shingles.errors import BackendError

__all__ = ["lean"]

lean: ModuleType | None
if os.environ.get("SHINGLES_PUREPYTHON"):
    lean = None
else:
    try:
        from shingles import _mime as lean
    except ImportError as exc:
        if os.environ.get("SHINGLES_REQUIRE_EXT"):
            raise BackendError(f"the compiled splitter shingles._mime failed to import ({exc}); "
                               "reinstall with a C compiler, or unset SHINGLES_REQUIRE_EXT"
                               ) from exc
        lean = None
