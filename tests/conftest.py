"""Shared fixtures: both backends in every run, and the Hypothesis profiles."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

import shingles
from shingles._backend import BackendName
from shingles.config import SpfSettings

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


# Test zones with SPF records, served on 127.0.0.1 by the `dns` fixture.
DNS_ZONE = """
legit.example.      300 IN TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"
soft.example.       300 IN TXT "v=spf1 ip4:192.0.2.10 ~all"
neutral.example.    300 IN TXT "v=spf1 ?all"
include.example.    300 IN TXT "v=spf1 include:legit.example -all"
mx.example.         300 IN TXT "v=spf1 mx -all"
mx.example.         300 IN MX  10 mail.mx.example.
mail.mx.example.    300 IN A   198.51.100.7
broken.example.     300 IN TXT "v=spf1 ip4:192.0.2.0/24 frobnicate -all"
helo.example.       300 IN TXT "v=spf1 a -all"
helo.example.       300 IN A   203.0.113.9
nospf.example.      300 IN A   203.0.113.1
"""


@pytest.fixture(scope="session")
def dns() -> Iterator[SpfSettings]:
    """A real DNS server (dnslib's) on an ephemeral UDP port of 127.0.0.1, serving DNS_ZONE."""
    server_module = pytest.importorskip("dnslib.server")
    zones = pytest.importorskip("dnslib.zoneresolver")
    server = server_module.DNSServer(zones.ZoneResolver(DNS_ZONE), address="127.0.0.1", port=0)
    server.start_thread()
    try:
        port = server.server.server_address[1]
        yield SpfSettings(live=True, nameservers=("127.0.0.1",), port=port, timeout=2.0)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def corpus() -> pathlib.Path:
    """The real corpus folder; tests that take it skip, saying why, when it is absent."""
    path = corpus_dir()
    if path is None:
        pytest.skip("no corpus at ../shared/corpus and $SHINGLES_CORPUS is not set")
    return path
