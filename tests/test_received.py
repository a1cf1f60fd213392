"""Received headers: the "with" protocol."""

from __future__ import annotations

import pytest

from shingles.parse import parse
from shingles.senders import parse_received

DATE = "; Mon, 2 Mar 2026 09:00:00 +0100"


@pytest.mark.parametrize("value,protocol,authenticated", [
    # Postfix: the "with" inside the TLS comment is no clause.
    ("from mail.example.org (mail.example.org [192.0.2.10]) (using TLSv1.3 with cipher "
     "TLS_AES_256_GCM_SHA384 (256/256 bits)) (No client certificate requested) by mx.ours.test "
     "(Postfix) with ESMTPSA id 4Abc" + DATE, "ESMTPSA", True),
    ("from [203.0.113.5] (helo=pc17) by relay.example.net with esmtpsa (TLS1.3) tls "
     "TLS_AES_256_GCM_SHA384 (Exim 4.96) (envelope-from <a@example.net>) id 1abc for b@ours.test"
     + DATE, "ESMTPSA", True),
    ("from unknown (HELO fake.example.com) (198.51.100.7) by mx.ours.test with SMTP" + DATE,
     "SMTP", False),
    # Exchange writes a product where RFC 5321 wants a protocol atom: its first word is kept.
    ("from AM0PR01MB1234.eurprd01.prod.exchangelabs.com (2603:10a6:208:1::11) by "
     "AM9PR01MB5678.eurprd01.prod.exchangelabs.com (2603:10a6:20b:2::22) with Microsoft SMTP "
     "Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7452.28"
     + DATE, "MICROSOFT", False),
    ("from mx.ours.test by imap.ours.test (Dovecot) with LMTP id x7" + DATE, "LMTP", False),
    ("from pc.example.org by mx.ours.test\n\tWITH\tUtf8SmtpSA id 9" + DATE, "UTF8SMTPSA", True),
    ("by mx.ours.test (Postfix, from userid 1000) id 5" + DATE, None, False),
    ("from a (with b) by c (with d)" + DATE, None, False),
])
def test_the_with_clause_gives_the_protocol(value: str, protocol: str | None,
                                            authenticated: bool) -> None:
    hop = parse_received(value)
    assert (hop.protocol, hop.authenticated) == (protocol, authenticated)


def test_the_protocol_is_a_hop_field_in_json() -> None:
    mail = parse(("Received: from pc (pc [192.0.2.1]) by mx.ours.test with ESMTPA id 1" + DATE
                  + "\nFrom: a@example.org\nSubject: s\n\nbody\n").encode())
    (hop,) = mail.to_json()["hops"]
    assert sorted(hop) == ["by_host", "from_host", "from_ip", "helo", "protocol", "rdns", "time"]
    assert hop["protocol"] == "ESMTPA"
