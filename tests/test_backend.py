"""The compiled core is what runs when it should, and backends are chosen as asked."""

from __future__ import annotations

import os

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
