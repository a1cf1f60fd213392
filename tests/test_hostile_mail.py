"""Messages built to stall or break the reader: deep HTML, codecs that are no
charsets, huge text, compression bombs, the time budget, nested address comments.
Speed itself is measured by bench/bench_hostile.py; these check the caps hold."""

from __future__ import annotations

import gzip
import io
import pathlib
from collections.abc import Callable
from typing import BinaryIO, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shingles.config import Config, Limits, StoreSettings
from shingles.mail import htmlscan
from shingles.mail.headers import decode_words, known_charset
from shingles.mail.parse import LEAN_AVAILABLE, parse
from shingles.mail.read import read, read_raw
from shingles.mail.records import MailError
from shingles.store.reader import Store
from shingles.verdicts.engine import Engine, Verdict

# The markup pass: (markup for Lexbor, tags to strip, hiding attributes, blockquote seen).
Prepare = Callable[..., tuple[str, list[str], set[tuple[str, str]], bool]]

HEAD = "From: a@example.org\nTo: b@example.org\nSubject: s\nMessage-ID: <1@example.org>\n"


@pytest.fixture(params=["python", "compiled"] if LEAN_AVAILABLE else ["python"])
def prepare(request: pytest.FixtureRequest) -> Prepare:
    """The markup pass, plain-Python and compiled, on the same examples."""
    if request.param == "python":
        return htmlscan.prepare_markup_py
    from shingles import _mime
    return _mime.prepare_markup


def test_html_nesting_is_capped(prepare: Prepare) -> None:
    markup = "<div>" * 5 + "deep" + "</div>" * 5
    marked = prepare(markup, 3)[0]
    assert marked.count("<div") == 3 and marked.count("</div") == 3 and "deep" in marked
    # Stray end tags of other names close nothing: the fourth div is still cut.
    stray = prepare("<div></b><div></span><div></i><div>x", 3)[0]
    assert stray.count("<div") == 3 and "</b>" in stray
    # Void elements and those with optional end tags open no level.
    flat = "<p>a<br><li>b<img src=x><td>c" * 10
    assert prepare(flat, 2)[0].count("<p") == 10


def test_deep_html_is_read_whole() -> None:
    depth = 60_000
    body = "<div>" * depth + "treasure" + "</div>" * depth
    mail = parse((HEAD + "Content-Type: text/html\n\n" + body).encode())
    assert mail.text == "treasure"


NESTED = st.lists(st.sampled_from(
    ["<div>", "</div>", "<b>", "</b>", "<DIV>", "</span>", "<span>", "<p>", "<svg>", "</svg>",
     "<g/>", "<br/>", "<a href=http://x.example/>", "</a>", "x", "<table>", "</table>",
     "<td>", "<blockquote>", "<script>y</script>", "<é>", "</é>"]), max_size=40).map("".join)


@pytest.mark.skipif(not LEAN_AVAILABLE, reason="shingles._mime is not compiled")
@given(NESTED, st.integers(0, 6))
def test_compiled_depth_cap_equals_its_python_twin(markup: str, depth: int) -> None:
    from shingles import _mime
    assert _mime.prepare_markup(markup, depth) == htmlscan.prepare_markup_py(markup, depth)


@pytest.mark.parametrize("charset", ["punycode", "idna", "rot13", "unicode_escape",
                                     "raw_unicode_escape", "uu", "zlib", "base64", "hex"])
def test_codecs_that_are_no_charsets_are_unknown(charset: str) -> None:
    assert not known_charset(charset)
    body = "a-" + "9" * 50_000  # quadratic for Python's punycode codec
    mail = parse((HEAD + f"Content-Type: text/plain; charset={charset}\n\n{body}\n").encode())
    assert mail.text == body  # read as the UTF-8 fallback reads it
    assert any("unknown charset" in d for d in mail.defects)
    word = "=?" + charset + "?Q?a-" + "9" * 60 + "?="
    assert decode_words(word) == "a-" + "9" * 60


@pytest.mark.parametrize("charset", ["utf-8", "iso-8859-2", "koi8-r", "shift_jis", "gb2312",
                                     "euc-kr", "iso-2022-jp", "utf-16", "windows-1251"])
def test_real_charsets_stay_known(charset: str) -> None:
    assert known_charset(charset)


def test_huge_text_is_cut_at_the_cap() -> None:
    limits = Limits(max_text_bytes=1000)
    line = "word " * 10_000
    mail = parse((HEAD + "\n" + line + "\n").encode(), config=Config(limits=limits))
    assert 900 < len(mail.text) <= 1000
    assert "text part over the size cap; cut" in mail.defects


def test_a_compression_bomb_ends_its_input_early(tmp_path: pathlib.Path) -> None:
    cap = 4 << 20
    bomb = tmp_path / "bomb.mbox.gz"
    with gzip.open(bomb, "wb") as f:
        f.write(b"From x Mon Mar  2 09:00:00 2026\n" + HEAD.encode() + b"\n")
        for _ in range(64):  # 64 MiB of zeros in 64 KiB: found before the cap
            f.write(bytes(1 << 20))
        f.write(b"From y Mon Mar  2 09:00:00 2026\n" + HEAD.encode() + b"\nnever reached\n")
    records = list(read_raw(bomb, Limits(max_message_bytes=cap)))
    errors = [r.error for r in records if isinstance(r, MailError)]
    assert len(records) == len(errors) == 1 and "compression bomb" in errors[0]


def test_no_next_message_within_twice_the_cap_ends_the_input() -> None:
    cap = 1 << 20  # over read_raw's chunk: the next message is not in the first read
    data = (b"From a Mon Mar  2 09:00:00 2026\n" + HEAD.encode() + b"\nfirst\n\n"
            + b"From b Mon Mar  2 09:00:00 2026\n" + HEAD.encode() + b"\n" + b"x" * (4 * cap)
            + b"\nFrom c Mon Mar  2 09:00:00 2026\n" + HEAD.encode() + b"\nnever reached\n")
    records = list(read_raw(cast(BinaryIO, io.BytesIO(data)), Limits(max_message_bytes=cap)))
    assert [getattr(r, "error", "read") for r in records] == [
        "read", f"message larger than {cap} bytes; skipped",
        f"no next message within {2 * cap} bytes; rest of the input skipped"]
    # Within twice the cap the next message is still found.
    shorter = data.replace(b"x" * (4 * cap), b"x" * (2 * cap))
    assert len(list(read_raw(cast(BinaryIO, io.BytesIO(shorter)),
                             Limits(max_message_bytes=cap)))) == 3


def test_the_time_budget_keeps_what_was_read() -> None:
    parts = "".join(f"--b\nContent-Type: text/plain\n\npart {i}\n" for i in range(3))
    raw = (HEAD + 'Content-Type: multipart/mixed; boundary="b"\n\n' + parts + "--b--\n").encode()
    whole = parse(raw)
    assert whole.text == "part 0\npart 1\npart 2" and not whole.defects
    late = parse(raw, config=Config(limits=Limits(max_seconds=1e-9)))
    assert late.text == "" and any("time budget" in d for d in late.defects)


def test_nested_comments_in_address_headers_still_give_a_verdict(tmp_path: pathlib.Path) -> None:
    nest = "(" * 494 + "x" + ")" * 494
    raw = (f"From: Bob {nest} <bob@example.com>\nTo: {nest} al@example.org, c@example.org\n"
           f"Cc: {nest}<e@example.org>\nReturn-Path: <{nest}r@example.org>\n"
           "Subject: s\nMessage-ID: <n@example.com>\n\nhello there, a few words of text\n")
    mail = parse(raw.encode())
    assert mail.from_addr == "bob@example.com" and mail.envelope_sender == "r@example.org"
    assert mail.recipients == ("al@example.org", "c@example.org", "e@example.org")
    (path := tmp_path / "m.eml").write_bytes(raw.encode())
    engine = Engine(Store(tmp_path / "store", settings=StoreSettings(batch_size=10)))
    [verdict] = list(engine.scan(read(path)))
    assert isinstance(verdict, Verdict) and verdict.message_id == "<n@example.com>"

