"""One pass over HTML source before Lexbor parses it.

Finding each link, image and frame in the parsed tree and editing it there cost
more than the parse itself: a CSS walk of the whole tree per query and a Python
call per node. This pass does that work on the source instead, reading it as the
HTML tokenizer does (tags and their attributes, comments, raw-text elements), so
that nothing is put inside a comment, a script or an attribute value:

- a line break before each block-level tag, so that block ends are line ends;
- the host of a link (a href) as words just before the link ends, inside it, so
  that a link hidden by its own style or its parent's hides its host too;
- an image's alt text and host (img alt, src) as words after it, and a frame's
  host (iframe src) in its place; inside a span with the element's own hiding
  attributes when it has any, for the tree to judge;
- script, style, title and iframe elements left out, content and all: never shown;
- of each tag's attributes only those that may hide it (hidden, and a style the
  tree's query looks for): Lexbor then builds a third less, and nothing the text
  depends on is lost; the hidden attribute put on <font size=0>, which
  hash-busters use. Inside svg and math all is left as it is.

It also says what is left for the tree: the never-shown elements there are to
strip, whether hiding markup or blockquotes are there at all (each query is a
walk of the whole tree).

prepare_markup_py is the plain-Python twin of shingles._mime.prepare_markup, the
one that runs when compiled; a test holds the two equal.
"""

from __future__ import annotations

import html.entities
import re
import string
from typing import NamedTuple

__all__ = ["BLOCK_NAMES", "BLOCK_TAGS", "MAX_DEPTH", "UNCOUNTED", "decode_attribute", "link_host",
           "prepare_markup_py"]

BLOCK_NAMES = ("p", "div", "br", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
               "table", "ul", "ol", "pre", "hr", "section", "article", "header", "footer", "dd",
               "dt", "center", "blockquote")
BLOCK_TAGS = frozenset(BLOCK_NAMES)
_DROPPED = frozenset(("script", "style", "title", "iframe"))  # raw text, never shown
_RAW_SHOWN = ("textarea", "xmp", "noembed", "noframes")  # raw text that a reader sees
_TREE_STRIPPED = frozenset(("noscript", "object", "embed", "svg", "template"))
_FOREIGN = frozenset(("svg", "math"))  # no raw-text elements inside: leave it to the tree
_CELL_EDGES = frozenset(("td", "th", "tr", "table"))  # where a cell ends, and links in it
_SAFE_BEFORE_GAP = frozenset(">\t\n\f\r ")  # text that ends nothing a gap could complete
# The properties of a style attribute the tree's visibility walk reads (html.py).
_HIDING_STYLES = ("display", "visibility", "font-size", "font:", "opacity", "color", "background")

# Elements the depth cap leaves alone: void ones push nothing on the parser's
# stack, those with optional end tags are closed by their next sibling, raw-text
# ones hold no tags. Every other start tag opens a level until its end tag.
UNCOUNTED = frozenset((
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr", "param", "keygen", "frame", "basefont", "bgsound",
    "p", "li", "dt", "dd", "td", "th", "tr", "tbody", "thead", "tfoot", "option", "optgroup",
    "rb", "rt", "rtc", "rp", "colgroup", "caption", "html", "head", "body",
    *_DROPPED, *_RAW_SHOWN, "plaintext"))
#: Nesting followed by default (Limits.max_html_depth): Lexbor's tree building costs
#: time in the depth of its stack for each tag, so 16k nested divs took 1.1 s and
#: 100k 645 s; under 256 levels, 4 MiB of <ul><li> still took 3.8 s (each <li> looks
#: down the stack), under 64 1.3 s. Real mail nests a few dozen counted levels
#: (tables in tables count one a level: their rows and cells are not counted).
MAX_DEPTH = 64

# The tokenizer's classes of characters. CR counts as white space: the parser
# turns it into LF before tokenizing.
_TAG_NAME = re.compile(r"[^\t\n\f\r />]*")
# An attribute (a name starts with any other character, even "="; a value with
# a quote is quoted), or the ">" that ends the tag, after blanks and slashes.
_ATTRIBUTE = re.compile(r"""[\t\n\f\r /]*(?:(>)|([^\t\n\f\r />][^\t\n\f\r /=>]*)
    (?:[\t\n\f\r ]*(=)[\t\n\f\r ]*
       (?:"([^"]*)"|'([^']*)'|([^\t\n\f\r >"'][^\t\n\f\r >]*))?
    )?)?""", re.VERBOSE)  # groups: >, name, =, "value", 'value', value
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
# A legacy font size of 0: a browser draws it at size 1 (a sign would make it
# relative, +0 being the normal size), hash-busters use it to hide their words.
_FONT_SIZE_ZERO = re.compile(r"[\t\n\f\r ]*0+(?![0-9])")


def _ci(name: str) -> str:
    """Return a regex for name, ASCII case-blind (re.IGNORECASE would also fold "ſ" and "K")."""
    return "".join(f"[{c}{c.upper()}]" for c in name)


_END_TAG = {name: re.compile(f"</{_ci(name)}[\t\n\f\r />]")
            for name in (*_DROPPED, *_RAW_SHOWN)}
_SCRIPT_DATA = re.compile(f"(</{_ci('script')}[\t\n\f\r />])|<!--")
_SCRIPT_ESCAPED = re.compile(
    f"(</{_ci('script')}[\t\n\f\r />])|(<{_ci('script')}[\t\n\f\r />])|-->")
_SCRIPT_DOUBLE_ESCAPED = re.compile(f"(</{_ci('script')}[\t\n\f\r />])|-->")

Attributes = dict[str, tuple[int, int, int, int]]


def _is_letter(c: str) -> bool:
    return c.isascii() and c.isalpha()


def _lower(name: str) -> str:
    """Return name with ASCII letters lower-cased, as the tokenizer does (and no others)."""
    return name.translate(_ASCII_LOWER)


class _Tag(NamedTuple):
    end: int  # the index after its ">"
    name: str  # lower-case
    name_end: int
    attrs: Attributes
    self_closing: bool


def _read_tag(s: str, at: int) -> _Tag | None:
    """Read the tag at s[at] ("<" or "</", then a letter) as the HTML tokenizer does.

    Return it, or None when it runs to the end of s (a browser drops it). Its
    attributes map a lower-case name to (value start, value end, attribute start,
    attribute end), the first of each name only, as the parser keeps it.
    """
    n = len(s)
    start = at + 2 if s[at + 1] == "/" else at + 1
    i = name_end = _TAG_NAME.match(s, start).end()  # type: ignore[union-attr]
    name = _lower(s[start:i])
    attrs: Attributes = {}
    for m in _ATTRIBUTE.finditer(s, i):  # each match ends where the next starts
        gt, attr, equals, double, single, unquoted = m.groups()
        j = m.end()
        if gt:
            return _Tag(j, name, name_end, attrs, j - 1 > i and s[j - 2] == "/")
        if attr is None:
            return None  # blanks and slashes to the end
        if double is not None or single is not None:
            value = (j - 1 - len(double if double is not None else single), j - 1)
        elif unquoted is not None:
            value = (j - len(unquoted), j)
        elif equals and (j >= n or s[j] in "\"'"):
            return None  # a quote never closed, or nothing after "="
        else:
            value = (j, j)
        attrs.setdefault(attr if attr.islower() else _lower(attr), (*value, m.start(2), j))
        i = j
    raise AssertionError("unreachable: the pattern matches the empty string")


def _comment_end(s: str, j: int) -> int:
    """Return the index after the comment whose text starts at j (after "<!--"), or -1."""
    if s.startswith(">", j):
        return j + 1
    if s.startswith("->", j):
        return j + 2
    ends = [k + len(mark) for mark in ("-->", "--!>") if (k := s.find(mark, j)) >= 0]
    return min(ends) if ends else -1


def _script_end(s: str, j: int) -> int:
    """Return where the "</script" that ends the script whose text starts at j is, or -1.

    "<!--" in a script starts an escape in which "<script" starts a double escape,
    where "</script" only ends the double escape.
    """
    scan = _SCRIPT_DATA
    while (m := scan.search(s, j)) is not None:
        if m.group(1):  # "</script"
            if scan is not _SCRIPT_DOUBLE_ESCAPED:
                return m.start()
            scan, j = _SCRIPT_ESCAPED, m.start() + 8
        elif m.group() == "<!--":
            scan, j = _SCRIPT_ESCAPED, m.start() + 2  # its dashes may close it at once: "<!-->"
        elif m.group() == "-->":
            scan, j = _SCRIPT_DATA, m.end()
        else:  # "<script" in the escape
            scan, j = _SCRIPT_DOUBLE_ESCAPED, m.start() + 7
    return -1


def _raw_text_end(s: str, name: str, j: int) -> int:
    """Return where the end tag of the raw-text element name whose text starts at j is, or -1."""
    if name == "script":
        return _script_end(s, j)
    m = _END_TAG[name].search(s, j)
    return m.start() if m else -1


def link_host(href: str) -> str | None:
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


_CHAR_REF = re.compile(r"&(?:#([xX][0-9a-fA-F]+|[0-9]+);?|([A-Za-z][A-Za-z0-9]*;?))")


def _char_ref(m: re.Match[str]) -> str:
    """Return what the character reference m stands for in an attribute value."""
    digits, name = m.groups()
    if digits:
        hexadecimal = digits[0] in "xX"
        digits = digits[hexadecimal:].lstrip("0")
        code = int(digits or "0", 16 if hexadecimal else 10) if len(digits) <= 8 else -1
        if code <= 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return "\ufffd"
        if 0x80 <= code <= 0x9F:  # windows-1252, where it defines one
            try:
                return bytes((code,)).decode("cp1252")
            except UnicodeDecodeError:
                pass
        return chr(code)  # control characters too, unlike html.unescape
    # A name without ";" only counts where not followed by "=" (a letter or digit
    # would have been part of it): "?a=1&copy=2" keeps its "&copy".
    if name.endswith(";") or m.string[m.end():m.end() + 1] != "=":
        return html.entities.html5.get(name, m.group())
    return m.group()


def decode_attribute(value: str) -> str:
    """Return an attribute value with its character references decoded as browsers do."""
    return _CHAR_REF.sub(_char_ref, value) if "&" in value else value


def _value(s: str, attrs: Attributes, name: str) -> str | None:
    """Return the value of attribute name, decoded, or None."""
    if name not in attrs:
        return None
    start, end = attrs[name][:2]
    return decode_attribute(s[start:end])


def _hiding_attributes(s: str, attrs: Attributes, seen: set[tuple[str, str]] | None = None
                       ) -> str:
    """Return the attributes, as written, that may hide the element: hidden, bgcolor, a
    style with a property the tree's visibility walk reads; each after a space. Or "".

    Each is also added to seen, when given, as (name, value decoded)."""
    own = ""
    for name in ("hidden", "bgcolor"):
        if name in attrs:
            own += " " + s[attrs[name][2]:attrs[name][3]]
            if seen is not None:
                seen.add((name, "" if name == "hidden" else _value(s, attrs, name) or ""))
    style = _value(s, attrs, "style")
    if style is not None and any(mark in _lower(style) for mark in _HIDING_STYLES):
        own += " " + s[attrs["style"][2]:attrs["style"][3]]
        if seen is not None:
            seen.add(("style", style))
    return own


def _words(s: str, attrs: Attributes, alt: bool) -> str:
    """Return the words an image (alt=True) or frame stands for, as markup; or ""."""
    words = []
    if alt and "alt" in attrs:
        start, end = attrs["alt"][:2]
        if end > start:  # the alt as written: its references are read as in text
            words.append(s[start:end].replace("<", "&lt;"))
    host = link_host(_value(s, attrs, "src") or "")
    if host:
        words.append(host.replace("&", "&amp;").replace("<", "&lt;"))
    if not words:
        return ""
    text = "".join(f" {word} " for word in words)
    own = _hiding_attributes(s, attrs)
    return f"<span{own}>{text}</span>" if own else text


def prepare_markup_py(markup: str, max_depth: int = MAX_DEPTH
                      ) -> tuple[str, list[str], set[tuple[str, str]], bool]:
    """Return (markup for Lexbor, never-shown tags left to strip, the hiding attributes
    seen as (name, value decoded) pairs with ("hidden", "") for <font size=0>, blockquote
    seen).

    Start tags that would open a level deeper than max_depth are left out, and
    so are their end tags (their text stays): each name's open elements are
    counted, so a stray end tag closes nothing.
    """
    s, n = markup, len(markup)
    out: list[str] = []
    last = 0  # s[last:] is still to copy
    strip: list[str] = []
    hiding: set[tuple[str, str]] = set()
    quoting = False
    links: list[tuple[int, str | None]] = []  # open links: (table depth, host), deepest last
    foreign = 0  # depth of svg and math elements
    tables = 0  # depth of tables
    tail = n  # where a link still open at the end ends
    i = 0
    depth = 0  # open elements the cap counts
    opened: dict[str, int] = {}  # of those, by name
    cut: dict[str, int] = {}  # start tags left out past the cap, by name, not yet ended

    def put(at: int, text: str, resume: int | None = None) -> None:
        nonlocal last
        out.append(s[last:at])
        out.append(text)
        last = at if resume is None else resume

    def end_link(at: int, depth: int) -> None:
        """Write the host of the open link at table depth depth, if any, at s[at]."""
        if links and links[-1][0] == depth:
            host = links.pop()[1]
            if host:
                put(at, f" {host.replace('&', '&amp;').replace('<', '&lt;')} ")

    while (at := s.find("<", i)) >= 0 and at + 1 < n:
        c = s[at + 1]
        closing = c == "/" and at + 2 < n and _is_letter(s[at + 2])
        if not (closing or _is_letter(c)):
            if s.startswith("</>", at):
                i = at + 3  # nothing
            elif c in "!?/":  # a comment, doctype or bogus comment
                i = _comment_end(s, at + 4) if s.startswith("<!--", at) else s.find(">", at + 2) + 1
                if i <= 0:
                    tail = at  # it runs to the end
                    break
            else:
                i = at + 1  # "<" as text
            continue
        tag = _read_tag(s, at)
        if tag is None:
            tail = at
            break
        i, name, name_end, attrs, self_closing = tag
        if name in BLOCK_TAGS:
            put(at, "\n")
        if name not in UNCOUNTED:
            if closing:
                if cut.get(name):
                    cut[name] -= 1
                    put(at, "", resume=i)
                    continue
                if opened.get(name):
                    opened[name] -= 1
                    depth -= 1
            elif not (self_closing and (foreign or name in _FOREIGN)):
                if depth >= max_depth:
                    cut[name] = cut.get(name, 0) + 1
                    put(at, "", resume=i)
                    continue
                opened[name] = opened.get(name, 0) + 1
                depth += 1
        if name in _CELL_EDGES and not foreign:
            if tables and (closing or name != "table"):
                end_link(at, tables)
            if name == "table":
                tables = max(0, tables + (-1 if closing else 1))
        if closing:
            if foreign:
                foreign -= name in _FOREIGN
                continue
            if name == "a":
                end_link(at, tables)
            if i != name_end + 1:
                put(at, s[at:name_end] + ">", resume=i)  # the attributes of an end tag mean nothing
            continue
        own = _hiding_attributes(s, attrs, hiding)
        if name == "blockquote":
            quoting = True
        elif (name in _TREE_STRIPPED or (foreign and name in _DROPPED)) and name not in strip:
            strip.append(name)
        if foreign or name in _FOREIGN:  # left as it is
            foreign += name in _FOREIGN and not self_closing
            continue
        if name in _DROPPED:
            stop = _raw_text_end(s, name, i)
            after = _read_tag(s, stop) if stop >= 0 else None
            i = n if after is None else after.end
            words = _words(s, attrs, alt=False) if name == "iframe" else ""
            if not words and at > 0 and s[at - 1] not in _SAFE_BEFORE_GAP:
                words = "<!---->"  # so that "<" or "&amp" before it does not join what follows
            put(at, words, resume=i)
            continue
        if name == "plaintext":
            tail = at  # all after it is text
            break
        if name == "a":
            end_link(at, tables)
            href = _value(s, attrs, "href")
            links.append((tables, None if href is None else link_host(href)))
        hide_font = (name == "font" and "hidden" not in attrs
                     and bool(_FONT_SIZE_ZERO.match(_value(s, attrs, "size") or "-")))
        if hide_font:
            own = " hidden" + own
            hiding.add(("hidden", ""))
        if i != name_end + 1 or hide_font:
            put(at, s[at:name_end] + own + ">", resume=i)
        if name == "img":
            words = _words(s, attrs, alt=True)
            if words:
                put(i, words)
        elif name in _RAW_SHOWN:
            stop = _raw_text_end(s, name, i)
            i = n if stop < 0 else stop
    while links:
        end_link(tail, links[-1][0])
    if not out:
        return markup, strip, hiding, quoting
    out.append(s[last:])
    return "".join(out), strip, hiding, quoting
