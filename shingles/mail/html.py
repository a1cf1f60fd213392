"""HTML to the text a reader sees: (visible text, quoted text).

Lexbor (through selectolax) parses the HTML as a browser would, so broken
markup, entities and unclosed comments come out as a browser shows them. We
drop what is never shown (script, style, title, frames, templates, noscript,
objects, svg; the head and comments have no text in the body) and what is
hidden by markup, which is where hash-busters hide: each text node is kept or
dropped by its element's computed style, inherited as a mail client renders it
(the hidden attribute and <font size=0>, display:none and opacity:0 hide all
inside; visibility:hidden until a child's visibility:visible; font-size 0 until
a child sets an absolute size, as MJML's templates do on every cell; text coloured
as its background). Style sheets and classes are not read: inline styles only. The host names of
links, images and frames stay as words, because a mailing's links are part of
what makes it one (and all that image-only mail has). Blockquotes are quoted
text, not new text.

Most of that is done on the source before Lexbor parses it (shingles.mail.htmlscan):
the tree is left with what needs the tree, removing elements whole.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from selectolax.lexbor import LexborHTMLParser

from shingles._lean import lean
from shingles.mail.htmlscan import MAX_DEPTH, prepare_markup_py

if TYPE_CHECKING:
    from selectolax.lexbor import LexborNode

__all__ = ["Look", "computed", "html_to_text"]

_STYLED = "[style], [hidden], [bgcolor]"  # what the visibility walk reads


class Look(NamedTuple):
    """The computed style of an element, as far as it decides whether its text shows."""

    gone: bool = False  # display:none, opacity:0, hidden: nothing inside can show again
    invisible: bool = False  # visibility:hidden; a child's visibility:visible shows again
    zero: bool = False  # font-size 0; a child's absolute font size shows again
    color: tuple[int, int, int] | None = None  # text colour (inherited); None: the default
    background: tuple[int, int, int] | None = None  # nearest background colour set

    @property
    def hides(self) -> bool:
        """Return whether text with this style is not seen."""
        if self.gone or self.invisible or self.zero:
            return True
        # Text coloured as what is behind it; mail clients draw on white unless told
        # otherwise. Only a colour set inline counts: a style sheet may set another.
        return self.color is not None and _alike(self.color, self.background or _WHITE)


SHOWN = Look()
_WHITE = (255, 255, 255)

_NAMED = {"white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0),
          "green": (0, 128, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
          "gray": (128, 128, 128), "grey": (128, 128, 128), "silver": (192, 192, 192),
          "whitesmoke": (245, 245, 245), "snow": (255, 250, 250), "ivory": (255, 255, 240)}
_RGB = re.compile(r"rgba?\(\s*(\d+)\s*[, ]\s*(\d+)\s*[, ]\s*(\d+)\s*(?:[,/]\s*([\d.]+%?))?\s*\)")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_ABSOLUTE_SIZES = frozenset(("xx-small", "x-small", "small", "medium", "large", "x-large",
                             "xx-large", "xxx-large", "larger"))


def _alike(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    """Return whether two colours look the same (channels within 8 of each other)."""
    return all(abs(x - y) <= 8 for x, y in zip(a, b))


def _color(value: str) -> tuple[int, int, int] | None:
    """Return the RGB of a CSS colour value (#rgb, #rrggbb, rgb(), a common name), or None."""
    value = value.strip()
    if value.startswith("#"):
        digits = value[1:]
        if len(digits) in (3, 4):
            digits = "".join(c * 2 for c in digits[:3])
        if len(digits) in (6, 8):
            try:
                return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
            except ValueError:
                return None
        return None
    m = _RGB.match(value)
    if m:
        alpha = m.group(4)
        if alpha is not None and float(alpha.rstrip("%")) == 0:
            return None  # transparent
        return tuple(min(255, int(g)) for g in m.groups()[:3])  # type: ignore[return-value]
    return _NAMED.get(value)


def _size_zero(value: str) -> bool | None:
    """Return True for a zero font size, False for a size that shows whatever the parent's,
    None for one relative to the parent's (em, %, smaller: zero stays zero)."""
    value = value.strip()
    m = _NUMBER.match(value)
    if m:
        if float(m.group()) <= 0:
            return True
        unit = value[m.end():].strip()
        return None if unit in ("em", "%", "ex", "ch") else False
    if value in _ABSOLUTE_SIZES:
        return False
    return None


def _font_size(shorthand: str) -> str | None:
    """Return the size in a font shorthand ("bold 0/0 a", "12px Arial"), or None."""
    for word in shorthand.split():
        size = word.split("/", 1)[0]
        if _NUMBER.match(size) or size in _ABSOLUTE_SIZES or size == "smaller":
            return size
    return None


def computed(parent: Look, attributes: dict[str, str | None]) -> Look:
    """Return the computed Look of an element with these attributes inside parent."""
    if "hidden" in attributes:
        return parent._replace(gone=True)
    bgcolor, style = attributes.get("bgcolor"), attributes.get("style")
    if len(style or "") + len(bgcolor or "") > _CACHED_STYLE:
        return _styled(parent, bgcolor, style)
    return _styled_cached(parent, bgcolor, style)


def _styled(parent: Look, bgcolor: str | None, style: str | None) -> Look:
    gone, invisible, zero = parent.gone, parent.invisible, parent.zero
    color, background = parent.color, parent.background
    if bgcolor:
        background = _color(bgcolor.lower()) or background
    for declaration in (style or "").lower().split(";"):
        name, colon, value = declaration.partition(":")
        if not colon:
            continue
        name = name.strip()
        value = value.replace("!important", "").strip()
        if name == "display":
            gone = gone or value == "none"
        elif name == "visibility":
            invisible = value in ("hidden", "collapse") or (invisible and value != "visible")
        elif name == "opacity":
            m = _NUMBER.match(value)
            gone = gone or bool(m and float(m.group()) <= 0)
        elif name in ("font-size", "font"):
            size = value if name == "font-size" else _font_size(value)
            if size is not None:
                is_zero = _size_zero(size)
                zero = zero if is_zero is None else is_zero
        elif name == "color":
            color = _color(value) or color
        elif name in ("background-color", "background"):
            for word in value.split() if name == "background" else (value,):
                found = _color(word)
                if found is not None:
                    background = found
                    break
    return Look(gone, invisible, zero, color, background)


# HTML mail repeats a few styles over every cell and line, and a styled element's
# Look depends on its parent's and these two values only: most come from the cache.
# Long values are computed each time, so hostile markup cannot fill memory with them.
_CACHED_STYLE = 256
_styled_cached = functools.lru_cache(maxsize=4096)(_styled)


def _may_hide(seen: Iterable[tuple[str, str]]) -> bool:
    """Return whether hiding attributes (htmlscan's (name, value) pairs) can hide any
    text, wherever in the tree they stand.

    Each is read as if on an element of the default look: text is hidden only below an
    element that hides it on its own (display:none, visibility, a zero size, hidden), or
    in a colour set somewhere alike a background set somewhere or the default white.
    Most HTML mail has styles and none of those: its tree is not walked (the walk cost
    ~20 us a part, half as much as Lexbor's parse; bench/README.md, "Hidden text, looked
    for when it can be").
    """
    colors: set[tuple[int, int, int]] = set()
    backgrounds = {_WHITE}
    for name, value in seen:
        look = computed(SHOWN, {name: value})
        if look.gone or look.invisible or look.zero:
            return True
        if look.color is not None:
            colors.add(look.color)
        if look.background is not None:
            backgrounds.add(look.background)
    return any(_alike(color, background) for color in colors for background in backgrounds)


def _hide_text(tree: LexborHTMLParser, root: LexborNode) -> None:
    """Remove the text nodes whose computed style hides them (see computed), each decided
    from its element's style and its ancestors', never a subtree at once."""
    looks: dict[int, Look] = {}
    hidden: list[LexborNode] = []
    for node in tree.css(_STYLED):  # document order: ancestors first
        up = node.parent
        while up is not None and up.mem_id not in looks and up.mem_id != root.mem_id:
            up = up.parent
        parent = looks.get(up.mem_id, SHOWN) if up is not None else SHOWN
        look = computed(parent, node.attributes)
        looks[node.mem_id] = look
        if look.hides:
            hidden.append(node)
    doomed = []
    for node in hidden:
        stack = [node]
        while stack:  # its text, and that of children with no style of their own
            for child in stack.pop().iter(include_text=True):
                if child.tag == "-text":
                    if not (child.text_content or "").isspace():
                        doomed.append(child)  # white space keeps the lines apart
                elif child.mem_id not in looks:
                    stack.append(child)
    for child in doomed:
        child.decompose()


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
    if hiding and _may_hide(hiding):
        _hide_text(tree, root)
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
