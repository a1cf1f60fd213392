"""The type stubs fit the compiled core and real use; the public API is what we say it is."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

import shingles

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_public_api_is_pinned() -> None:
    # A name added to or dropped from the public API must be a decision: update this list.
    assert sorted(shingles.__all__) == sorted([
        "BACKEND", "BackendError", "DEFAULT_SCHEME", "Fingerprint", "Fingerprinter", "Lexicon",
        "LexiconFormatError", "LexiconSettings", "Scheme", "SchemeMismatchError",
        "ShinglesError", "fingerprint",
    ])
    for name in shingles.__all__:
        assert hasattr(shingles, name), name


@pytest.mark.skipif(shingles.BACKEND != "cython", reason="no compiled core to check stubs of")
def test_stubs_match_the_compiled_core(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("mypy")
    # Run outside the source tree, so the installed, compiled package is what is checked.
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "shingles._core",
         "--allowlist", str(ROOT / "tests" / "stubtest_allowlist.txt")],
        cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_accepts_the_package_and_the_tests(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("mypy")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "cache"), str(ROOT / "shingles"), str(ROOT / "tests")],
        cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
