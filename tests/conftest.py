"""Shared fixtures: both backends in every run, and the Hypothesis profiles."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

import shingles
from shingles._backend import BackendName

settings.register_profile("dev", max_examples=100, deadline=None)
# CI: two cores, the whole suite under ten minutes, so fewer but still random examples.
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=False,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

BACKENDS: list[BackendName] = ["python", "cython"] if shingles.BACKEND == "cython" else ["python"]


@pytest.fixture(autouse=True, scope="session")
def _subprocesses_import_the_package_under_test(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Make `python -m shingles` in a test run the very package the tests import.

    Run from the repository root, a child Python would otherwise import the source
    folder ./shingles (no compiled core there) instead of the installed package.
    """
    home = str(pathlib.Path(shingles.__file__).resolve().parent.parent)
    patch = pytest.MonkeyPatch()
    patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [home, os.environ.get("PYTHONPATH")])))
    patch.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    patch.undo()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> BackendName:
    """Each test that takes it runs once per available backend."""
    name: BackendName = request.param
    return name


def corpus_dir() -> pathlib.Path | None:
    """Return the real corpus folder (../shared/corpus or $SHINGLES_CORPUS), or None."""
    env = os.environ.get("SHINGLES_CORPUS")
    candidates = [pathlib.Path(env)] if env else []
    candidates.append(pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "corpus")
    for path in candidates:
        if (path / "ham.mbox.gz").exists():
            return path
    return None
