"""Live SPF checks against a real DNS server on 127.0.0.1 serving test zones (no mocked resolver)."""

from __future__ import annotations

import socket

import pytest

from shingles.verdicts.spf import check_spf
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
