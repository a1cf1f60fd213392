"""Sender facts: Received hops, the trusted-zone walk, forwarders, SPF/DKIM/DMARC from
headers we can believe, and the config file that says who "we" are."""

from __future__ import annotations

import dataclasses
import ipaddress
import pathlib
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shingles.config import Config, SendersConfig, load_config
from shingles.errors import ConfigError
from shingles.mail.parse import parse
from shingles.mail.senders import parse_received


@pytest.mark.parametrize("value,expected", [
    (("from mail.example.org (mail.example.org [192.0.2.10]) by mx.ours.test (Postfix) with "
      "ESMTP id 1A2B; Mon, 2 Mar 2026 09:00:00 +0100"),
     ("mail.example.org", "192.0.2.10", "mx.ours.test", "mail.example.org", "mail.example.org")),
    (("from unknown (HELO fake.example.com) (198.51.100.7) by mx.ours.test with SMTP; "
      "2 Mar 2026 08:00:00 -0000"),
     ("unknown", "198.51.100.7", "mx.ours.test", "fake.example.com", None)),
    (("from [203.0.113.5] (helo=pc17) by relay.example.net with esmtp (Exim 4) id 17x; "
      "Mon, 02 Mar 2026 08:00:00 +0000"),
     (None, "203.0.113.5", "relay.example.net", "pc17", None)),
    ("from host.example ([IPv6:2001:db8::1]) by mx.ours.test; Mon, 2 Mar 2026 08:00:00 +0000",
     ("host.example", "2001:db8::1", "mx.ours.test", "host.example", None)),
    ("by mx.ours.test (Postfix, from userid 1000) id 5; Mon, 2 Mar 2026 08:00:00 +0000",
     (None, None, "mx.ours.test", None, None)),
    ("(qmail 1234 invoked from network); 2 Mar 2026 08:00:00 -0000",
     (None, None, None, None, None)),
])
def test_received_forms(value: str, expected: tuple[object, ...]) -> None:
    hop = parse_received(value)
    assert (hop.from_host, hop.from_ip, hop.by_host, hop.helo, hop.rdns) == expected
    assert hop.time is not None and hop.time.tzinfo is not None


def test_received_time_keeps_its_offset() -> None:
    hop = parse_received("from a ([192.0.2.1]) by b; Mon, 2 Mar 2026 09:00:00 +0130")
    assert hop.time == datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(minutes=90)))


CHAIN = [
    ("Received: from fwd.partner.test (fwd.partner.test [198.51.100.9]) by mx2.ours.test; "
     "Mon, 2 Mar 2026 09:00:05 +0000"),
    ("Received: from mx1.ours.test (mx1.ours.test [10.1.1.1]) by mx2.ours.test; "
     "Mon, 2 Mar 2026 09:00:04 +0000"),
    ("Received: from fwd.partner.test (fwd.partner.test [198.51.100.9]) by mx1.ours.test; "
     "Mon, 2 Mar 2026 09:00:03 +0000"),
    ("Received: from spammer (dsl.example.com [203.0.113.66]) by fwd.partner.test; "
     "Mon, 2 Mar 2026 09:00:02 +0000"),
    "Received: from forged (forged [192.0.2.200]) by nowhere; Mon, 2 Mar 2026 09:00:01 +0000",
]


def chain_message(*extra: str) -> bytes:
    return ("\n".join([*extra, *CHAIN, "From: x@example.com", "Subject: s"]) + "\n\nbody\n").encode()


def test_walk_without_config_stops_at_the_first_outside_hop() -> None:
    mail = parse(chain_message())
    assert len(mail.hops) == 5
    assert mail.source_ip == "198.51.100.9"  # private 10.1.1.1 is ours by default


def test_forwarder_is_skipped_one_more_hop_back() -> None:
    config = Config(senders=SendersConfig(forwarders=(ipaddress.ip_network("198.51.100.9/32"),)))
    mail = parse(chain_message(), config=config)
    assert mail.source_ip == "203.0.113.66"
    assert mail.helo == "spammer"


def test_trusted_host_names_match_reverse_dns_not_helo() -> None:
    trust_by_name = Config(senders=SendersConfig(forwarder_hosts=(".partner.test",)))
    assert parse(chain_message(), config=trust_by_name).source_ip == "203.0.113.66"
    forged_helo = Config(senders=SendersConfig(trusted_hosts=("spammer",),
                                               forwarder_hosts=(".partner.test",)))
    assert parse(chain_message(), config=forged_helo).source_ip == "203.0.113.66"


def test_private_addresses_are_not_trusted_when_told_so() -> None:
    config = Config(senders=SendersConfig(trust_private=False))
    assert parse(chain_message(), config=config).source_ip == "198.51.100.9"


AUTH = ("Authentication-Results: mx2.ours.test; spf=pass smtp.mailfrom=bounce@news.example; "
        "dkim=pass header.d=news.example; dkim=fail header.d=other.example; dmarc=pass "
        "header.from=news.example")
FORGED = ("Authentication-Results: mx2.ours.test.evil; spf=pass smtp.mailfrom=x@bank.example; "
          "dkim=pass header.d=bank.example; dmarc=pass")


def test_authentication_results_only_from_our_authserv_id() -> None:
    ours = Config(senders=SendersConfig(authserv_ids=("mx2.ours.test",)))
    mail = parse(chain_message(FORGED, AUTH), config=ours)
    assert (mail.spf, mail.spf_domain, mail.dkim, mail.dkim_domains, mail.dmarc) == (
        "pass", "news.example", "pass", ("news.example",), "pass")
    nobody = parse(chain_message(FORGED, AUTH))  # no authserv-id configured: believe none
    assert (nobody.spf, nobody.dkim, nobody.dmarc, nobody.dkim_domains) == (
        None, None, None, ())
    forged_only = parse(chain_message(FORGED), config=ours)
    assert forged_only.dkim is None and forged_only.dkim_domains == ()


@pytest.mark.parametrize("header", [
    # RFC 8601 comments may hold ";" (a naive split lost the sender domain).
    "Authentication-Results: mx2.ours.test; spf=pass (sender IP is 198.51.100.9; "
    "permitted) smtp.mailfrom=bounce@news.example; dkim=pass (2048-bit; ok) "
    "header.d=news.example",
    # A quoted value, and the version after the authserv-id.
    'Authentication-Results: mx2.ours.test 1; spf=pass smtp.mailfrom="bounce@news.example"; '
    "dkim=pass header.d=news.example",
    # Not RFC 8601 (angle brackets): read leniently, clause by clause.
    "Authentication-Results: mx2.ours.test; spf=pass smtp.mailfrom=<bounce@news.example>; "
    "dkim=pass header.d=news.example",
])
def test_authentication_results_grammar(header: str) -> None:
    ours = Config(senders=SendersConfig(authserv_ids=("mx2.ours.test",)))
    mail = parse(chain_message(header), config=ours)
    assert (mail.spf, mail.spf_domain, mail.dkim, mail.dkim_domains) == (
        "pass", "news.example", "pass", ("news.example",))


def test_received_spf_believed_only_above_the_source_hop() -> None:
    above = ("Received-SPF: softfail (mx2.ours.test: domain of x@example.com) "
             "client-ip=198.51.100.9; envelope-from=x@example.com")
    mail = parse(chain_message(above))
    assert (mail.spf, mail.spf_domain) == ("softfail", "example.com")
    below = ("\n".join(CHAIN) + "\nReceived-SPF: pass (forged)\nFrom: x@example.com\n\nb\n").encode()
    assert parse(below).spf is None


def test_envelope_sender_and_recipients() -> None:
    raw = (b"Return-Path: <Bounce@News.Example>\nDelivered-To: me@ours.test\n"
           b"To: Me <ME@ours.test>\nFrom: News <news@news.example>\n\nhi\n")
    mail = parse(raw)
    assert mail.envelope_sender == "bounce@news.example"
    assert mail.recipients == ("me@ours.test",)


NAME_ADDRS = st.tuples(
    st.sampled_from(["", " ", "\t", "  "]),
    st.text(st.sampled_from('Jo D,.<>@()[];:=?é\\ \''), max_size=12),
    st.sampled_from(["", " ", "\t"]),
    st.text(st.sampled_from("ab.@-_+[]:,;()\" \\XY1é!#$%&'*/=?^`{|}~"), max_size=16),
    st.sampled_from(["", " ", "\t", ">"]),
).map(lambda t: f'{t[0]}"{t[1]}"{t[2]}<{t[3]}>{t[4]}')


@given(NAME_ADDRS)
def test_quoted_display_name_shortcut_reads_as_parseaddr(value: str) -> None:
    # From: "Name" <addr> skips email's parseaddr; it must give what parseaddr gives.
    from shingles.mail import headers
    assert headers._first_address(value) == headers._parsed_address(value)


def test_config_from_toml(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "shingles.toml"
    path.write_text('[senders]\ntrusted_networks = ["203.0.113.0/24"]\n'
                    'trusted_hosts = ["MX.Ours.Test."]\nforwarders = ["198.51.100.9", '
                    '"fwd.partner.test"]\nauthserv_ids = ["mx2.ours.test"]\n'
                    '[limits]\nmax_headers = 50\n')
    config = load_config(str(path))
    assert config.senders.trusted_networks == (ipaddress.ip_network("203.0.113.0/24"),)
    assert config.senders.trusted_hosts == ("mx.ours.test",)
    assert config.senders.forwarders == (ipaddress.ip_network("198.51.100.9/32"),)
    assert config.senders.forwarder_hosts == ("fwd.partner.test",)
    assert config.limits.max_headers == 50
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.limits = config.limits  # type: ignore[misc]


@pytest.mark.parametrize("text,message", [
    ("[senders]\ntrusted_networks = ['not-a-net']\n", "not an IP network"),
    ("[senders]\ntrusted = ['10.0.0.0/8']\n", "unknown setting"),
    ("[thresholds]\nx = 1\n", "unknown config section"),
    ("[limits]\nmax_headers = -1\n", "positive integer"),
    ("[senders\n", "not valid TOML"),
])
def test_bad_config_is_a_clear_error(text: str, message: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(str(path))


@given(st.ip_addresses(v=4) | st.sampled_from(["10.0.0.1", "172.15.255.255", "172.16.0.0",
                                                "172.31.255.255", "172.32.0.0", "192.168.3.4",
                                                "192.169.0.1", "169.254.9.9", "127.8.8.8"]))
def test_internal_by_first_octets_is_internal_by_network(ip: object) -> None:
    from shingles.mail.senders import _INTERNAL, _in, _internal

    text = str(ip)
    assert _internal(text) == _in(text, _INTERNAL)


@pytest.mark.parametrize("domain, other, expected", [
    ("shop.example", "shop.example", True),
    ("mail.shop.example", "shop.example", True),
    ("Shop.Example.", "shop.example", True),
    ("shop.example", "example", False),       # a bare top-level domain aligns with nothing
    ("example", "mail.example", False),
    ("com", "com", True),
    ("badshop.example", "shop.example", False),
    (None, "shop.example", False),
])
def test_relaxed_alignment(domain: str | None, other: str, expected: bool) -> None:
    from shingles.mail.identity import aligned

    assert aligned(domain, other) is expected
    assert aligned(other, domain) is expected
