"""Choose the implementation of the core: the compiled one, or the reference.

Modelled on py-lmdb's lmdb/__init__.py:
- SHINGLES_PUREPYTHON=1 selects the plain-Python reference on purpose.
- SHINGLES_REQUIRE_EXT=1 turns a failed import of the compiled core into an
  error (CI sets it, so a broken build can never pass as a slow one).
- Otherwise a missing core falls back to the reference with a warning.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType
from typing import Literal

from shingles import _reference
from shingles.errors import BackendError

BackendName = Literal["auto", "cython", "python"]

_core: ModuleType | None = None
_core_error: ImportError | None = None

if os.environ.get("SHINGLES_PUREPYTHON"):
    _core_error = ImportError("SHINGLES_PUREPYTHON is set")
else:
    try:
        from shingles import _core
    except ImportError as exc:
        if os.environ.get("SHINGLES_REQUIRE_EXT"):
            raise BackendError(
                f"the compiled core shingles._core failed to import ({exc}); "
                "reinstall with a C compiler, or unset SHINGLES_REQUIRE_EXT"
            ) from exc
        _core_error = exc
        warnings.warn(
            f"shingles: compiled core unavailable ({exc}); using the slow reference",
            RuntimeWarning,
            stacklevel=2,
        )

#: The backend that "auto" picks: "cython" when the compiled core loaded.
BACKEND: Literal["cython", "python"] = "cython" if _core is not None else "python"


class _ReferenceBackend:
    """The reference under the same names as the core: State and LexiconTable."""

    State = _reference.ReferenceState
    LexiconTable = _reference.ReferenceLexiconTable


def resolve(name: BackendName = "auto") -> ModuleType | type[_ReferenceBackend]:
    """Return the backend's namespace; raise BackendError if "cython" is not available."""
    if name == "python":
        return _ReferenceBackend
    if name == "cython":
        if _core is None:
            raise BackendError(f"the compiled core is not available: {_core_error}")
        return _core
    if name == "auto":
        return _core if _core is not None else _ReferenceBackend
    raise ValueError(f"backend must be 'auto', 'cython' or 'python', got {name!r}")
