"""HTML to the text a reader sees: (visible text, quoted text).

Lexbor (through selectolax) parses the HTML as a browser would, so broken
markup, entities and unclosed comments come out as a browser shows them. We
drop what is never shown (script, style, title, frames, templates, noscript,
objects, svg; the head and comments have no text in the body) and what is
hidden by markup (the hidden attribute, display:none, visibility:hidden, zero
font size, <font size=0>), which is where hash-busters hide. The host names of
links, images and frames stay as words, because a mailing's links are part of
what makes it one (and all that image-only mail has). Blockquotes are quoted
text, not new text.

Most of that is done on the source before Lexbor parses it (shingles.mail.htmlscan):
the tree is left with what needs the tree, removing elements whole.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from selectolax.lexbor import LexborHTMLParser

from shingles._lean import lean
from shingles.mail.htmlscan import BLOCK_TAGS, MAX_DEPTH, prepare_markup_py

if TYPE_CHECKING:
    from selectolax.lexbor import LexborNode

__all__ = ["html_to_text"]

_HIDDEN = ("[hidden], [style*='display:none' i], [style*='display: none' i], "
           "[style*='visibility:hidden' i], [style*='visibility: hidden' i], "
           "[style*='font-size:0' i], [style*='font-size: 0' i]")
_FONT_ZERO = re.compile(r"font-size\s*:\s*0+(?:\.0*)?(?:px|pt|em|%)?\s*(?:;|$)", re.IGNORECASE)


def _tidy_py(text: str) -> str:
    """Return text with runs of white space made one space and blank-line runs one blank line."""
    # str.split() beats a regex over every character by a factor of four here.
    out: list[str] = []
    blank = True
    for line in text.split("\n"):
        words = line.split()
        if words:
            out.append(" ".join(words))
            blank = False
        elif not blank:
            out.append("")
            blank = True
    return "\n".join(out).strip()


# The compiled twins when built (shingles._mime), else these plain-Python ones.
_prepare_markup = lean.prepare_markup if lean else prepare_markup_py
_tidy = lean.tidy if lean else _tidy_py


def _hides(node: LexborNode) -> bool:
    """Return whether an element the _HIDDEN query found is hidden."""
    style = node.attributes.get("style") or ""
    low = style.lower()
    # font-size:0.9em and the like match the query but are visible.
    return not ("font-size" in low and "hidden" not in node.attributes
                and "display" not in low and "visibility" not in low
                and not _FONT_ZERO.search(style))


def html_to_text(markup: str, max_depth: int = MAX_DEPTH) -> tuple[str, str]:
    """Return (visible text, text of blockquotes) of an HTML document; never raise.

    Elements nested deeper than max_depth are left out, their text kept.
    """
    # Links, images, frames, scripts and block ends are dealt with in the source:
    # one pass over it costs far less than finding and editing each in the tree.
    marked, strip, hiding, quoting = _prepare_markup(markup, max_depth)
    tree = LexborHTMLParser(marked)
    root = tree.body or tree.root
    if root is None:
        return "", ""
    if strip:
        tree.strip_tags(strip)
    # Last first: whatever is removed lies after the nodes still to look at, so no
    # node is touched once an ancestor is gone (older selectolax frees it).
    for node in reversed(tree.css(_HIDDEN)) if hiding else ():
        if _hides(node):
            if node.tag in BLOCK_TAGS:
                node.insert_after("\n")  # a hidden paragraph still ends the line before it
            node.decompose()
    quoted = []
    # The outermost only: one inside another is in its text, and gone with it.
    for node in tree.css("blockquote:not(blockquote *)") if quoting else ():
        quoted.append(node.text(deep=True, separator=" "))
        node.decompose()
    text = _tidy(root.text(deep=True, separator="", strip=False))
    if not text and quoted:
        # All in blockquotes: a layout trick of HTML mail, not a reply. It is what shows.
        return _tidy("\n".join(quoted)), ""
    return text, _tidy("\n".join(quoted))
