"""Live SPF checks against a real DNS server on 127.0.0.1 serving test zones (no mocked resolver)."""

from __future__ import annotations

import socket

import pytest

from shingles.verdicts.spf import SpfChecker, check_spf
from shingles.config import SpfSettings

pytest.importorskip("dnslib.server")
pytest.importorskip("spf")

# The zones are conftest.DNS_ZONE, served by the `dns` fixture.


@pytest.mark.parametrize("ip, sender, helo, expected", [
    ("192.0.2.55", "news@legit.example", "mx1.legit.example", "pass"),
    ("2001:db8::25", "news@legit.example", None, "pass"),
    ("203.0.113.50", "news@legit.example", None, "fail"),
    ("203.0.113.50", "a@soft.example", None, "softfail"),
    ("203.0.113.50", "a@neutral.example", None, "neutral"),
    ("192.0.2.7", "a@include.example", None, "pass"),
    ("198.51.100.7", "a@mx.example", None, "pass"),
    ("198.51.100.8", "a@mx.example", None, "fail"),
    ("203.0.113.1", "a@nospf.example", None, "none"),
    ("192.0.2.1", "a@broken.example", None, "permerror"),
    ("203.0.113.9", None, "helo.example", "pass"),  # bounce: the HELO identity is checked
])
def test_spf_results_from_a_real_dns_server(dns: SpfSettings, ip: str, sender: str | None,
                                            helo: str | None, expected: str) -> None:
    check = check_spf(ip, sender, helo, dns)
    assert check.result == expected, check.explanation
    assert check.domain == (sender or f"x@{helo}").rpartition("@")[2]


def test_unreachable_dns_is_temperror_not_a_crash() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))  # a port nobody answers on while we hold it
        port = sock.getsockname()[1]
        settings = SpfSettings(live=True, nameservers=("127.0.0.1",), port=port, timeout=0.5)
        check = check_spf("192.0.2.55", "news@legit.example", None, settings)
    assert check.result == "temperror"
    assert "DNS" in check.explanation or "timeout" in check.explanation.lower()


@pytest.mark.parametrize("ip, sender", [(None, "a@legit.example"), ("192.0.2.1", None),
                                        ("not-an-ip", "a@legit.example")])
def test_nothing_to_check_is_none(dns: SpfSettings, ip: str | None, sender: str | None) -> None:
    assert check_spf(ip, sender, None, dns).result == "none"


def test_settings_refuse_bad_servers() -> None:
    with pytest.raises(ValueError):
        SpfSettings(nameservers=("dns.example",))


def test_an_unreachable_resolver_is_asked_once_and_warned_about_once(
        caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))  # receives the queries, never answers
        sock.setblocking(False)
        settings = SpfSettings(live=True, nameservers=("127.0.0.1",),
                               port=sock.getsockname()[1], timeout=0.3)
        checker = SpfChecker(settings)

        def queries() -> int:
            n = 0
            while True:
                try:
                    sock.recv(4096)
                except BlockingIOError:
                    return n
                n += 1

        with caplog.at_level("WARNING", logger="shingles.verdicts.spf"):
            first = checker.check("192.0.2.55", "news@legit.example", None)
            asked = queries()
            rest = [checker.check(f"192.0.2.{i}", f"a@d{i}.example", None) for i in range(9)]
            assert queries() == 0
    assert first.result == "temperror" and asked >= 1
    assert all(c.result == "temperror" for c in rest)
    assert checker.lookups == 1
    assert len([r for r in caplog.records if "did not answer" in r.getMessage()]) == 1


def test_answers_are_remembered_per_ip_and_domain(dns: SpfSettings) -> None:
    checker = SpfChecker(dns)
    for _ in range(3):
        assert checker.check("192.0.2.55", "News@Legit.example", None).result == "pass"
    assert checker.check("203.0.113.50", "news@legit.example", None).result == "fail"
    assert checker.lookups == 2
