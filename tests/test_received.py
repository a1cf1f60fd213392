"""Received headers: the "with" protocol, and the compiled reader held to parse_received."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shingles.mail.headers import header_text
from shingles.mail.records import Hop, MailError
from shingles.mail.read import read_raw
from shingles.mail.parse import LEAN_AVAILABLE, parse, tree_of
from shingles.mail.senders import parse_received, read_received

from .conftest import corpus_dir  # type: ignore[import-not-found]  # tests is no package

needs_lean = pytest.mark.skipif(not LEAN_AVAILABLE, reason="shingles._mime is not compiled")

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
    for read in (parse_received, read_received):
        hop = read(value)
        assert (hop.protocol, hop.authenticated) == (protocol, authenticated)


def test_the_protocol_is_a_hop_field_in_json() -> None:
    mail = parse(("Received: from pc (pc [192.0.2.1]) by mx.ours.test with ESMTPA id 1" + DATE
                  + "\nFrom: a@example.org\nSubject: s\n\nbody\n").encode())
    (hop,) = mail.to_json()["hops"]
    assert sorted(hop) == ["by_host", "from_host", "from_ip", "helo", "protocol", "rdns", "time"]
    assert hop["protocol"] == "ESMTPA"


@needs_lean
def test_hop_is_still_what_the_compiled_reader_builds() -> None:
    # _mime.new_hop stores these fields, in this order, as Hop.__init__ does: a
    # change to Hop (a field, a __post_init__) must be made there too.
    from shingles import _mime
    assert [f.name for f in dataclasses.fields(Hop)] == [
        "from_host", "from_ip", "by_host", "time", "helo", "rdns", "protocol"]
    assert not hasattr(Hop, "__post_init__")
    value = "from a (b [192.0.2.1]) by c with SMTP" + DATE
    hop = _mime.received_hop(value)
    assert hop is not None and type(hop) is Hop
    assert vars(hop) == vars(parse_received(value))
    assert pickle.loads(pickle.dumps(hop)) == hop
    with pytest.raises(dataclasses.FrozenInstanceError):
        hop.helo = "x"  # type: ignore[misc]


def assert_twins_agree(value: str) -> None:
    from shingles import _mime
    hop = _mime.received_hop(value)
    if not value.isascii():
        assert hop is None  # handed back: parse_received reads it
        return
    expected = parse_received(value)
    assert hop == expected and repr(hop) == repr(expected)
    assert read_received(value) == expected


BLANKS = [" ", "  ", "\t", "\n", "\r\n ", "\n\t", "\r", "\x0b", "\x1c", ""]
PIECES = st.sampled_from([
    "from ", "FROM\t", "From\n", "fromx ", "mail.Example.org", "unknown", "[192.0.2.1]",
    "([192.0.2.1])", "[IPv6:2001:DB8::1]", "(IPv6:::1)", "[ipv6:::1]", "[1.2.3]", "[01.2.3.4]",
    "[256.1.1.1]", "[[10.0.0.1]]", "[", "]", "()", "(", ")", "((x))",
    "(mail.example.org [192.0.2.10])", "(host-1.example  [203.0.113.9])", "(-x [1.1.1.1])",
    "(HELO fake.example.com)", "(ehlo [192.0.2.7] )", "( Helo x)", "(HELOx y)", "(helo )",
    "helo=pc17", "xhelo=y", "_helo=z", "HELO=[A]", "helo=", "(helo=[])", "elo", "ELO",
    "1.2.3.4", "1234.5.6.7", "1.2.3.4.5", "192.168.001.1", "10.0.0.256", "9.9.9.9x", ".1.2.3.4",
    "by mx.ours.test", "BY x", "by\tx", "by (x)", "by", "xby y", ")by z", "by\r\nhost", " by ;",
    " by [h]", "by  by", "with ESMTP", "WITH esmtpsa", "with Microsoft SMTP Server", "with",
    "with (x)", "with\tLMTPA", ")with SMTP", "wITh utf8smtpsa", "with ;", "(a with b)", "xwith y",
    "with a!#$%&'*+-/=?^_`{|}~b", "id 1A2B", "for <a@b.example>",
    "(qmail 1234 invoked from network)",
    "(using TLSv1.3 with cipher TLS_AES)", "(Postfix)", "(8.11.6/8.11.6)", "; ", ";",
    "; Mon, 2 Mar 2026 09:00:00 +0100", "; 2 Mar 2026 08:00:00 -0000", "; junk",
    "; Thu, 22 Aug 2002 07:36:16 -0400 (EDT)", "; 31 Feb 2002 25:00:00 GMT",
    "é", "İ", "\u212a", "\u017f", "\u00a0", "\u2028", "٣.٣.٣.٣", "😀",
]) | st.sampled_from(BLANKS)
CLAUSES = st.tuples(
    st.sampled_from(["from", "FROM", "From", "", "(qmail 1 invoked by uid 0)"]),
    st.sampled_from(BLANKS),
    st.sampled_from(["mail.example.org", "[192.0.2.1]", "unknown", "([IPv6:2001:db8::1])", "(",
                     "[10.0.0.1", "pc.example (pc.example [198.51.100.7])"]),
    st.sampled_from(BLANKS),
    st.sampled_from(["", "(mail.example.org [192.0.2.10])", "(HELO x.example)", "(helo=pc)",
                     "(198.51.100.7)", "(using TLSv1.3 with cipher X (256/256 bits))"]),
    st.sampled_from(BLANKS),
    st.sampled_from(["by mx.ours.test", "by mx.ours.test (Postfix)", "BY\tMX", "", "by (x)"]),
    st.sampled_from(BLANKS),
    st.sampled_from(["with ESMTPSA", "with esmtp", "with Microsoft SMTP Server (version=TLS1_2)",
                     "", "with", "WITH LMTP (TLS)"]),
    st.sampled_from(BLANKS),
    st.sampled_from(["id 4Abc", "id 1abc for <x@ours.test>", ""]),
    st.sampled_from(["; Mon, 2 Mar 2026 09:00:00 +0100", ";Mon, 02 Mar 2026 08:00:00 -0000 (UTC)",
                     ";", "", "; 2 Mar 26 8:00 EST", ";\n\t Thu, 22 Aug 2002 07:36:16 -0400"]),
).map(" ".join)
RECEIVED = (CLAUSES | st.lists(PIECES, max_size=30).map("".join)
            | st.text(st.characters(max_codepoint=127), max_size=80) | st.text(max_size=40))


@needs_lean
@given(RECEIVED)
def test_compiled_received_reader_equals_parse_received(value: str) -> None:
    assert_twins_agree(value)


@needs_lean
@pytest.mark.skipif(corpus_dir() is None, reason="the real corpus is absent")
def test_compiled_received_reader_agrees_on_every_corpus_header() -> None:
    from shingles import _mime
    total = handed_back = 0
    for raw in read_raw(sorted(corpus_dir().glob("*.mbox.gz"))):
        assert not isinstance(raw, MailError)
        headers = tree_of(raw.data)[0][0]
        for name, value in headers:
            if name.lower().rstrip() == "received":
                text = header_text(value)
                assert_twins_agree(text)
                total += 1
                handed_back += _mime.received_hop(text) is None
    assert total == 32586
    assert handed_back < 10  # the compiled reader really is the common path
