"""Parsing: visible text, quoted text, attachments, header fields, hostile input, and
the lean splitter held to the standard email parser."""

from __future__ import annotations

import base64
import os
import pathlib
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shingles.mail import parse as parse_module
from shingles.config import DEFAULT_CONFIG, Config, Limits
from shingles.errors import MailParseError, MessageTooLargeError
from shingles.mail.records import Mail, MailError
from shingles.mail.read import read, read_raw
from shingles.mail.parse import LEAN_AVAILABLE, parse, split_quoted, tree_of

from .conftest import corpus_dir  # type: ignore[import-not-found]  # tests is no package

DATA = pathlib.Path(__file__).resolve().parent / "data"
needs_lean = pytest.mark.skipif(not LEAN_AVAILABLE, reason="shingles._mime is not compiled")


def msg(*lines: str, body: str = "") -> bytes:
    return ("\n".join(lines) + "\n\n" + body).encode("utf-8")


DEFAULT = Config()


def both(raw: bytes, config: Config = DEFAULT) -> Mail:
    """Parse with the standard splitter and (when compiled) the default path; demand equality."""
    std = parse(raw, "t", config, lean=False)
    assert parse(raw, "t", config) == std
    return std


ALTERNATIVE = b"""From: "Shop" <Offers@Shop.Example>
To: a@example.net, "B, Person" <b@example.net>
Cc: c@example.net
Subject: =?utf-8?B?U3DDqWNpYWw=?= =?utf-8?Q?_offer?=
Date: Tue, 3 Mar 2026 10:20:30 -0500
Message-ID:  <abc@shop.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=us-ascii

HASHBUSTER junk nobody sees
--inner
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<html><head><style>p{color:red}</style><script>var x=1;</script></head>
<body><p>Buy our caf=C3=A9 <b>spe</b>cial</p><div style=3D"display:none">hidden tokens</div>
<a href=3D"https://Track.Example.com/x?id=3D1">click here</a> &amp; save<!-- comment --></body></html>
--inner--
--outer
Content-Type: image/png; name="pic.png"
Content-Disposition: attachment; filename="pic.png"
Content-Transfer-Encoding: base64

aGVsbG8=
--outer--
"""


def test_alternative_shows_the_html_a_client_shows() -> None:
    mail = both(ALTERNATIVE)
    assert "Buy our café special" in mail.text
    assert "track.example.com" in mail.text  # link host kept as a token
    for unseen in ("HASHBUSTER", "hidden tokens", "var x", "color:red", "comment"):
        assert unseen not in mail.text
    assert mail.subject == "Spécial offer"
    assert mail.from_addr == "offers@shop.example" and mail.from_domain == "shop.example"
    assert mail.recipients == ("a@example.net", "b@example.net", "c@example.net")
    assert mail.message_id == "<abc@shop.example>"
    assert mail.date is not None and mail.date.isoformat() == "2026-03-03T10:20:30-05:00"
    [attachment] = mail.attachments
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "pic.png", "image/png", 5)
    assert attachment.sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


@pytest.mark.parametrize("charset,text", [
    ("koi8-r", "Привет, мир"), ("windows-1251", "Привет, мир"), ("iso-8859-2", "Zażółć gęślą"),
    ("utf-8", "naïve 😀"), ("iso-8859-1", "crème brûlée"), ("gb2312", "你好世界"),
])
@pytest.mark.parametrize("cte", ["8bit", "base64", "quoted-printable"])
def test_charsets_and_transfer_encodings(charset: str, text: str, cte: str) -> None:
    import quopri

    data = text.encode(charset)
    body = {"8bit": data, "base64": base64.encodebytes(data),
            "quoted-printable": quopri.encodestring(data)}[cte]
    raw = (f"From: a@example.org\nContent-Type: text/plain; charset={charset}\n"
           f"Content-Transfer-Encoding: {cte}\n\n").encode() + body
    assert both(raw).text == text


def test_unknown_charset_falls_back_and_says_so() -> None:
    mail = both((DATA / "bad" / "invalid_charset.eml").read_bytes())
    assert mail.subject == "élève and café"
    assert mail.from_addr == "jerome@example.org"
    assert any("unknown charset" in d for d in mail.defects)
    assert "crème" in mail.text


def test_mislabelled_utf8_is_read_as_utf8() -> None:
    assert both((DATA / "bad" / "mislabelled.eml").read_bytes()).text == "naïve résumé €"


def test_broken_base64_keeps_what_decodes() -> None:
    mail = both((DATA / "bad" / "broken_base64.eml").read_bytes())
    assert mail.text.startswith("Hello world")
    assert "bad base64" in mail.defects and mail.attachments[0].filename == "pic.png"


def test_truncated_multipart_keeps_the_parts_that_arrived() -> None:
    mail = both((DATA / "bad" / "truncated_multipart.eml").read_bytes())
    assert "cut mid-w" in mail.text and "CloseBoundaryNotFoundDefect" in mail.defects


def test_bad_header_lines_end_the_header_block_as_email_does() -> None:
    mail = both((DATA / "bad" / "bad_headers.eml").read_bytes())
    assert mail.header_names == ("from", "to", "subject")
    assert "MissingHeaderBodySeparatorDefect" in mail.defects
    assert mail.subject.endswith("raw 8-bit bytes in a header")


@pytest.mark.parametrize("name", ["garbage.bin", "starts_with_continuation.eml"])
def test_non_mail_is_a_parse_error(name: str) -> None:
    with pytest.raises(MailParseError, match="not a mail message"):
        parse((DATA / "bad" / name).read_bytes())
    [record] = list(read(DATA / "bad" / name))
    assert isinstance(record, MailError) and record.source == str(DATA / "bad" / name)


def test_every_crafted_bad_file_gives_a_record_and_none_is_lost() -> None:
    files = sorted((DATA / "bad").iterdir())
    records = list(read(DATA / "bad"))
    assert [r.source for r in records] == [str(f) for f in files]


def test_ten_thousand_headers_are_capped() -> None:
    raw = b"From: a@example.org\n" + b"".join(
        b"X-H%d: v\n" % i for i in range(10_000)) + b"\nbody\n"
    mail = both(raw)  # its time at 1-16 MB of fields: bench/bench_hostile.py (header-count)
    assert len(mail.header_names) == Limits().max_headers
    assert any("header fields" in d for d in mail.defects) and mail.text == "body"


def test_multiparts_nested_a_thousand_deep_are_cut_and_said_so() -> None:
    # Its time at 1-16 MB of such nesting is in bench/bench_hostile.py (multipart-depth).
    depth = 1000
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n'
                   for i in range(depth))
    raw = ("From: a@example.org\n" + head + "Content-Type: text/plain\n\ndeep text\n").encode()
    mail = both(raw)
    assert any("Nesting" in d or "nested" in d for d in mail.defects)


def test_fifty_megabyte_attachment_is_digested_not_kept() -> None:
    blob = bytes(range(256)) * (50 * 4096)
    raw = (b"From: a@example.org\nContent-Type: multipart/mixed; boundary=x\n\n--x\n"
           b"Content-Type: text/plain\n\nsee attached\n--x\nContent-Type: application/zip\n"
           b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(blob) + b"--x--\n")
    mail = parse(raw)
    assert mail.text == "see attached"
    assert mail.attachments[0].size == len(blob)
    with pytest.raises(MessageTooLargeError):
        parse(raw, config=Config(limits=Limits(max_message_bytes=1 << 20)))


def test_quoted_reply_and_signature_are_set_apart() -> None:
    text = ("Sounds good, see you then.\n\nOn Mon, 2 Mar 2026, Bob wrote:\n\n> Lunch at noon?\n"
            "> At the usual place.\n\nAnd bring the notes.\n-- \nAlice\nExample Corp\n")
    new, old = split_quoted(text)
    assert new == "Sounds good, see you then.\n\nAnd bring the notes."
    assert "Bob wrote:" in old and "> Lunch at noon?" in old and "Example Corp" in old
    raw = msg("From: alice@example.org", "In-Reply-To: <q@x>", "References: <p@x> <q@x>",
              body=text)
    mail = both(raw)
    assert mail.text == new and mail.quoted == old
    assert mail.in_reply_to == "<q@x>" and mail.references == ("<p@x>", "<q@x>")


def test_list_footer_is_quoted_text() -> None:
    new, old = split_quoted("Short post.\n_______________________________________________\n"
                            "Exmh-users mailing list\nhttps://listman.example.com/mailman\n")
    assert new == "Short post." and "mailing list" in old


def test_bulk_signs_and_header_names() -> None:
    raw = msg("From: news@example.org", "List-Id: <n.example.org>",
              "List-Unsubscribe: <mailto:u@example.org>", "List-Unsubscribe-Post: One-Click",
              "Precedence: bulk", "Feedback-ID: 1:2:3", "X-Mailer: Mailer 1.0", body="x")
    mail = both(raw)
    assert mail.bulk_signs == {"list-id", "list-unsubscribe", "list-unsubscribe-post",
                               "precedence-bulk", "feedback-id"}
    assert mail.x_mailer == "Mailer 1.0"
    assert mail.header_names[:3] == ("from", "list-id", "list-unsubscribe")


def test_to_json_is_plain_data() -> None:
    import json

    out = both(ALTERNATIVE).to_json()
    assert json.loads(json.dumps(out)) == out
    assert out["source"] == "t" and out["message_id"] == "<abc@shop.example>"


@needs_lean
def test_lean_splitter_handles_plain_mail_and_hands_back_odd_mail() -> None:
    assert tree_of(ALTERNATIVE)[1] == "lean"
    # A message cut inside its last part is common in spam and in cut mailboxes:
    # the lean splitter takes it, with email's defect.
    cut = (DATA / "bad" / "truncated_multipart.eml").read_bytes()
    tree, splitter = tree_of(cut)
    assert splitter == "lean" and tree[3] == ("CloseBoundaryNotFoundDefect",)
    # A forwarded message inside: email's sub-message rules, so email splits it.
    odd = (b"Content-Type: multipart/mixed; boundary=zz\n\n--zz\n"
           b"Content-Type: message/rfc822\n\nSubject: inner\n\nhello\n--zz--\n")
    assert tree_of(odd)[1] == "email"
    with pytest.raises(MailParseError):
        tree_of(odd, lean=True)


def test_pure_python_install_uses_the_standard_parser() -> None:
    path = DATA / "bad" / "mislabelled.eml"
    code = (f"import shingles.mail.parse as p; m = p.parse(open({str(path)!r},'rb').read()); "
            "print(p.LEAN_AVAILABLE, m.subject)")
    env = {**os.environ, "SHINGLES_PUREPYTHON": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=False,
                          cwd=pathlib.Path(parse_module.__file__).parent.parent, timeout=60)
    assert done.stdout.split(None, 1) == ["False", "labelled us-ascii, sent as utf-8\n"], done.stderr


MAIL_PIECES = st.lists(st.sampled_from([
    b"From: a@example.org\n", b"Subject: =?utf-8?B?w6k=?=\n",
    b"Content-Type: multipart/mixed; boundary=zz\n", b"\n", b"--zz\n", b"--zz--\n", b"Content-Type: text/html\n",
    b"Content-Transfer-Encoding: base64\n", b"aGVsbG8=\n", b"<p>hi</p>\n", b"\r\n", b"\r",
    b" folded\n", b"Received: from x ([10.0.0.1]) by y; Mon, 2 Mar 2026 10:00:00 +0000\n",
    b"> quoted\n", b"\xff\xfe\n", b"Content-Type: message/rfc822\n", b"X: y\n",
]), max_size=30)


@given(st.binary(max_size=300) | MAIL_PIECES.map(b"".join))
def test_any_bytes_parse_or_fail_cleanly_and_splitters_agree(raw: bytes) -> None:
    try:
        std = parse(raw, lean=False)
    except MailParseError:
        return
    assert parse(raw) == std


@needs_lean
@given(MAIL_PIECES.map(b"".join))
def test_lean_tree_equals_the_standard_tree_whenever_it_answers(raw: bytes) -> None:
    # Node for node, defects included: what the lean splitter keeps, email keeps.
    from shingles import _mime
    from shingles.mail.parse import _std_tree

    tree = _mime.split(raw, DEFAULT_CONFIG.limits.max_depth)
    if tree is not None:
        assert tree == _std_tree(raw, DEFAULT_CONFIG.limits)


@needs_lean
@pytest.mark.parametrize("raw", [ALTERNATIVE, msg("From: a@example.org", body="hi\n"),
                                 msg("Content-Type: text/html", body="<p>x</p>")])
def test_lean_tree_answers_common_messages(raw: bytes) -> None:
    # The property test above compares only when the lean splitter answers; it must
    # answer for ordinary mail, or that test would check nothing.
    from shingles import _mime
    from shingles.mail.parse import _std_tree

    tree = _mime.split(raw, DEFAULT_CONFIG.limits.max_depth)
    assert tree is not None and tree == _std_tree(raw, DEFAULT_CONFIG.limits)


@pytest.mark.skipif(corpus_dir() is None, reason="the real corpus is absent")
def test_corpus_lean_and_standard_parsers_agree_on_every_message() -> None:
    handed_back = total = 0
    for name in ("spam", "ham"):
        for raw in read_raw(corpus_dir() / f"{name}.mbox.gz"):
            assert not isinstance(raw, MailError)
            total += 1
            std = parse(raw.data, raw.source, lean=False)
            fast = parse(raw.data, raw.source)
            assert fast == std, raw.source
            handed_back += LEAN_AVAILABLE and tree_of(raw.data)[1] == "email"
    assert total == 1897 + 4149
    assert handed_back < total * 0.05  # the lean path really is the common path


HTMLISH = st.lists(st.sampled_from(
    list("<>/ \t\n\r\x0b\x1c\x85\u00a0\u2028\u0130\u0131\u017f")
    + ["<p>", "</div>", "<BR/>", "<td ", "<h7>", "<pre\n", "<li", "<Table>", "<sectio>",
       "<blockquote>", "x", "é", "😀"]), max_size=60).map("".join)

# Markup as the pass reads it: tags with the attributes it looks at, values quoted
# and not, with character references and hosts in them; comments, raw-text
# elements and text between; in any order and cut anywhere.
LINK = st.tuples(
    st.sampled_from(["http:", "HTTPS:", "", " http:", "ftp:", "ht&#116;p:"]),
    st.sampled_from(["//", "&#x2F;/", "/"]), st.sampled_from(["", "user@", "a@b@"]),
    st.sampled_from(["Host.Example", "h&#46;example", "\u0130.example", "\u017f.example",
                     "&#1040;.example", "&#x1F600;.example", "a&amp;b.example", "a<b.example",
                     "é.example", " ", ""]),
    st.sampled_from(["", ":80", " ", "&#58;80"]),
    st.sampled_from(["", "/x", "?q", "#f", "\\x", "?a=1&amp;b=2", "&#47;x", "/&amp;"]),
).map("".join)
ATTR_VALUE = LINK | st.lists(st.sampled_from(
    ["http:", "HTTPS:", "//", "Host", ".example", "@", ":80", "/", "?", "#", "\\", " ", "\t",
     "&#46;", "&amp;", "&#x2F;", "&#20;", "&#1040;", "&copy", "&notin;", ">", "<", "=", "'", '"',
     "display:none", "Visibility: Hidden", "font-size:0", "font-size: 0.9em", "0", "+0",
     "\u0130", "\u017f", "é", "😀", "x"]), max_size=6).map("".join)
ATTRIBUTE = st.tuples(
    st.sampled_from([" href", " HREF", " src", " alt", " style", " size", " hidden", " x", "/",
                     "=x", ' "a"']),
    st.sampled_from(["=", " = ", ""]), st.sampled_from(['"', "'", ""]), ATTR_VALUE,
).map(lambda a: a[0] + a[1] + a[2] + a[3] + (a[2] if a[1] else ""))
TAG = st.tuples(
    st.sampled_from(["<", "</"]),
    st.sampled_from(["a", "A", "img", "iframe", "font", "p", "td", "th", "tr", "table",
                     "blockquote", "script", "style", "title", "textarea", "xmp", "plaintext",
                     "svg", "math", "noscript", "object", "template", "span", "İmg"]),
    st.lists(ATTRIBUTE, max_size=3).map("".join), st.sampled_from([">", "/>", " >", ""]),
).map("".join)
LINK_TAG = st.tuples(
    st.sampled_from(["<a href=", "<A HREF = ", "<img src=", "<iframe src=", "<img alt=x src="]),
    st.sampled_from(['"', "'", ""]), LINK, st.lists(ATTRIBUTE, max_size=2).map("".join),
).map(lambda t: t[0] + t[1] + t[2] + t[1] + t[3] + ">")
MARKUPISH = st.lists(st.one_of(TAG, LINK_TAG, st.sampled_from(
    list("<>/=\"'& \t\n\r\x00-!xé😀")
    + ["</script >", "</style>", "</title>", "</textarea>", "</iframe>", "<!--", "-->", "--!>",
       "<!-->", "<!DOCTYPE html>", "<?x>", "</>", "</ x>", "<script>", "<!--<script>",
       "&amp;", "&lt;", "words"])), max_size=25).map("".join)


@needs_lean
@given(HTMLISH | st.text(max_size=80))
def test_compiled_text_helpers_equal_their_python_twins(text: str) -> None:
    from shingles import _mime
    from shingles.mail import html as htmltext
    assert _mime.tidy(text) == htmltext._tidy_py(text)


@needs_lean
@given(MARKUPISH | HTMLISH | st.text(max_size=80))
def test_compiled_markup_pass_equals_its_python_twin(markup: str) -> None:
    from shingles import _mime
    from shingles.mail import htmlscan
    assert _mime.prepare_markup(markup) == htmlscan.prepare_markup_py(markup)


QUOTEISH = st.lists(st.sampled_from(
    list(" \t\n\r\x0b\x1c\x85\u00a0\u3000>|-_=Bbx:") + [
        "> ", "-- ", "|>", "||>", "__________", "==========", "----------",
        "____________________", "Bob wrote:", "\nFrom: x\n", "Begin forwarded message:",
        "BEG\u0130N FORWARDED MESSAGE:", "-----Original Message-----", "list", "\n\n\n",
        "é", "😀", " wrote: \n", "\n> ", "\nvon: y", "unsubscribe", "\r", "RH>", "GLM> ",
        "abcde>", "\nAb>\t"]),
    max_size=40).map("".join)


@needs_lean
@given(QUOTEISH | st.text(max_size=80))
def test_compiled_quote_marks_equal_their_python_twin(text: str) -> None:
    from shingles import _mime
    from shingles.mail.quoting import quote_marks_py

    assert _mime.quote_marks(text) == quote_marks_py(text)


@needs_lean
@given(QUOTEISH | st.text(max_size=80))
def test_compiled_split_quoted_equals_its_python_twin(text: str) -> None:
    from shingles import _mime
    from shingles.mail.quoting import split_quoted_py

    assert _mime.split_quoted(text) == split_quoted_py(text)


@given(QUOTEISH)
def test_split_quoted_keeps_every_line_once_in_order(text: str) -> None:
    # Whatever is set apart, new and quoted text together are the lines of text:
    # nothing lost, nothing made up (blank lines aside).
    new, old = split_quoted(text)
    if not old:
        assert new == text.strip()
        return
    words = text.split()
    parts = [part.split() for part in (new, old)]
    assert sorted(parts[0] + parts[1]) == sorted(words)  # once each
    for part in parts:  # in order: each part is a subsequence of the text's words
        rest = iter(words)
        assert all(any(w == x for x in rest) for w in part), part


PARAMISH = st.lists(st.sampled_from(list(';"\\= aB') + ['\\"', "; ", "name=", '"x;y"']),
                   max_size=30).map("".join)


@given(PARAMISH | st.text(max_size=40))
def test_parameter_items_are_the_email_packages(value: str) -> None:
    # The lean splitter cuts multiparts at the boundary email would read, so the
    # parameter walk must split exactly like email.message._parseparam.
    import email.message

    from shingles.mail.headers import _parseparam

    assert _parseparam(value) == email.message._parseparam(value)  # type: ignore[attr-defined]


DATEISH = st.lists(st.sampled_from(
    ["Thu, ", "Thu,", "Thu", "thursday, ", "22", "2", "022", " ", "  ", "\t", "\n", "-", "Aug",
     "aug", "AUGUST", "Fob", "2002", "02", "0099", "20021", "07:36", "7:36:16", ":60", ":5",
     "25:00", " -0400", "+0000", "+2400", "-9999", " (EDT)", "GMT", "31 Feb", "٣", ""]),
    max_size=10).map("".join)


DATE_SLOTS = st.tuples(*(st.sampled_from(choices) for choices in (
    ["", " ", "Thu, ", "Thu,", "Sun ", "Thu", "thursday, "], ["1", "22", "31", "0", "022", "٣"],
    [" ", "  ", "\t", "-", "\n"], ["Aug", "feb", "DEC", "August", "Fob"], [" ", "-", ""],
    ["2002", "1999", "0099", "02", "20021"], [" ", "\t", ""], ["7", "07", "23", "24", "123"],
    [":36", ":5", "36"], ["", ":16", ":60", ":7", ":167"], ["", " ", "  "],
    ["-0400", "+0000", "+2400", "-9999", "+05300", "GMT", "", "+04"], ["", " (EDT)", "x"],
))).map("".join)


@needs_lean
@given(DATE_SLOTS | DATEISH | st.text(max_size=40))
def test_compiled_common_date_agrees_with_parse_date(text: str) -> None:
    from shingles import _mime
    from shingles.mail.headers import parse_date

    found = _mime.common_date(text)
    if found is not None:  # None: not the common form, parse_date decides
        expected = parse_date(text)
        assert found == expected and repr(found) == repr(expected)


@needs_lean
@pytest.mark.parametrize("text", ["Thu, 22 Aug 2002 07:36:16 -0400 (EDT)",
                                  "22 Aug 2002 11:36:16 +0000",
                                  "Mon, 03 Mar 2026 10:20:30 -0500"])
def test_compiled_common_date_answers_the_common_form(text: str) -> None:
    # The property test above compares only when common_date answers: here it must.
    from shingles import _mime
    from shingles.mail.headers import parse_date

    found = _mime.common_date(text)
    assert found is not None and found == parse_date(text)
    assert repr(found) == repr(parse_date(text))


def test_common_dates_are_read_by_the_compiled_reader() -> None:
    from shingles.mail.senders import read_date

    text = "Thu, 22 Aug 2002 07:36:16 -0400 (EDT)"
    assert read_date(text) == read_date("22 Aug 2002 11:36:16 +0000")
    if LEAN_AVAILABLE:  # the pure-Python build has no _mime to import
        from shingles import _mime

        assert _mime.common_date(text) is not None


@needs_lean
@given(st.lists(st.sampled_from([b" ", b"\t", b"\r\n", b"\n ", b"\n\t", b"\x0b", b"\x1c", b"a", b"\r",
                                 b"\n", b"=?utf-8?q?x?=", b"\xc3\xa9", b"\xe9", b"\x7f", b"\x00"]),
                max_size=10).map(b"".join) | st.binary(max_size=20))
def test_compiled_header_text_equals_the_python_reader(value: bytes) -> None:
    from shingles import _mime
    from shingles.mail import headers
    assert _mime.header_text(value) == headers.header_text(value)


HEADER_NAMES = st.sampled_from(["Received", "received ", "To", "CC\t", "Delivered-To", "From",
                                "Authentication-Results", "Received-SPF", "List-Id", "X-A",
                                "x-a", "", " ", "Ä"])


@needs_lean
@given(st.lists(st.tuples(HEADER_NAMES, st.binary(max_size=4)), max_size=12),
       st.integers(0, 14))
def test_compiled_header_index_equals_its_python_twin(
        headers: list[tuple[str, bytes]], max_headers: int) -> None:
    from shingles import _mime
    from shingles.mail.parse import _index_headers_py

    assert _mime.index_headers(tuple(headers), max_headers) == \
        _index_headers_py(tuple(headers), max_headers)


SAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "sample.mbox"


def test_cli_parse_prints_one_json_line_per_message(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from shingles.cli import main

    assert main(["parse", str(SAMPLE), "--fields", "subject,source_ip", "--fields", "text"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == SAMPLE.read_bytes().count(b"\nFrom ") + 1
    assert records[0]["source"] == f"{SAMPLE}:0"
    assert set(records[0]) == {"source", "message_id", "subject", "source_ip", "text"}
    assert records[0]["subject"] == "Riverside Garden: March news"
    assert records[0]["source_ip"] == "192.0.2.10" and records[0]["text"].startswith("Hello")


def test_cli_parse_error_records_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from shingles.cli import main

    assert main(["parse", str(DATA / "bad_among_good.mbox")]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert ["error" in r for r in records] == [False, True, False, True, False]
    assert all(r["source"].startswith(str(DATA / "bad_among_good.mbox") + ":") for r in records)


def test_a_message_that_is_all_quote_keeps_it_as_text() -> None:
    # Quoting a whole spam (or one rule line at its top) must not empty its text.
    assert split_quoted("> buy now\n> cheap\n") == ("> buy now\n> cheap", "")
    deco = "______________________\n\nLOWEST RATES\n______________________\napply now"
    assert split_quoted(deco) == (deco, "")
    outlook = "Fine.\n\n________________________________\nFrom: Bob\nSent: Monday\n\nold"
    assert split_quoted(outlook) == ("Fine.", outlook[7:])


def test_named_inline_html_part_is_text_not_an_attachment() -> None:
    raw = msg("From: a@example.org", "Content-Type: text/html",
              'Content-Disposition: inline; filename="offer.html"', body="<p>Cheap offer</p>")
    mail = both(raw)
    assert mail.text == "Cheap offer" and mail.attachments == ()


def test_html_all_in_a_blockquote_and_image_only_html_still_have_text() -> None:
    from shingles.mail.html import html_to_text

    assert html_to_text("<body><blockquote><p>Best price!</p></blockquote></body>") == (
        "Best price!", "")
    assert html_to_text("<p>Yes.</p><blockquote>old</blockquote>") == ("Yes.", "old")
    text, _ = html_to_text("<body><img src='http://IMG.Example.net/a.gif'>"
                           "<iframe src='https://frame.example.org/x'></iframe></body>")
    assert text.split() == ["img.example.net", "frame.example.org"]


def test_html_link_image_and_frame_words_are_read_as_a_browser_reads_the_markup() -> None:
    from shingles.mail.html import html_to_text

    def text(markup: str) -> str:
        return html_to_text(markup)[0]

    assert text('<p>Go <a href="http://Track.Example.com/x?a=1&amp;b=2">here</a> now') == (
        "Go here track.example.com now")
    assert text('<a href="http&#58;//h&#46;example/x">go</a>') == "go h.example"
    assert text('<img src="http://i.example/p.gif" alt="Buy &amp; <save>">') == (
        "Buy & <save> i.example")
    # Nothing is read or put inside a script, a comment or an attribute value.
    assert text("<script>var s = '<a href=\"http://evil.example/\">';</script>"
                "<!-- <a href='http://c.example/'>x</a> --><p title='<a href=//t.example/>'>ok"
                ) == "ok"
    # Words of a hidden element are hidden with it.
    assert text('<a href="http://h.example/" style="display:none">x</a>shown'
                '<img hidden src="http://i.example/" alt="zz">'
                '<iframe style="visibility: hidden" src="http://f.example/"></iframe>') == "shown"
    assert text('<div style="font-size:0">hidden<a href="http://h.example/">x</a></div>seen'
                ) == "seen"


def test_html_font_size_zero_is_hidden() -> None:
    from shingles.mail.html import html_to_text

    # Hash-busters: legacy size 0 (a browser draws it at size 1), not the relative +0.
    markup = ('<p>Buy now<font size=0>zq7x</font> <font size="0" color=white>kk2</font>'
              ' <FONT SIZE=" 00">j9</FONT><font size=+0>today</font></p>')
    assert html_to_text(markup) == ("Buy now today", "")


def test_html_never_touches_a_node_whose_ancestor_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nested hidden elements and nested blockquotes: older selectolax frees a removed subtree."""
    from selectolax.lexbor import LexborHTMLParser

    from shingles.mail import html as htmltext
    touched_detached = []

    class Guarded:
        def __init__(self, node: object) -> None:
            self._node = node

        def __getattr__(self, name: str) -> object:
            top = self._node
            while top.parent is not None:  # type: ignore[attr-defined]
                top = top.parent  # type: ignore[attr-defined]
            # The document node's tag: "-document" in selectolax 1.x, "#document" in 0.3.
            if top.tag not in ("-document", "#document"):  # type: ignore[attr-defined]
                touched_detached.append(name)
            return getattr(self._node, name)

    class GuardedParser(LexborHTMLParser):
        def css(self, query: str) -> list[Guarded]:  # type: ignore[override]
            return [Guarded(node) for node in super().css(query)]

    monkeypatch.setattr(htmltext, "LexborHTMLParser", GuardedParser)
    assert htmltext.html_to_text(
        '<p>new</p><p>Ann wrote:</p><div style="display:none">a<p hidden>b</p>'
        '<span style="display: none">c</span></div><blockquote>q1<blockquote>q2</blockquote>q3'
        '</blockquote>') == ("new\n\nAnn wrote:", "q1\nq2\nq3")
    assert touched_detached == []


def test_a_parsed_record_is_what_mails_init_would_build() -> None:
    # parse builds Mail with Mail.of (its __dict__ at once, not 28 object.__setattr__):
    # the record must be the one __init__ gives, frozen, pickling, and hashing alike.
    import dataclasses
    import pickle

    assert not hasattr(Mail, "__post_init__")
    mail = parse(b"From: A <a@example.org>\nTo: b@example.org\nSubject: hi\n"
                 b"Received: from x (x [192.0.2.1]) by mx; Thu, 22 Aug 2002 07:36:16 -0400\n"
                 b"\nHello there\n", "box:1")
    fields = {field.name: getattr(mail, field.name) for field in dataclasses.fields(Mail)}
    built = Mail(**fields)
    assert mail == built and vars(mail) == vars(built) and mail.trace == built.trace
    assert pickle.loads(pickle.dumps(mail)) == mail
    with pytest.raises(dataclasses.FrozenInstanceError):
        mail.subject = "x"  # type: ignore[misc]
    del fields["size"]
    with pytest.raises(TypeError, match=r"missing \['size'\]"):
        Mail.of(fields)
    with pytest.raises(TypeError, match=r"unknown \['sized'\]"):
        Mail.of({**fields, "size": 1, "sized": 1})
