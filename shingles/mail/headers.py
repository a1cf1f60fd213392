"""Header values to data: text, encoded words, addresses, dates, MIME parameters.

Both parsers (the lean one and the standard ``email`` one) hand raw header
bytes to these functions, so the two can only differ in how they split a
message, never in how they read a field.

Charset fallback (documented in README): a known charset decodes with
replacement characters for bad bytes; an unknown or missing one, and 8-bit
bytes labelled us-ascii, decode as UTF-8 when they are valid UTF-8, else as
windows-1252, and bytes windows-1252 lacks as latin-1. iso-8859-1 is read as
windows-1252, as browsers and mail clients do.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import re
from datetime import datetime, timedelta, timezone
from email.utils import getaddresses, parseaddr, parsedate_tz

__all__ = [
    "addresses",
    "boundary_of",
    "content_type_of",
    "decode_bytes",
    "decode_words",
    "first_address",
    "header_text",
    "known_charset",
    "msg_ids",
    "param_of",
    "parse_date",
]

_ASCII_LIKE = {"us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "iso_8859-1",
               "windows-1252", "cp1252", ""}
_CHARSET_CACHE: dict[str, str | None] = {}


# The codecs a MIME charset may name: Python's text encodings, not its other codecs
# (punycode decodes in quadratic time: 185 s for 600 KB; unicode-escape, idna,
# rot-13, base64, zlib ... are no charsets). The rest read as unknown labels do.
_TEXT_CODECS = re.compile(
    r"ascii|latin-1|utf-(?:8|8-sig|7|16|16-be|16-le|32|32-be|32-le)|cp\d+|iso8859-\d+"
    r"|koi8-[a-z]+|mac-[a-z0-9]+|kz1048|ptcp154|tis-620|hp-roman8|big5|big5hkscs|gb2312|gbk"
    r"|gb18030|hz|euc_[a-z0-9_]+|iso2022_[a-z0-9_]+|shift_jis|shift_jis_2004|shift_jisx0213"
    r"|johab")


def _codec(charset: str) -> str | None:
    """Return a Python codec name for a MIME charset label, or None if unknown."""
    name = _CHARSET_CACHE.get(charset, "")
    if name != "":
        return name
    label = charset.strip().strip('"\'').lower()
    if label in ("iso-8859-1", "latin-1", "latin1", "iso_8859-1", "us-ascii", "ascii"):
        codec: str | None = "cp1252"
    elif label in ("ks_c_5601-1987", "ks_c_5601", "korean"):
        codec = "cp949"
    elif label in ("gb2312", "gb_2312-80", "chinesebig5", "gb2312_charset"):
        codec = "gbk" if label != "chinesebig5" else "big5"
    else:
        try:
            codec = codecs.lookup(label).name
        except (LookupError, ValueError):
            codec = None
        else:
            if not _TEXT_CODECS.fullmatch(codec):
                codec = None  # punycode, idna, rot-13, base64, unicode-escape ...: no charsets
    if len(_CHARSET_CACHE) < 256:
        _CHARSET_CACHE[charset] = codec
    return codec


def known_charset(charset: str) -> bool:
    """Return whether a MIME charset label names a charset we can decode."""
    return _codec(charset) is not None


def _fallback(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Return data decoded from charset, with the documented fallback; never raise."""
    if data.isascii():
        return data.decode("ascii")
    codec = _codec(charset) if charset else None
    if codec is None or codec == "cp1252":
        # Unlabelled, unknown or "Western" labels: 8-bit text in the wild is UTF-8 more
        # often than its label admits.
        return _fallback(data)
    try:
        return data.decode(codec, "replace")
    except (LookupError, ValueError):  # a codec that fails on its own name or state
        return _fallback(data)


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(?==\?)")


def header_text(value: bytes) -> str:
    """Return a raw header value as text: unfolded, stripped, 8-bit bytes decoded."""
    text = value.decode("ascii") if value.isascii() else _fallback(value)
    if "\n" in text:
        # Unfold (RFC 5322 2.2.3): a line break before white space goes. Both parsers
        # only leave line breaks before white space inside a value.
        text = text.replace("\r\n", "\n").replace("\n ", " ").replace("\n\t", "\t")
    return text.strip()


def _decode_word(match: re.Match[str]) -> str:
    charset, kind, payload = match.group(1), match.group(2), match.group(3)
    charset = charset.split("*", 1)[0]  # RFC 2231 language suffix
    try:
        if kind in "bB":
            raw = payload.encode("ascii", "replace")
            raw = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=False)
        else:
            raw = binascii.a2b_qp(payload.encode("ascii", "replace"), header=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    return decode_bytes(raw, charset)


def decode_words(text: str) -> str:
    """Return text with RFC 2047 encoded words decoded (space between two such words dropped)."""
    if "=?" not in text:
        return text
    text = _BETWEEN_WORDS.sub(r"\1", text)
    return _ENCODED_WORD.sub(_decode_word, text)


_ANGLE = re.compile(r"<([^<>]*)>")
_COMMENT = re.compile(r"\([^()]*\)")


def _clean_address(addr: str) -> str | None:
    addr = addr.strip().strip("<>").strip().lower()
    addr = addr.removeprefix("mailto:")
    return addr or None


# Values up to this long are remembered by the parsers below: copies of one mailing
# repeat their From and Content-Type values, and a long value is rare and unique.
_CACHED_LEN = 512


def first_address(text: str) -> str | None:
    """Return the (first) address in a From/Return-Path value, lower-case, or None."""
    if not text:
        return None
    if len(text) <= _CACHED_LEN:
        return _first_address_cached(text)
    return _first_address(text)


# '"Display Name" <addr>': the common From that parseaddr would take, read the
# way parseaddr reads it (a test holds the two equal on such values).
_QUOTED_NAME_ADDR = re.compile(r'\s*"[^"\\]*"\s*<([^<>"(),;:\s\\\[\]]*)>\s*')


def _first_address(text: str) -> str | None:
    """Return what first_address returns, read afresh (text not empty)."""
    if '"' not in text and "(" not in text and "," not in text:
        found = _ANGLE.findall(text)
        if found:
            return _clean_address(found[-1])
        if " " not in text.strip():
            return _clean_address(text)
    elif '"' in text and "=?" not in text:
        quoted = _QUOTED_NAME_ADDR.fullmatch(text)
        if quoted:
            return _clean_address(quoted.group(1))
    return _parsed_address(text)


# email's address parser reads a comment by recursion, one Python frame a level:
# 494 nested parentheses raise RecursionError. Deeper than this, comments go first.
_MAX_COMMENT_DEPTH = 32


def _flat_comments(text: str) -> str:
    """Return text with its comments cut when they nest deeper than _MAX_COMMENT_DEPTH.

    One pass with a counter (quoted strings and backslash escapes kept as RFC 5322
    3.2 reads them); an unclosed comment runs to the end, as email reads it.
    """
    if text.count("(") <= _MAX_COMMENT_DEPTH:
        return text
    depth = deepest = 0
    for c in text:
        if c == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif c == ")" and depth:
            depth -= 1
    if deepest <= _MAX_COMMENT_DEPTH:
        return text
    out: list[str] = []
    depth = 0
    quoted = escaped = False
    for c in text:
        if escaped:
            escaped = False
            if not depth:
                out.append(c)
            continue
        if c == "\\":
            escaped = True
        elif quoted:
            quoted = c != '"'
        elif c == "(":
            depth += 1
            continue
        elif c == ")" and depth:
            depth -= 1
            continue
        elif c == '"' and not depth:
            quoted = True
        if not depth:
            out.append(c)
    return "".join(out)


def _parsed_address(text: str) -> str | None:
    """Return the first address of text as email's parseaddr reads it."""
    if "=?" in text:
        text = decode_words(text)
    text = _flat_comments(text)
    addr = parseaddr(text)[1]
    if not addr:
        found = _ANGLE.findall(_COMMENT.sub("", text))
        addr = found[-1] if found else ""
    return _clean_address(addr)


_first_address_cached = functools.lru_cache(maxsize=4096)(_first_address)


def addresses(values: list[str]) -> list[str]:
    """Return every address in address-list header values, lower-case, in order."""
    out: list[str] = []
    for text in values:
        out.extend(_addresses_cached(text) if len(text) <= _CACHED_LEN else _addresses_of(text))
    return out


def _addresses_of(text: str) -> tuple[str, ...]:
    """Return the addresses of one address-list value (see addresses)."""
    if '"' in text or "(" in text or ":" in text or "=?" in text:
        found = [addr for _, addr in getaddresses([_flat_comments(decode_words(text))])]
    else:
        found = []
        for item in text.split(","):
            angle = _ANGLE.findall(item)
            found.append(angle[-1] if angle else item)
    return tuple(clean for clean in map(_clean_address, found) if clean)


_addresses_cached = functools.lru_cache(maxsize=4096)(_addresses_of)


def msg_ids(text: str) -> tuple[str, ...]:
    """Return the <msg-id> tokens of a References/In-Reply-To value (or its words)."""
    found = re.findall(r"<[^<>\s]*>", text)
    return tuple(found) if found else tuple(text.split())


_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_DATE = re.compile(
    r"\s*(?:[A-Za-z]{3},?\s*)?(\d{1,2})[\s-]+([A-Za-z]{3})[a-z]*[\s-]+(\d{2,4})\s+"
    r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:([+-])(\d{2})(\d{2}))?")


_ZONES: dict[int, timezone] = {0: timezone.utc}


def _make_date(year: int, month: int, day: int, hh: int, mm: int, ss: int,
               offset_seconds: int | None) -> datetime | None:
    if year < 100:  # RFC 5322 4.3: two-digit years
        year += 2000 if year < 50 else 1900
    tz = _ZONES.get(offset_seconds or 0)
    try:
        if tz is None:
            tz = timezone(timedelta(seconds=offset_seconds or 0))
            if len(_ZONES) < 512:
                _ZONES[offset_seconds or 0] = tz
        return datetime(year, month, day, hh, mm, min(ss, 59), tzinfo=tz)
    except (ValueError, OverflowError):
        return None


def parse_date(text: str) -> datetime | None:
    """Return an RFC 5322 date as an aware datetime (UTC when the zone is unknown), or None."""
    if not text:
        return None
    m = _DATE.match(text)
    if m:
        day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
        month = _MONTHS.get(mon.lower())
        if sign and month:
            offset = int(zh) * 3600 + int(zm) * 60
            if sign == "-":
                offset = -offset
            tz = _ZONES.get(offset)
            y = int(year)
            if tz is not None and y >= 100:
                # The common case written out: _make_date's steps without its call.
                second = int(ss) if ss else 0
                try:
                    return datetime(y, month, int(day), int(hh), int(mm),
                                    second if second < 59 else 59, tzinfo=tz)
                except (ValueError, OverflowError):
                    return None
            return _make_date(y, month, int(day), int(hh), int(mm), int(ss or 0), offset)
    try:
        parts = parsedate_tz(text)
    except (ValueError, IndexError, TypeError):
        parts = None
    if not parts:
        return None
    year, month, day, hh, mm, ss = parts[:6]
    return _make_date(year, month, day, hh, mm, ss, parts[9])


# ---------------------------------------------------------------- MIME parameters
# These follow email.message (_splitparam, _parseparam, get_boundary) step by
# step, because the lean parser must split multiparts exactly where the
# standard one does.


def content_type_of(value: str | None, default: str = "text/plain") -> str:
    """Return the lower-case "type/subtype" of a Content-Type value, as email.message does."""
    if value is None:
        return default
    ctype = value.partition(";")[0].strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


def _parseparam(s: str) -> list[str]:
    # email.message._parseparam walks by index instead of re-slicing the rest and
    # recounting its quotes at each ";": the same items, linear in the length
    # (spam puts thousands of ";" in a Content-Type).
    if '"' not in s:  # no quotes, no ";" inside one: each piece is an item
        return [_param_item(f) for f in s.split(";")]
    plist = []
    s = ";" + s
    n = len(s)
    start = 0
    while start < n and s[start] == ";":
        start += 1
        end = s.find(";", start)
        if end > start:
            # A ";" inside an open quote does not end the item. A '\\"' cannot straddle
            # a ";", so the counts of the pieces add up.
            quotes = s.count('"', start, end) - s.count('\\"', start, end)
            while end > 0 and quotes % 2:
                following = s.find(";", end + 1)
                stop = n if following < 0 else following
                quotes += s.count('"', end, stop) - s.count('\\"', end, stop)
                end = following
        if end < 0:
            end = n
        plist.append(_param_item(s[start:end]))
        start = end
    return plist


def _param_item(f: str) -> str:
    if "=" in f:
        i = f.index("=")
        f = f[:i].strip().lower() + "=" + f[i + 1:].strip()
    return f.strip()


def _unquote(s: str) -> str:
    if len(s) > 1:
        if s.startswith('"') and s.endswith('"'):
            return s[1:-1].replace("\\\\", "\\").replace('\\"', '"')
        if s.startswith("<") and s.endswith(">"):
            return s[1:-1]
    return s


def param_of(value: str | None, name: str) -> str | None:
    """Return parameter name of a header value, unquoted and RFC 2231-decoded, or None."""
    if not value or ";" not in value:
        return None
    if len(value) <= _CACHED_LEN:
        return _param_cached(value, name)
    return _param_of(value, name)


def _param_of(value: str, name: str) -> str | None:
    """Return what param_of returns, read afresh."""
    if name not in value.lower():
        return None  # no item's key can be name or start with it
    plain = None
    continued: dict[int, tuple[bool, str]] = {}
    for item in _parseparam(value)[1:]:
        key, _, val = item.partition("=")
        key = key.strip().lower()
        if key == name and plain is None:
            plain = _unquote(val.strip())
        elif key.startswith(name + "*"):
            rest = key[len(name) + 1:]
            encoded = rest.endswith("*") or rest == ""
            num = rest.rstrip("*")
            index = int(num) if num.isdigit() else 0
            continued.setdefault(index, (encoded, _unquote(val.strip())))
    if plain is not None:
        return plain
    if not continued:
        return None
    return _rfc2231(continued)


_param_cached = functools.lru_cache(maxsize=4096)(_param_of)


def _rfc2231(pieces: dict[int, tuple[bool, str]]) -> str:
    from urllib.parse import unquote_to_bytes

    charset = None
    chunks = []
    for index in sorted(pieces):
        encoded, val = pieces[index]
        if encoded and index == 0 and val.count("'") >= 2:
            charset, _, val = val.split("'", 2)
        chunks.append(unquote_to_bytes(val) if encoded else val.encode("utf-8", "replace"))
    return decode_bytes(b"".join(chunks), charset or "utf-8")


def boundary_of(value: str) -> str | None:
    """Return the boundary of a Content-Type value as Message.get_boundary does, or None.

    Raise ValueError for RFC 2231 parameters (name*=...), which this port does not
    follow: the lean parser then leaves the message to the standard one.
    """
    return _boundary_cached(value) if len(value) <= _CACHED_LEN else _boundary_of(value)


def _boundary_of(value: str) -> str | None:
    """Return what boundary_of returns, read afresh."""
    found = None
    for item in _parseparam(value)[1:]:
        if "=" in item:
            key, val = item.split("=", 1)
            key, val = key.strip(), val.strip()
        else:
            key, val = item.strip(), ""
        if "*" in key:
            raise ValueError("RFC 2231 parameter")
        if found is None and key.lower() == "boundary":
            found = val
    if found is None:
        return None
    return _unquote(_unquote(found)).rstrip()


_boundary_cached = functools.lru_cache(maxsize=4096)(_boundary_of)
