# cython: language_level=3, embedsignature=True, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""The lean MIME splitter: a message's bytes to the tree shingles.parse reads.

It gives exactly what the standard ``email`` parser (policy compat32) gives
through shingles.parse._std_tree, for the well-formed messages that are nearly
all real mail, about ten times faster. Whatever it is not sure to split the same
way (bare CR line ends, header lines email would not take as headers, missing
or repeated boundaries, message/* and multipart/digest parts, RFC 2231
boundaries, anything email would flag as a defect) it hands back by returning
None, and the standard parser takes the message. A test holds the two equal on
every corpus message.

A node is (headers, body, children, defects): headers a tuple of (name str,
raw value bytes) in order, as email's raw_items() gives them; body the bytes of
a leaf, None for a multipart; children the sub-nodes; defects always () here.
"""

from libc.stdlib cimport free, malloc
from libc.string cimport memchr

from shingles.headers import boundary_of, content_type_of

cdef tuple NO_DEFECTS = ()


cdef inline Py_ssize_t line_end(const unsigned char *p, Py_ssize_t i, Py_ssize_t end):
    """Return the index just past the line starting at i (its "\\n" included)."""
    cdef const unsigned char *nl = <const unsigned char *>memchr(p + i, 10, end - i)
    if nl == NULL:
        return end
    return (nl - p) + 1


cdef inline bint has_bare_cr(const unsigned char *p, Py_ssize_t i, Py_ssize_t end):
    """Return whether p[i:end] holds a CR not followed by LF (email splits lines there)."""
    cdef const unsigned char *cr
    while i < end:
        cr = <const unsigned char *>memchr(p + i, 13, end - i)
        if cr == NULL:
            return False
        i = (cr - p) + 1
        if i >= end or p[i] != 10:
            return True
    return False


cdef object parse_headers(bytes data, const unsigned char *p, Py_ssize_t start,
                          Py_ssize_t end, Py_ssize_t *body_at):
    """Return the list of (name, value) of the header block at start, or None to hand back.

    Sets body_at to where the body starts (after the blank line, or end).
    """
    cdef Py_ssize_t i = start, j, k
    cdef unsigned char c
    headers = []
    name = None
    pieces = None
    body_at[0] = end
    while i < end:
        c = p[i]
        if c == 10:
            body_at[0] = i + 1
            break
        if c == 13:
            if i + 1 < end and p[i + 1] == 10:
                body_at[0] = i + 2
                break
            return None
        j = line_end(p, i, end)
        if has_bare_cr(p, i, j):
            return None  # email ends a line at a lone CR
        if c == 32 or c == 9:
            if name is None:
                return None  # email: FirstHeaderLineIsContinuationDefect
            pieces.append(data[i:j])
            i = j
            continue
        k = i
        while k < j and p[k] != 58:  # ':'
            if p[k] < 0x21 or p[k] > 0x7e:
                return None  # not a header line to email: it would start the body
            k += 1
        if k == j or k == i:
            return None  # no colon, or no name
        if name is not None:
            headers.append((name, b"".join(pieces).rstrip(b"\r\n")))
        name = data[i:k].decode("ascii")
        k += 1
        while k < j and (p[k] == 32 or p[k] == 9):
            k += 1
        pieces = [data[k:j]]
        i = j
    if name is not None:
        headers.append((name, b"".join(pieces).rstrip(b"\r\n")))
    return headers


cdef object first_value(list headers, str key):
    cdef Py_ssize_t n = len(key)
    for name, value in headers:
        if len(<str>name) == n and name.lower() == key:  # most names differ in length
            return value
    return None


cdef Py_ssize_t find_delimiter(bytes data, const unsigned char *p, bytes sep,
                               Py_ssize_t i, Py_ssize_t end, int *close) except -2:
    """Return where the next delimiter line of sep starts in [i, end), -1 if none, -3 to hand back.

    Sets close when it is the close delimiter (sep followed by "--").
    """
    cdef Py_ssize_t at, q, n = len(sep)
    while True:
        at = data.find(sep, i, end)
        if at < 0:
            return -1
        i = at + 1
        if at > 0 and p[at - 1] != 10:
            if p[at - 1] == 13:
                return -3  # a bare CR before it: email would see a line start here
            continue
        q = at + n
        close[0] = 0
        if q + 1 < end and p[q] == 45 and p[q + 1] == 45:
            close[0] = 1
            q += 2
        while q < end and (p[q] == 32 or p[q] == 9):
            q += 1
        if q >= end or p[q] == 10 or (p[q] == 13 and q + 1 < end and p[q + 1] == 10):
            return at
        if p[q] == 13:
            return -3
        # "--boundaryX": not this boundary's line; look further


cdef object split_node(bytes data, const unsigned char *p, Py_ssize_t start, Py_ssize_t end,
                       int depth, int max_depth):
    cdef Py_ssize_t body_at, at, part_start, nxt
    cdef int close = 0
    headers = parse_headers(data, p, start, end, &body_at)
    if headers is None:
        return None
    raw_ctype = first_value(headers, "content-type")
    if raw_ctype is not None and not raw_ctype.isascii():
        return None  # email turns 8-bit values into Header objects first
    ctype_value = raw_ctype.decode("ascii") if raw_ctype is not None else None
    ctype = content_type_of(ctype_value)
    if ctype.startswith("message/") or ctype == "multipart/digest":
        return None  # email parses these into sub-messages with rules of their own
    if not ctype.startswith("multipart/"):
        return (tuple(headers), data[body_at:end], NO_DEFECTS, NO_DEFECTS)
    if depth >= max_depth:
        return None
    try:
        boundary = boundary_of(ctype_value)
    except ValueError:
        return None
    if not boundary or not boundary.isascii():
        return None
    cte = first_value(headers, "content-transfer-encoding")
    if cte is not None and cte.lower() not in (b"7bit", b"8bit", b"binary"):
        return None  # email: InvalidMultipartContentTransferEncodingDefect
    sep = b"--" + boundary.encode("ascii")
    at = find_delimiter(data, p, sep, body_at, end, &close)
    if at < 0 or close:
        return None  # no start delimiter
    children = []
    while True:
        part_start = line_end(p, at, end)
        if part_start >= end:
            return None
        nxt = find_delimiter(data, p, sep, part_start, end, &close)
        if nxt == -3 or nxt < 0:
            return None  # bare CR, or no close delimiter (email flags it)
        if nxt == part_start:
            return None  # two delimiter lines in a row: email merges them
        child = split_node(data, p, part_start, nxt, depth + 1, max_depth)
        if child is None:
            return None
        body = child[1]
        if body is not None:
            # RFC 2046: the line break before a delimiter belongs to the delimiter.
            if body.endswith(b"\r\n"):
                child = (child[0], body[:len(body) - 2], child[2], child[3])
            elif body.endswith(b"\n") or body.endswith(b"\r"):
                child = (child[0], body[:len(body) - 1], child[2], child[3])
        children.append(child)
        if close:
            break
        at = nxt
    return (tuple(headers), None, tuple(children), NO_DEFECTS)


def split(bytes raw not None, int max_depth=30):
    """Return the MIME tree of a message, or None when the standard parser must take it."""
    cdef const unsigned char *p = raw
    cdef Py_ssize_t start = 0, end = len(raw)
    if raw.startswith(b"From "):
        start = line_end(p, 0, end)
        if has_bare_cr(p, 0, start - 1) or start >= end:
            return None
    return split_node(raw, p, start, end, 0, max_depth)


# ---------------------------------------------------------------- text helpers
# Compiled twins of shingles.htmltext's _mark_blocks_py and _tidy_py: same output
# (a test holds them equal), a character loop instead of Python's regex engine,
# which visits every character of a long document at ~15 ns each.

cdef extern from "Python.h":
    int PyUnicode_KIND(object)
    void *PyUnicode_DATA(object)
    Py_UCS4 PyUnicode_READ(int kind, void *data, Py_ssize_t index) nogil
    bint Py_UNICODE_ISSPACE(Py_UCS4 ch) nogil
    object PyUnicode_FromKindAndData(int kind, const void *buffer, Py_ssize_t size)

cdef const char *BLOCK_TAGS[26]
BLOCK_TAGS[:] = [
    b"p", b"div", b"br", b"li", b"tr", b"td", b"th", b"h1", b"h2", b"h3", b"h4", b"h5", b"h6",
    b"table", b"ul", b"ol", b"pre", b"hr", b"section", b"article", b"header", b"footer", b"dd",
    b"dt", b"center", b"blockquote"]
cdef int N_BLOCK_TAGS = 26


cdef inline unsigned int ascii_lower(Py_UCS4 c) noexcept nogil:
    cdef unsigned int u = <unsigned int>c
    return u + 32 if 65 <= u <= 90 else u


cdef bint block_tag_at(int kind, void *data, Py_ssize_t i, Py_ssize_t n) noexcept:
    """Return whether a block tag name, then white space, "/" or ">", starts at i."""
    cdef Py_ssize_t j
    cdef int t
    cdef const char *tag
    cdef Py_UCS4 c
    if i >= n:
        return False
    cdef unsigned int first = ascii_lower(PyUnicode_READ(kind, data, i))
    for t in range(N_BLOCK_TAGS):
        tag = BLOCK_TAGS[t]
        if <unsigned int>tag[0] != first:
            continue
        j = 1
        while tag[j] != 0:
            if i + j >= n or ascii_lower(PyUnicode_READ(kind, data, i + j)) != <unsigned int>tag[j]:
                break
            j += 1
        else:
            if i + j < n:
                c = PyUnicode_READ(kind, data, i + j)
                if Py_UNICODE_ISSPACE(c) or c == 47 or c == 62:  # "/" ">"
                    return True
    return False


def mark_blocks(str markup not None):
    """Return markup with a line break put before each block-level tag."""
    cdef int kind = PyUnicode_KIND(markup)
    cdef void *data = PyUnicode_DATA(markup)
    cdef Py_ssize_t n = len(markup), i, at, last = 0
    cdef Py_UCS4 c
    cdef const unsigned char *b = <const unsigned char *>data
    cdef const unsigned char *lt
    pieces = []
    i = 0
    while i < n:
        if kind == 1:  # Latin-1 text: jump to the next "<" with memchr
            lt = <const unsigned char *>memchr(b + i, 60, n - i)
            if lt == NULL:
                break
            i = lt - b
        if PyUnicode_READ(kind, data, i) == 60:  # "<"
            at = i + 1
            if at < n and PyUnicode_READ(kind, data, at) == 47:
                at += 1
            if block_tag_at(kind, data, at, n):
                pieces.append(markup[last:i])
                pieces.append("\n")
                last = i
        i += 1
    if not pieces:
        return markup
    pieces.append(markup[last:])
    return "".join(pieces)


from libc.stdint cimport uint8_t, uint16_t, uint32_t

ctypedef fused uchar:  # a str's characters, in the width it keeps them (1, 2 or 4 bytes)
    uint8_t
    uint16_t
    uint32_t


# For the characters below 256, which are nearly all: 1 white space, 2 a line break.
cdef uint8_t SPACE_CLASS[256]
for _c in range(256):
    SPACE_CLASS[_c] = 2 if _c == 10 else Py_UNICODE_ISSPACE(_c)


cdef inline int space_class(uint32_t c) noexcept:
    if c < 256:
        return SPACE_CLASS[c]
    return Py_UNICODE_ISSPACE(c)


cdef Py_ssize_t tidy_into(const uchar *p, Py_ssize_t n, uchar *out) noexcept:
    """Write tidy's text of p[:n] to out (room for n + 1); return its length."""
    cdef Py_ssize_t i = 0, length = 0, last_line_end = 0
    cdef uint32_t c
    cdef int space
    cdef bint pending = False, blank = True, in_line = False
    while True:
        space = space_class(p[i]) if i < n else 2
        if space == 2:  # end of a line
            if in_line:
                out[length] = 10
                length += 1
                last_line_end = length
                blank = False
            elif not blank:
                out[length] = 10
                length += 1
                blank = True
            in_line = False
            pending = False
            if i >= n:
                break
            i += 1
        elif space:
            pending = in_line
            i += 1
        else:
            if pending:
                out[length] = 32
                length += 1
                pending = False
            while True:  # the rest of the word
                out[length] = p[i]
                length += 1
                i += 1
                if i >= n or space_class(p[i]):
                    break
            in_line = True
    # Drop the trailing line break and a trailing blank line.
    return last_line_end - 1 if last_line_end > 0 else 0


def tidy(str text not None):
    """Return text with white-space runs one space, lines stripped, blank-line runs one."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef Py_ssize_t n = len(text), length
    cdef void *out = malloc((n + 1) * kind)  # in the width of text: it has all tidy writes
    if out == NULL:
        raise MemoryError()
    try:
        if kind == 1:
            length = tidy_into(<const uint8_t *>data, n, <uint8_t *>out)
        elif kind == 2:
            length = tidy_into(<const uint16_t *>data, n, <uint16_t *>out)
        else:
            length = tidy_into(<const uint32_t *>data, n, <uint32_t *>out)
        return PyUnicode_FromKindAndData(kind, out, length)
    finally:
        free(out)


def marked_lines(str text not None):
    """Return the indices of the lines (split at "\\n") whose first non-space is one of ">|-_=B".

    The only lines split_quoted must look at: a quote, a signature or cut line, a rule.
    """
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef Py_ssize_t n = len(text), i, line = 0
    cdef Py_UCS4 c
    cdef bint at_start = True
    cdef const unsigned char *b
    cdef const unsigned char *nl
    found = []
    if kind == 1:
        # Latin-1 text: jump from line to line with memchr. The only spaces in it
        # are 9-13, 28-32, 133 and 160 (Py_UNICODE_ISSPACE), tested as such below.
        b = <const unsigned char *>data
        i = 0
        while i < n:
            while i < n and Py_UNICODE_ISSPACE(b[i]) and b[i] != 10:
                i += 1
            if i < n and b[i] != 10:
                c = b[i]
                if c == 62 or c == 124 or c == 45 or c == 95 or c == 61 or c == 66:
                    found.append(line)
            if i >= n:
                break
            nl = <const unsigned char *>memchr(b + i, 10, n - i)
            if nl == NULL:
                break
            i = (nl - b) + 1
            line += 1
        return found
    for i in range(n):
        c = PyUnicode_READ(kind, data, i)
        if c == 10:
            line += 1
            at_start = True
        elif at_start and not Py_UNICODE_ISSPACE(c):
            at_start = False
            if c == 62 or c == 124 or c == 45 or c == 95 or c == 61 or c == 66:  # >|-_=B
                found.append(line)
    return found


# ---------------------------------------------------------------- header index
# The compiled twin of shingles.parse._index_headers_py (a test holds them equal).

cdef dict HEADER_KEYS = {}  # header name as written -> lower-case, blanks before ":" cut
cdef frozenset LIST_KEYS = frozenset(("to", "cc", "delivered-to"))


cdef str header_key(str name):
    cdef str key = HEADER_KEYS.get(name)
    if key is None:
        key = name.lower()
        if key and (key[len(key) - 1] == " " or key[len(key) - 1] == "\t"):
            key = key.rstrip()
        if len(HEADER_KEYS) < 4096 and len(name) <= 64:  # real names are few and short
            HEADER_KEYS[name] = key
    return key


def index_headers(tuple headers not None, Py_ssize_t max_headers):
    """Return the header fields sorted by use, raw (see shingles.parse._index_headers_py)."""
    cdef list names = [], received = [], received_pos = [], received_spf = []
    cdef list auth = [], rcpt = []
    cdef dict raw_first = {}
    cdef Py_ssize_t pos = 0
    cdef str key
    for name, value in headers:
        if pos >= max_headers:
            return names, received, received_pos, received_spf, auth, rcpt, raw_first, True
        key = header_key(name)
        names.append(key)
        if key == "received":
            received.append(value)
            received_pos.append(pos)
        elif key == "authentication-results":
            auth.append(value)
        elif key == "received-spf":
            received_spf.append((pos, value))
        elif key in LIST_KEYS:
            rcpt.append(value)
        elif key not in raw_first:
            raw_first[key] = value
        pos += 1
    return names, received, received_pos, received_spf, auth, rcpt, raw_first, False


# ---------------------------------------------------------------- dates
# The common RFC 5322 date ("Thu, 22 Aug 2002 07:36:16 -0400 (EDT)") read in C.
# shingles.headers.parse_date stays the definition: common_date answers only for
# text of that exact form (ASCII, four-digit year, numeric zone) and returns None
# for all else, which the caller then hands to parse_date.

from cpython.datetime cimport datetime_new, import_datetime, timedelta_new
from cpython.datetime cimport timezone_new

import_datetime()

cdef dict DATE_ZONES = {}  # offset in seconds -> tzinfo
cdef const char *MONTH_NAMES = b"janfebmaraprmayjunjulaugsepoctnovdec"


cdef inline Py_UCS4 char_at(int kind, void *data, Py_ssize_t i, Py_ssize_t n) noexcept:
    return PyUnicode_READ(kind, data, i) if i < n else 0


cdef inline int digit_at(int kind, void *data, Py_ssize_t i, Py_ssize_t n) noexcept:
    return <int>char_at(kind, data, i, n) - 48


cdef inline bint is_digit(Py_UCS4 c) noexcept:
    return 48 <= c <= 57


cdef inline bint is_blank(Py_UCS4 c) noexcept:
    return c == 32 or c == 9


cdef inline bint is_letter(Py_UCS4 c) noexcept:
    return 65 <= c <= 90 or 97 <= c <= 122


cdef int short_number(int kind, void *data, Py_ssize_t *i, Py_ssize_t n) noexcept:
    """Return the one- or two-digit number at i[0] and move past it; -1 if no digit is there."""
    if not is_digit(char_at(kind, data, i[0], n)):
        return -1
    cdef int value = digit_at(kind, data, i[0], n)
    i[0] += 1
    if is_digit(char_at(kind, data, i[0], n)):
        value = value * 10 + digit_at(kind, data, i[0], n)
        i[0] += 1
    return value


def common_date(str text not None):
    """Return the aware datetime of a date of the common form, or None (parse_date decides)."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef Py_ssize_t n = len(text), i = 0, k
    cdef int day, month = 0, year, hh, mm, ss = 0, offset, m
    cdef Py_UCS4 c
    cdef char mon[3]
    while is_blank(char_at(kind, data, i, n)):
        i += 1
    if is_letter(char_at(kind, data, i, n)):  # the day name: three letters, "," or blanks
        if not (is_letter(char_at(kind, data, i + 1, n)) and is_letter(char_at(kind, data, i + 2, n))):
            return None
        i += 3
        if char_at(kind, data, i, n) == 44:  # ","
            i += 1
        while is_blank(char_at(kind, data, i, n)):
            i += 1
    day = short_number(kind, data, &i, n)
    if day < 0 or not is_blank(char_at(kind, data, i, n)):
        return None
    while is_blank(char_at(kind, data, i, n)):
        i += 1
    for k in range(3):
        c = char_at(kind, data, i + k, n)
        if not is_letter(c):
            return None
        mon[k] = <char>(<int>c | 32)
    i += 3
    for m in range(12):
        if MONTH_NAMES[3 * m] == mon[0] and MONTH_NAMES[3 * m + 1] == mon[1] \
                and MONTH_NAMES[3 * m + 2] == mon[2]:
            month = m + 1
            break
    if month == 0 or not is_blank(char_at(kind, data, i, n)):
        return None
    while is_blank(char_at(kind, data, i, n)):
        i += 1
    year = 0
    for k in range(4):
        c = char_at(kind, data, i + k, n)
        if not is_digit(c):
            return None
        year = year * 10 + <int>c - 48
    i += 4
    if year < 100 or not is_blank(char_at(kind, data, i, n)):
        return None
    while is_blank(char_at(kind, data, i, n)):
        i += 1
    hh = short_number(kind, data, &i, n)
    if hh < 0 or char_at(kind, data, i, n) != 58 or not is_digit(char_at(kind, data, i + 1, n)) \
            or not is_digit(char_at(kind, data, i + 2, n)):
        return None
    mm = digit_at(kind, data, i + 1, n) * 10 + digit_at(kind, data, i + 2, n)
    i += 3
    if char_at(kind, data, i, n) == 58:
        if not is_digit(char_at(kind, data, i + 1, n)) or not is_digit(char_at(kind, data, i + 2, n)):
            return None
        ss = digit_at(kind, data, i + 1, n) * 10 + digit_at(kind, data, i + 2, n)
        i += 3
    while is_blank(char_at(kind, data, i, n)):
        i += 1
    c = char_at(kind, data, i, n)
    if c != 43 and c != 45:  # a numeric zone "+hhmm" or "-hhmm" only
        return None
    for k in range(1, 5):
        if not is_digit(char_at(kind, data, i + k, n)):
            return None
    offset = (digit_at(kind, data, i + 1, n) * 10 + digit_at(kind, data, i + 2, n)) * 3600 \
        + (digit_at(kind, data, i + 3, n) * 10 + digit_at(kind, data, i + 4, n)) * 60
    if c == 45:
        offset = -offset
    tz = DATE_ZONES.get(offset)
    try:
        if tz is None:
            tz = timezone_new(timedelta_new(0, offset, 0), None)
            if len(DATE_ZONES) < 512:
                DATE_ZONES[offset] = tz
        return datetime_new(year, month, day, hh, mm, ss if ss < 59 else 59, 0, tz)
    except (ValueError, OverflowError):
        return None


# ---------------------------------------------------------------- header text

from cpython.unicode cimport PyUnicode_DecodeASCII

from shingles.headers import header_text as _header_text_py


def header_text(bytes value not None):
    """Return shingles.headers.header_text(value); an ASCII value is done here.

    header_text unfolds with three str.replace calls in a row ("\r\n" -> "\n",
    "\n " -> " ", "\n\t" -> "\t"); one pass does the same: a CR goes when an LF
    follows it, an LF when, after that first replace, a blank follows it.
    """
    cdef const unsigned char *p = value
    cdef Py_ssize_t n = len(value), i, out = 0
    cdef unsigned char nxt
    cdef bint folded = False
    for i in range(n):
        if p[i] >= 128:  # 8-bit: the Python reader and its charset fallback
            return _header_text_py(value)
        if p[i] == 10:
            folded = True
    if not folded:
        return PyUnicode_DecodeASCII(<const char *>p, n, NULL).strip()
    cdef char *buf = <char *>malloc(n + 1)
    if buf == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            if p[i] == 13 and i + 1 < n and p[i + 1] == 10:
                continue
            if p[i] == 10 and i + 1 < n:
                nxt = p[i + 1]
                if nxt == 13 and i + 2 < n and p[i + 2] == 10:
                    nxt = 10
                if nxt == 32 or nxt == 9:
                    continue
            buf[out] = <char>p[i]
            out += 1
        return PyUnicode_DecodeASCII(buf, out, NULL).strip()
    finally:
        free(buf)
