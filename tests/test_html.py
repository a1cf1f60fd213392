"""CSS visibility as a mail client renders it, inherited and overridden (issue 17).

Each case is decided per text node from the computed style, never by dropping a
subtree; html_to_text runs the compiled markup pass when built, and the
`markup_pass` fixture runs the plain-Python twin too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shingles.mail import html as htmltext
from shingles.mail import parse as parsing
from shingles.mail.htmlscan import prepare_markup_py
from shingles.mail.parse import LEAN_AVAILABLE
from shingles.mail.read import read_raw

from .conftest import corpus_dir  # type: ignore[import-not-found]  # tests is no package


@pytest.fixture(params=["python", "compiled"] if LEAN_AVAILABLE else ["python"])
def markup_pass(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "python":
        monkeypatch.setattr(htmltext, "_prepare_markup", prepare_markup_py)
    yield request.param


def words(markup: str) -> list[str]:
    return htmltext.html_to_text(markup)[0].split()


def test_mjml_cell_font_size_zero_keeps_the_sized_paragraph(markup_pass: str) -> None:
    assert words('<table><tr><td style="font-size:0px"><div style="font-size:13px">a paragraph'
                 '</div></td></tr></table>') == ["a", "paragraph"]
    # The cell's own text stays hidden, and a size relative to zero stays zero.
    assert words('<table><tr><td style="font-size:0">zq7x<div style="font-size:1.2em">rel</div>'
                 '<div style="font: bold 14px Arial">shown</div></td></tr></table>') == ["shown"]


def test_visibility_hidden_is_undone_by_a_child_visibility_visible(markup_pass: str) -> None:
    assert words('<div style="visibility:hidden">no<span style="visibility: visible">yes</span>'
                 'no<b>no</b></div>after') == ["yes", "after"]


def test_display_none_and_opacity_zero_cannot_be_undone(markup_pass: str) -> None:
    assert words('<div style="display:none">a<span style="display:block;visibility:visible;'
                 'font-size:14px">b</span></div><p style="opacity:0">c<span style="opacity:1">'
                 'd</span></p><p hidden>e</p>kept') == ["kept"]


def test_text_coloured_as_its_background_is_hidden(markup_pass: str) -> None:
    assert words('<p>Buy <span style="color:#FFF">zq7x</span>now</p>') == ["Buy", "now"]
    assert words('<table bgcolor="#000000"><tr><td><span style="color:#000">k2</span>'
                 '<span style="color:white">seen</span></td></tr></table>') == ["seen"]
    # Inherited colour, overridden by a child; a background set by a style.
    assert words('<div style="background:#fafafa url(x.png);color:#fbfbfb">hid'
                 '<p style="color:#333333">read</p></div>') == ["read"]
    # White text on a dark cell is read.
    assert words('<table><tr><td style="background-color:rgb(0, 0, 0)"><font><span '
                 'style="color:#ffffff">dark mode</span></font></td></tr></table>') == [
        "dark", "mode"]


def test_hidden_text_keeps_the_lines_apart(markup_pass: str) -> None:
    text, _ = htmltext.html_to_text('<p>one</p><p style="display:none">x</p><p>two</p>')
    assert [line for line in text.split("\n") if line] == ["one", "two"]


def test_computed_style_follows_the_cascade_of_inline_styles() -> None:
    zero = htmltext.computed(htmltext.SHOWN, {"style": "font-size:0"})
    assert zero.hides
    assert not htmltext.computed(zero, {"style": "FONT-SIZE: 12pt !important"}).hides
    assert htmltext.computed(zero, {"style": "font-size:150%"}).hides
    assert htmltext.computed(zero, {"style": "color:red"}).hides  # size inherited
    gone = htmltext.computed(htmltext.SHOWN, {"style": "opacity: 0.0"})
    assert htmltext.computed(gone, {"style": "opacity:1"}).hides


def test_the_tree_is_walked_only_for_markup_that_can_hide_text(
        markup_pass: str, monkeypatch: pytest.MonkeyPatch) -> None:
    walked: list[str] = []
    real = htmltext._hide_text

    def counted(tree: object, root: object) -> None:
        walked.append("walk")
        real(tree, root)  # type: ignore[arg-type]

    monkeypatch.setattr(htmltext, "_hide_text", counted)
    # Styles everywhere, none able to hide: dark text on light cells, white on a dark one.
    newsletter = ('<table bgcolor="#f4f4f4"><tr><td style="color:#333;font-size:14px;'
                  'background-color:#ffffff">Hello <b style="color:rgb(90,90,90)">reader</b>'
                  '</td><td style="background:#1a1a1a;font:bold 16px Arial">in dark</td>'
                  '</tr></table>')
    assert words(newsletter) == ["Hello", "reader", "in", "dark"] and not walked
    for markup, seen in (
            ('<span style="color:#FEFEFE">zq7x</span>shown', ["shown"]),  # near the default white
            ('<table><tr><td bgcolor="#222"><span style="color:#252525">k2</span>'
             '</td></tr></table>', []),
            ('<div style="font:0/0 a">x</div>y', ["y"]),
            ('<font size="0">x</font>y', ["y"]),
            ('<p hidden>x</p>y', ["y"]),
            ('<div style="visibility:collapse">x</div>y', ["y"]),
            ('<div style="opacity:0">x</div>y', ["y"])):
        walked.clear()
        assert words(markup) == seen and walked, markup


@pytest.mark.skipif(corpus_dir() is None, reason="the real corpus is absent")
def test_skipping_the_walk_never_changes_a_corpus_text(monkeypatch: pytest.MonkeyPatch) -> None:
    # The gate must be a pure shortcut: every HTML part of the corpus reads the same
    # with the tree always walked.
    parts: list[tuple[str, int]] = []
    real = parsing.html_to_text

    def kept(markup: str, max_depth: int = htmltext.MAX_DEPTH) -> tuple[str, str]:
        parts.append((markup, max_depth))
        return real(markup, max_depth)

    monkeypatch.setattr(parsing, "html_to_text", kept)
    for name in ("spam", "ham"):
        for record in read_raw(corpus_dir() / f"{name}.mbox.gz"):
            parsing.parse(record.data, record.source)  # type: ignore[union-attr]
    monkeypatch.undo()
    gated = [htmltext.html_to_text(*part) for part in parts]
    monkeypatch.setattr(htmltext, "_may_hide", lambda seen: True)
    assert len(parts) > 500
    assert [htmltext.html_to_text(*part) for part in parts] == gated
