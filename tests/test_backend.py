"""The compiled core is what runs when it should, and backends are chosen as asked."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import shingles
from shingles import _backend
@pytest.mark.skipif(not os.environ.get("SHINGLES_REQUIRE_EXT"),
                    reason="SHINGLES_REQUIRE_EXT is not set (CI sets it)")
def test_compiled_core_is_in_use_when_required() -> None:
    assert shingles.BACKEND == "cython"
    assert _backend.resolve("auto").__name__ == "shingles._core"


def test_unknown_backend_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="backend must be"):
        _backend.resolve("fortran")  # type: ignore[arg-type]


def test_python_backend_is_the_reference() -> None:
    from shingles._reference import ReferenceState
    assert _backend.resolve("python").State is ReferenceState


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("SHINGLES_PUREPYTHON", "SHINGLES_REQUIRE_EXT")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**environ, **env})


BLOCK_CORE = "import sys; sys.modules['shingles._core'] = None; "


def test_purepython_selects_the_reference_on_purpose() -> None:
    done = _python("import shingles, warnings; print(shingles.BACKEND)", SHINGLES_PUREPYTHON="1")
    assert done.stdout.strip() == "python" and "Warning" not in done.stderr


def test_missing_core_is_an_error_when_required() -> None:
    done = _python(BLOCK_CORE + "import shingles", SHINGLES_REQUIRE_EXT="1")
    assert done.returncode != 0
    assert "BackendError" in done.stderr and "reinstall with a C compiler" in done.stderr


def test_missing_core_falls_back_loudly_when_not_required() -> None:
    done = _python(BLOCK_CORE + "import shingles; print(shingles.BACKEND)")
    assert done.stdout.strip() == "python"
    assert "compiled core unavailable" in done.stderr
