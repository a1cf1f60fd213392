"""HTML to the text a reader sees: (visible text, quoted text).

Lexbor (through selectolax) parses the HTML as a browser would, so broken
markup, entities and unclosed comments come out as a browser shows them. We
drop what is never shown (script, style, head, comments, templates) and what
is hidden by markup (the hidden attribute, display:none, visibility:hidden,
zero font size), which is where hash-busters hide. The host names of links,
images and frames stay as words, because a mailing's links are part of what
makes it one (and all that image-only mail has). Blockquotes are quoted text,
not new text.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

from shingles._lean import lean

__all__ = ["html_to_text"]

_NEVER_SHOWN_TAGS = ["script", "style", "head", "title", "template", "noscript", "object",
                     "embed", "iframe", "svg"]
_HIDDEN = ("[hidden], [style*='display:none' i], [style*='display: none' i], "
           "[style*='visibility:hidden' i], [style*='visibility: hidden' i], "
           "[style*='font-size:0' i], [style*='font-size: 0' i]")
_BLOCK_NAMES = ("p", "div", "br", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
                "table", "ul", "ol", "pre", "hr", "section", "article", "header", "footer", "dd",
                "dt", "center", "blockquote")
_BLOCK_TAGS = frozenset(_BLOCK_NAMES)
# ASCII case-blind by hand: re.IGNORECASE would also fold "ı" and "ſ" into tag names.
_BEFORE_BLOCK = re.compile("<(?=/?(?:" + "|".join(
    "".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in name) for name in _BLOCK_NAMES)
    + r")[\s/>])")


def _mark_blocks_py(markup: str) -> str:
    """Return markup with a line break put before each block-level tag."""
    return _BEFORE_BLOCK.sub("\n<", markup)


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


def _link_host(href: str) -> str | None:
    """Return the lower-case host of an http(s) link, or None."""
    href = href.strip()
    at = href.find("//")
    if at < 0 or href[:at].lower() not in ("http:", "https:", ""):
        return None
    host = href[at + 2:]
    for stop in "/?#\\":
        host = host.split(stop, 1)[0]
    host = host.rpartition("@")[2].split(":", 1)[0].strip().lower()
    return host or None


# The compiled twins when built (shingles._mime), else these plain-Python ones.
_mark_blocks = lean.mark_blocks if lean else _mark_blocks_py
_tidy = lean.tidy if lean else _tidy_py


def html_to_text(markup: str) -> tuple[str, str]:
    """Return (visible text, text of blockquotes) of an HTML document; never raise."""
    # A line break before each block tag, put in the markup itself: one regex pass
    # costs far less than finding and editing each block element in the tree.
    tree = LexborHTMLParser(_mark_blocks(markup))
    root = tree.body or tree.root
    if root is None:
        return "", ""
    low = markup.lower()
    # Image and frame sources name hosts too: image-only mail stays comparable. Before
    # the strip below, which removes frames (the host text stays beside them).
    for node in tree.css("img[src], iframe[src]") if "src" in low else ():
        host = _link_host(node.attributes.get("src") or "")
        if host:
            node.insert_after(f" {host} ")
    tree.strip_tags(_NEVER_SHOWN_TAGS)
    # Each CSS query walks the whole tree: skip those whose markup cannot be there.
    hidden = tree.css(_HIDDEN) if ("hidden" in low or ("display" in low and "none" in low)
                                   or "font-size:0" in low or "font-size: 0" in low) else []
    # Last first: whatever is removed lies after the nodes still to look at, so no
    # node is touched once an ancestor is gone (older selectolax frees it).
    for node in reversed(hidden):
        style = node.attributes.get("style") or ""
        if "font-size" in style.lower() and "hidden" not in node.attributes \
                and "display" not in style.lower() and "visibility" not in style.lower() \
                and not _FONT_ZERO.search(style):
            continue  # font-size:0.9em and the like are visible
        if node.tag in _BLOCK_TAGS:
            node.insert_after("\n")  # a hidden paragraph still ends the line before it
        node.decompose()
    for node in tree.css("a[href]"):
        host = _link_host(node.attributes.get("href") or "")
        if host:
            node.insert_after(f" {host} ")
    for node in tree.css("img[alt]") if "alt" in low else ():
        alt = node.attributes.get("alt")
        if alt:
            node.insert_after(f" {alt} ")
    quoted = []
    # The outermost only: one inside another is in its text, and gone with it.
    for node in tree.css("blockquote:not(blockquote *)") if "<blockquote" in low else ():
        quoted.append(node.text(deep=True, separator=" "))
        node.decompose()
    text = _tidy(root.text(deep=True, separator="", strip=False))
    if not text and quoted:
        # All in blockquotes: a layout trick of HTML mail, not a reply. It is what shows.
        return _tidy("\n".join(quoted)), ""
    return text, _tidy("\n".join(quoted))
