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


def _compiled_modules() -> list[str]:
    """Return the compiled modules built here, each of which ships a stub."""
    import importlib.util

    names = [f"shingles.{n}" for n in ("_core", "_mime", "_store")
             if (ROOT / "shingles" / f"{n}.pyi").exists()]
    specs = [(n, importlib.util.find_spec(n)) for n in names]
    return [n for n, spec in specs if spec is not None and not str(spec.origin).endswith(".py")]


def test_every_compiled_module_has_a_stub() -> None:
    # A compiled module without a .pyi is one stubtest cannot hold to its stub.
    for pyx in (ROOT / "ext").glob("_*.pyx"):
        assert (ROOT / "shingles" / f"{pyx.stem}.pyi").exists(), pyx.name


def test_stubs_match_the_compiled_modules(tmp_path: pathlib.Path) -> None:
    modules = _compiled_modules()
    if not modules:
        pytest.skip("no compiled module built to check stubs of")
    pytest.importorskip("mypy")
    # One run over all of them, so each allowlist entry is used by some module.
    # Run outside the source tree, so the installed, compiled package is what is checked.
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", *modules,
         "--allowlist", str(ROOT / "tests" / "stubtest_allowlist.txt")],
        cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "shingles._core" in modules or shingles.BACKEND != "cython"


def test_mypy_accepts_the_package_and_the_tests(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("mypy")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "cache"), str(ROOT / "shingles"), str(ROOT / "tests")],
        cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("module", [
    "shingles.mail.parse", "shingles.fingerprint", "shingles.store.keys", "shingles.spark.rows",
    "shingles.spark.edges", "shingles.spark.mailings",
])
def test_parsing_fingerprinting_and_the_archive_jobs_executors_load_neither_lmdb_nor_numpy(
        module: str) -> None:
    # Issues 14 and 19: a Spark executor runs these, and has no store.
    code = ("import sys, " + module + "; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'lmdb', 'numpy'}))")
    # From beside the package this process tests (installed or the source tree).
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=pathlib.Path(shingles.__file__).parent.parent)
    assert done.stdout.strip() == "[]", done.stdout
