"""Where the new text of a message ends: list footers, quote headers in many languages,
quoted-only bodies (issue 17). Synthetic messages only; both twins of split_quoted."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shingles.mail.parse import LEAN_AVAILABLE, parse
from shingles.mail.quoting import (
    CUT_LINE,
    RULE,
    SHORT_NEW_WORDS,
    is_cut_line,
    is_rule,
    split_quoted_py,
)

Split = Callable[[str], tuple[str, str]]
SPLITS: list[Split] = [split_quoted_py]
if LEAN_AVAILABLE:
    from shingles import _mime

    SPLITS.append(_mime.split_quoted)

FOOTER = ("_______________________________________________\n"
          "Widgets mailing list -- widgets@lists.example.org\n"
          "To unsubscribe send an email to widgets-leave@lists.example.org\n")
ORIGINAL = ("The quarterly figures are attached as promised, with the regional breakdown "
            "and the notes from the planning meeting on Tuesday.")


def mixed(*parts: tuple[str, str]) -> bytes:
    """Return a multipart/mixed message of (content type line, body) parts."""
    body = "".join(f"--b1\r\nContent-Type: {ctype}\r\n\r\n{text}\r\n" for ctype, text in parts)
    return ("From: ann@example.org\r\nTo: widgets@lists.example.org\r\nSubject: Re: x\r\n"
            "List-Id: <widgets.lists.example.org>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/mixed; boundary=b1\r\n\r\n{body}--b1--\r\n").encode()


@pytest.fixture(params=SPLITS, ids=lambda f: f.__module__)
def split(request: pytest.FixtureRequest) -> Split:
    return request.param


def test_a_part_that_is_all_list_footer_is_not_new_text(split: Split) -> None:
    assert split(FOOTER) == ("", FOOTER.strip())
    assert split("\n\n" + FOOTER) == ("", FOOTER.strip())


@pytest.mark.parametrize("lean", [False, True] if LEAN_AVAILABLE else [False])
def test_mailman_footer_part_leaves_one_line_replies_apart(lean: bool) -> None:
    one = parse(mixed(("text/plain", "Thanks, that fixed it"), ("text/plain", FOOTER)), lean=lean)
    two = parse(mixed(("text/plain", "Same here on 2.3"), ("text/plain", FOOTER)), lean=lean)
    assert one.text == "Thanks, that fixed it" and two.text == "Same here on 2.3"
    assert "unsubscribe" in one.quoted and "unsubscribe" not in one.text
    # Signed mail: the S/MIME blob is an attachment, the footer no text: nothing to sign.
    signed = parse(mixed(("application/pkcs7-mime; smime-type=enveloped-data", "MIAGCSqGSIb3"),
                         ("text/plain", FOOTER)), lean=lean)
    assert signed.text == "" and len(signed.attachments) == 1


def test_a_footer_whose_rule_line_holds_words_is_set_apart(split: Split) -> None:
    footer = ("------------------------ Groups Sponsor ---------------------~-->\n"
              "4 DVDs Free\nhttp://click.groups.example.com/x\n"
              "---------------------------------------------------------------------~->\n\n"
              "To unsubscribe from this group, send an email to:\n"
              "widgets-unsubscribe@groups.example.com")
    assert split(f"Yes, same here.\n\n{footer}") == ("Yes, same here.", footer)


HEADER_BLOCKS = {
    "outlook": "From: Bob Smith <bob@example.com>\nSent: Monday, March 3, 2025 10:12 AM\n"
               "To: Ann <ann@example.org>\nSubject: Figures",
    "starred": "*From:* Bob Smith <bob@example.com>\n*Sent:* Monday, March 3, 2025\n"
               "*To:* Ann\n*Subject:* Figures",
    "french": "De : Bob Smith <bob@example.com>\nEnvoyé : lundi 3 mars 2025 10:12\n"
              "À : Ann\nObjet : Chiffres",
    "german": "Von: Bob Smith <bob@example.com>\nGesendet: Montag, 3. März 2025 10:12\n"
              "An: Ann\nBetreff: Zahlen",
    "italian": "Da: Bob Smith <bob@example.com>\nInviato: lunedì 3 marzo 2025 10:12\n"
               "A: Ann\nOggetto: Cifre",
    "russian": "От: Боб Смит <bob@example.com>\nОтправлено: 3 марта 2025 г. 10:12\n"
               "Кому: Анна\nТема: Цифры",
    "zimbra": "----- Mail original -----\nDe: \"Bob\" <bob@example.com>\nÀ: Ann\n"
              "Envoyé: Lundi 3 Mars 2025",
    "thunderbird-ru": "-------- Исходное сообщение --------\nТема: Цифры\nДата: 03.03.2025",
    "german-rule": "-----Ursprüngliche Nachricht-----\nVon: Bob\nGesendet: Montag",
}


@pytest.mark.parametrize("name", sorted(HEADER_BLOCKS))
def test_quoted_message_header_blocks_in_many_languages(split: Split, name: str) -> None:
    reply = "Looks right to me, send it on."
    text = f"{reply}\n\n{HEADER_BLOCKS[name]}\n\n{ORIGINAL}\n"
    new, old = split(text)
    assert new == reply
    assert old.endswith(ORIGINAL) and HEADER_BLOCKS[name].splitlines()[0] in old


def test_a_from_line_alone_is_new_text(split: Split) -> None:
    text = "From: the desk of the editor\n\nWe are moving offices next week, see the plan."
    assert split(text) == (text.strip(), "")


ATTRIBUTIONS = [
    "On Mon, Mar 3, 2025 at 10:12 AM Bob Smith <bob@example.com> wrote:",
    "Le lun. 3 mars 2025 à 10:12, Bob Smith <bob@example.com> a écrit :",
    "Am Mo., 3. März 2025 um 10:12 Uhr schrieb Bob Smith <bob@example.com>:",
    "El lun, 3 mar 2025 a las 10:12, Bob Smith (<bob@example.com>) escribió:",
    "Il giorno lun 3 mar 2025 alle ore 10:12 Bob Smith <bob@example.com> ha scritto:",
    "3 марта 2025 г., в 10:12, Боб Смит <bob@example.com> пишет:",
]


@pytest.mark.parametrize("line", ATTRIBUTIONS)
def test_attribution_lines_in_many_languages_go_with_their_quote(split: Split, line: str) -> None:
    reply = "Yes."
    quote = "\n".join("> " + part for part in ORIGINAL.split(", "))
    new, old = split(f"{reply}\n\n{line}\n{quote}\n")
    assert new == reply
    assert old.startswith(line)


def test_quotes_marked_with_the_writers_initials_are_quoted(split: Split) -> None:
    text = ("So would this qualify?\n\nRH> Today a French officer is supposed to\n"
            "RH> jump out of a balloon.\n  GLM>\n")
    assert split(text) == ("So would this qualify?", "RH> Today a French officer is supposed "
                           "to\nRH> jump out of a balloon.\n  GLM>")
    assert split("Room 101>102 is booked.\nTV> no") == ("Room 101>102 is booked.", "TV> no")
    assert split("ABCDE> five letters") == ("ABCDE> five letters", "")


def test_a_short_reply_leaves_its_quote_apart_even_unattributed(split: Split) -> None:
    quote = "\n".join("> " + w for w in ORIGINAL.split(", "))
    assert split(f"Dear Ann,\n\nRef: 1234\n\n{quote}") == ("Dear Ann,\n\nRef: 1234", quote)
    assert split(quote) == (quote, "")  # all quote: the quote is the text


@pytest.mark.parametrize("lean", [False, True] if LEAN_AVAILABLE else [False])
def test_a_greeting_before_a_whole_quote_is_read_whole_unless_a_reply(lean: bool) -> None:
    quote = "\n".join("> " + w for w in ORIGINAL.split(", "))
    head = "From: x@example.net\r\nSubject: Account\r\n"
    base = parse(f"{head}\r\n{quote}".encode(), lean=lean)
    copy = parse(f"{head}\r\nDear Ann,\n\nRef: 1234\n\n{quote}".encode(), lean=lean)
    assert base.text == quote and copy.text == f"Dear Ann,\n\nRef: 1234\n\n{quote}"
    reply = parse(f"{head}References: <1@example.com>\r\n\r\nDear Ann,\n\n{quote}".encode(),
                  lean=lean)
    assert reply.text == "Dear Ann," and reply.quoted == quote
    # ... and a long enough new text stands alone.
    long = " ".join(["word"] * SHORT_NEW_WORDS)
    assert parse(f"{head}\r\n{long}\n\n{quote}".encode(), lean=lean).text == long


@pytest.mark.parametrize("lean", [False, True] if LEAN_AVAILABLE else [False])
def test_greeting_plus_quote_copy_fingerprints_what_the_recipient_reads(lean: bool) -> None:
    from shingles import fingerprint

    quote = "\n".join("> " + line for line in (
        "We know your password and we have recorded you.", "Pay 1200 USD in bitcoin to the",
        "wallet below within 48 hours or the video goes", "to every one of your contacts.",
        "Do not reply to this message, it is not read."))
    head = "From: x@example.net\r\nSubject: Account\r\n\r\n"
    base = parse((head + quote).encode(), lean=lean)
    copy = parse((head + "Dear Ann,\n\nRef: 1234\n\n" + quote).encode(), lean=lean)
    a, b = fingerprint(base.text), fingerprint(copy.text)
    assert a.minhashes and b.minhashes
    assert a.resemblance(b) >= 0.5


def test_html_greeting_before_a_whole_blockquote_is_read_whole() -> None:
    quote = f"<blockquote><p>{ORIGINAL}</p></blockquote>"
    raw = ("From: x@example.net\r\nContent-Type: text/html\r\n\r\n"
           f"<p>Dear Ann,</p><p>Ref: 1234</p>{quote}").encode()
    assert parse(raw).text.split() == ["Dear", "Ann,", "Ref:", "1234", *ORIGINAL.split()]


@pytest.mark.parametrize("lean", [False, True] if LEAN_AVAILABLE else [False])
def test_a_greeting_before_a_forwarded_message_is_read_whole_unless_a_reply(lean: bool) -> None:
    forwarded = ("-----Original Message-----\nFrom: Bob <bob@example.com>\n"
                 f"Sent: Monday\nTo: Ann\n\n{ORIGINAL}\n\n> {ORIGINAL}\n")
    head = "From: x@example.net\r\nSubject: Fw: figures\r\n"
    base = parse(f"{head}\r\n{forwarded}".encode(), lean=lean)
    copy = parse(f"{head}\r\nDear Ann,\n\n{forwarded}\n-- \nAnn's phone".encode(), lean=lean)
    assert base.text == forwarded.strip()
    assert copy.text == f"Dear Ann,\n\n{forwarded.strip()}" and copy.quoted == "-- \nAnn's phone"
    reply = parse(f"{head}In-Reply-To: <1@example.com>\r\n\r\nDear Ann,\n\n{forwarded}".encode(),
                  lean=lean)
    assert reply.text == "Dear Ann," and ORIGINAL in reply.quoted


@pytest.mark.skipif(not LEAN_AVAILABLE, reason="shingles._mime is not compiled")
@given(st.lists(st.sampled_from(["Hi,", "> q", "-- ", "-----Original Message-----", "From: a",
                                 "Sent: b", FOOTER, "words here", "Bob wrote:", "", "\n"]),
                max_size=12).map("\n".join) | st.text(max_size=60))
def test_compiled_split_footers_equals_its_python_twin(text: str) -> None:
    from shingles import _mime
    from shingles.mail.quoting import split_footers_py

    assert _mime.split_footers(text) == split_footers_py(text)


_RULE_PIECES = ["_" * 10, "=" * 10, "-" * 10, "_____", "-----", "==", "-", " ", "\t", "~-->",
                "Sponsor", "ADVERTISE", "mailing list", "Mailing  list", "spon", "Yahoo!",
                "groups", "x", "\u0130", "\r"]


@given(st.lists(st.sampled_from(_RULE_PIECES), max_size=8))
def test_rule_lines_are_read_as_the_rule_pattern_says(pieces: list[str]) -> None:
    line = "".join(pieces)
    assert is_rule(line) is (RULE.fullmatch(line) is not None), repr(line)


_CUT_PIECES = ["--", "-", "- ", " ", "\t", "---", "-" * 40, "Original Message", "original message",
               "Forwarded message", "Begin forwarded message:", "_" * 20, "_", "x", "\r"]


@given(st.lists(st.sampled_from(_CUT_PIECES), max_size=8))
def test_cut_lines_are_read_as_the_cut_pattern_says(pieces: list[str]) -> None:
    # is_cut_line skips the pattern on lines of dashes and blanks alone.
    line = "".join(pieces)
    assert is_cut_line(line) is (CUT_LINE.fullmatch(line) is not None), repr(line)


def test_a_long_rule_line_of_sponsor_words_is_read_without_backtracking(split: Split) -> None:
    # The pattern took 2 s on 32 KB of this; read by is_rule, a 1 MB line is a
    # plain scan. Its time is in bench/bench_hostile.py (rule-line); here, the answers.
    words = "sponsor " * (1 << 17)
    assert is_rule("_" * 10 + words + "-----") and not is_rule("_" * 10 + words)
    assert split("Hello there, this is news.\n" + "_" * 10 + words + "-----"
                 + "\nmailing list unsubscribe\n")[0] == "Hello there, this is news."


def test_a_line_like_a_header_padded_with_a_megabyte_of_blanks_is_read_in_one_pass(
        split: Split) -> None:
    # "From", blanks, then no colon: the pattern's two blank runs around an optional
    # "*" backtracked quadratically before failing (0.8 s for 20,000 blanks).
    pad = " \t" * (1 << 19)
    for name in ("From", "Sent"):
        text = f"{ORIGINAL}\n\nFrom: Ann\n{name}{pad}x\nDear all, see the figures."
        assert split(text) == (text, "")
