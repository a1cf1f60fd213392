"""Hostile senders against the trusted zone: a HELO address literal is never the
connecting IP (both Received readers), and Authentication-Results or
Received-SPF below the first untrusted hop are never believed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shingles.config import Config, SendersConfig
from shingles.mail.parse import LEAN_AVAILABLE, parse
from shingles.mail.records import Hop
from shingles.mail.senders import parse_received

DATE = "; Mon, 2 Mar 2026 09:00:00 +0100"
READERS = ["python", "compiled"] if LEAN_AVAILABLE else ["python"]


@pytest.fixture(params=READERS)
def read(request: pytest.FixtureRequest) -> Callable[[str], Hop]:
    """The plain-Python Received reader and its compiled twin, on the same examples."""
    if request.param == "python":
        return parse_received
    from shingles import _mime

    def compiled(value: str) -> Hop:
        hop = _mime.received_hop(value)
        assert hop is not None
        return hop
    return compiled


# (format, header value, connecting IP, reverse DNS): the HELO is an address
# literal inside our zone; the client really connected from 198.51.100.9.
FORMATS = [
    ("postfix", "from [10.0.0.5] (host.isp.example [198.51.100.9]) by mx.example.org (Postfix) "
     "with ESMTP id 4Abc", "198.51.100.9", "host.isp.example"),
    ("postfix-unknown", "from [127.0.0.1] (unknown [198.51.100.9]) (using TLSv1.3 with cipher "
     "TLS_AES_256_GCM_SHA384 (256/256 bits)) by mx.example.org (Postfix) with ESMTPS id 4Abd",
     "198.51.100.9", "unknown"),
    ("sendmail", "from [192.168.1.20] (host.isp.example [198.51.100.9] (may be forged)) by "
     "mx.example.org (8.17.1/8.17.1) with ESMTP id 12AB34", "198.51.100.9", "host.isp.example"),
    ("sendmail-no-rdns", "from [10.0.0.5] ([198.51.100.9]) by mx.example.org (8.17.1/8.17.1) "
     "with ESMTP id 12AB35", "198.51.100.9", None),
    ("exim", "from [198.51.100.9] (helo=[10.0.0.5]) by mx.example.org with esmtp (Exim 4.96) "
     "(envelope-from <a@b.example>) id 1abc", "198.51.100.9", None),
    ("exim-verified", "from host.isp.example ([198.51.100.9]:41234 helo=[10.0.0.5]) by "
     "mx.example.org with esmtps (Exim 4.96) id 1abd", "198.51.100.9", None),
    ("exchange", "from [10.0.0.5] (198.51.100.9) by mx.example.org (10.1.1.1) with Microsoft "
     "SMTP Server (version=TLS1_2) id 15.1.2507.39", "198.51.100.9", None),
    ("google", "from [192.168.1.20] (host.isp.example. [198.51.100.9]) by smtp.gmail.com with "
     "ESMTPSA id a1b2c3", "198.51.100.9", "host.isp.example"),
    ("qmail", "from unknown (HELO [10.0.0.5]) (198.51.100.9) by mx.example.org with SMTP",
     "198.51.100.9", None),
    # qmail takes the whole HELO line: a HELO holding its own comment comes before ours.
    ("qmail-helo-comment", "from unknown (HELO x) (10.0.0.5) (198.51.100.9) by mx.example.org "
     "with SMTP", "198.51.100.9", None),
    ("qmail-helo-unbalanced", "from unknown (HELO x (10.0.0.5) (198.51.100.9) by mx.example.org "
     "with SMTP", "198.51.100.9", None),
    ("postfix-localhost", "from [127.0.0.1] (localhost [127.0.0.1]) by mx.example.org (Postfix) "
     "with ESMTP id 4Abe", "127.0.0.1", "localhost"),
]


@pytest.mark.parametrize("value,ip,rdns", [f[1:] for f in FORMATS], ids=[f[0] for f in FORMATS])
def test_a_helo_literal_is_never_the_connecting_ip(read: Callable[[str], Hop], value: str,
                                                  ip: str, rdns: str | None) -> None:
    hop = read(value + DATE)
    assert (hop.from_ip, hop.rdns, hop.by_host) == (ip, rdns, hop.by_host)
    assert hop.by_host is not None and hop.time is not None


ZONE = Config(senders=SendersConfig(authserv_ids=("mx.example.org",)))


def message(top: str, *forged: str) -> bytes:
    lines = [*top.splitlines(), *forged,
             "Received: from [10.9.9.9] (inside.bank.example [10.9.9.9]) by out.bank.example; "
             "Mon, 2 Mar 2026 08:59:00 +0100",
             "From: news@bank.example", "To: me@example.org", "Subject: s", "", "body", ""]
    return "\n".join(lines).encode()


@pytest.mark.parametrize("value", [f[1] for f in FORMATS if f[2] == "198.51.100.9"],
                         ids=[f[0] for f in FORMATS if f[2] == "198.51.100.9"])
def test_a_helo_literal_does_not_open_the_trusted_zone(value: str) -> None:
    # The forged Received-SPF and source below our MX's header must stay unread.
    mail = parse(message("Received: " + value + DATE,
                         "Received-SPF: pass (forged) client-ip=10.9.9.9"), config=ZONE)
    assert mail.source_ip == "198.51.100.9"
    assert mail.spf is None


AUTH = ("Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=news@bank.example; "
        "dkim=pass header.d=bank.example; dmarc=pass")
TOP = ("Received: from out.bank.example (out.bank.example [198.51.100.9]) by mx.example.org "
       "(Postfix) with ESMTP id 4Abc" + DATE)


def test_our_authentication_results_below_the_source_hop_are_not_believed() -> None:
    forged = parse(message(TOP, AUTH), config=ZONE)
    assert (forged.spf, forged.dkim, forged.dkim_domains, forged.dmarc) == (None, None, (), None)
    ours = parse(message(AUTH + "\n" + TOP), config=ZONE)
    assert (ours.spf, ours.dkim, ours.dkim_domains, ours.dmarc) == (
        "pass", "pass", ("bank.example",), "pass")
    # Ours above, a forged fail below: ours counts.
    fail = AUTH.replace("=pass", "=fail")
    both = parse(message(AUTH + "\n" + TOP, fail), config=ZONE)
    assert (both.spf, both.dkim, both.dmarc) == ("pass", "pass", "pass")


def test_authentication_results_inside_the_zone_count() -> None:
    # Our MX handed the message on to an internal host, which added the results.
    inner = ("Received: from mx.example.org (mx.example.org [10.1.1.1]) by inbox.example.org; "
             "Mon, 2 Mar 2026 09:00:01 +0100")
    mail = parse(message(inner + "\n" + AUTH + "\n" + TOP), config=ZONE)
    assert mail.source_ip == "198.51.100.9" and mail.dkim == "pass"
