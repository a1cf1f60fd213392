# cython: language_level=3, embedsignature=True, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""The lean MIME splitter: a message's bytes to the tree shingles.mail.parse reads.

It gives exactly what the standard ``email`` parser (policy compat32) gives
through shingles.mail.parse._std_tree, for the well-formed messages that are nearly
all real mail, about ten times faster. Whatever it is not sure to split the same
way (bare CR line ends, header lines email would not take as headers, missing
or repeated boundaries, message/* and multipart/digest parts, RFC 2231
boundaries, most things email would flag as a defect) it hands back by returning
None, and the standard parser takes the message. A test holds the two equal on
every corpus message.

A node is (headers, body, children, defects): headers a tuple of (name str,
raw value bytes) in order, as email's raw_items() gives them; body the bytes of
a leaf, None for a multipart; children the sub-nodes; defects the names of the
two defects it takes as email does: a multipart cut before its close
delimiter, and one with a transfer encoding other than 7bit/8bit/binary.
"""

from libc.stdlib cimport free, malloc
from libc.string cimport memchr, strlen
from cpython.unicode cimport PyUnicode_DecodeASCII

from shingles.mail.headers import boundary_of, content_type_of

cdef tuple NO_DEFECTS = ()
cdef tuple CLOSE_BOUNDARY_NOT_FOUND = ("CloseBoundaryNotFoundDefect",)
cdef tuple BAD_MULTIPART_ENCODING = ("InvalidMultipartContentTransferEncodingDefect",)


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


cdef inline object header_value(bytes data, const unsigned char *p, Py_ssize_t start,
                                Py_ssize_t stop):
    """Return data[start:stop] without its trailing CR and LF characters.

    A folded value's lines lie one after another in data, so the value with its
    folds is one slice (what email's joined lines, right-stripped, are).
    """
    while stop > start and (p[stop - 1] == 10 or p[stop - 1] == 13):
        stop -= 1
    return data[start:stop]


cdef object parse_headers(bytes data, const unsigned char *p, Py_ssize_t start,
                          Py_ssize_t end, Py_ssize_t *body_at):
    """Return the list of (name, value) of the header block at start, or None to hand back.

    Sets body_at to where the body starts (after the blank line, or end).
    """
    cdef Py_ssize_t i = start, j, k, value_start = 0
    cdef unsigned char c
    headers = []
    name = None
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
            headers.append((name, header_value(data, p, value_start, i)))
        name = PyUnicode_DecodeASCII(<const char *>p + i, k - i, NULL)
        k += 1
        while k < j and (p[k] == 32 or p[k] == 9):
            k += 1
        value_start = k
        i = j
    if name is not None:
        headers.append((name, header_value(data, p, value_start, i)))
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
    defects = NO_DEFECTS
    cte = first_value(headers, "content-transfer-encoding")
    if cte is not None and cte.lower() not in (b"7bit", b"8bit", b"binary"):
        defects = BAD_MULTIPART_ENCODING  # flagged, and the parts read as ever
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
        if nxt == -3:
            return None  # a bare CR
        if nxt < 0:
            # No close delimiter (a cut message): email runs the last part to the
            # end and flags the multipart. A cut multipart inside it has rules of
            # its own: handed back.
            child = split_node(data, p, part_start, end, depth + 1, max_depth)
            if child is None or child[1] is None:
                return None
            defects = defects + CLOSE_BOUNDARY_NOT_FOUND
            close = 1
        elif nxt == part_start:
            return None  # two delimiter lines in a row: email merges them
        else:
            child = split_node(data, p, part_start, nxt, depth + 1, max_depth)
            if child is None:
                return None
        body = child[1]
        if body is not None:
            # RFC 2046: the line break before a delimiter belongs to the delimiter
            # (and email takes the last one off a part cut by the end too).
            if body.endswith(b"\r\n"):
                child = (child[0], body[:len(body) - 2], child[2], child[3])
            elif body.endswith(b"\n") or body.endswith(b"\r"):
                child = (child[0], body[:len(body) - 1], child[2], child[3])
        children.append(child)
        if close:
            break
        at = nxt
    return (tuple(headers), None, tuple(children), defects)


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
# Compiled twins of shingles.mail.html's _tidy_py and shingles.mail.parse's
# _quote_marks_py: same output (tests hold them equal), a character loop instead
# of Python's string methods and regex engine.

cdef extern from "Python.h":
    int PyUnicode_KIND(object)
    void *PyUnicode_DATA(object)
    Py_UCS4 PyUnicode_READ(int kind, void *data, Py_ssize_t index) nogil
    bint Py_UNICODE_ISSPACE(Py_UCS4 ch) nogil
    object PyUnicode_FromKindAndData(int kind, const void *buffer, Py_ssize_t size)

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


cdef inline Py_ssize_t skip_space(int kind, void *data, Py_ssize_t i, Py_ssize_t n) noexcept:
    """Return the index of the first character at or after i that is no space, or a "\\n"."""
    cdef Py_UCS4 c
    while i < n:
        c = PyUnicode_READ(kind, data, i)
        if c == 10 or not Py_UNICODE_ISSPACE(c):
            break
        i += 1
    return i


cdef inline Py_ssize_t find_newline(int kind, void *data, Py_ssize_t i, Py_ssize_t n) noexcept:
    """Return the index of the first "\\n" at or after i, or -1."""
    cdef const unsigned char *b
    cdef const unsigned char *nl
    if kind == 1:
        b = <const unsigned char *>data
        nl = <const unsigned char *>memchr(b + i, 10, n - i) if i < n else NULL
        return -1 if nl == NULL else nl - b
    while i < n:
        if PyUnicode_READ(kind, data, i) == 10:
            return i
        i += 1
    return -1


cdef inline bint header_first(Py_UCS4 c) noexcept:
    """Return whether c is in shingles.mail.quoting.HEADER_FIRST ("FDVOfdvo*" and Cyrillic О)."""
    return (c == 70 or c == 68 or c == 86 or c == 79 or c == 102 or c == 100 or c == 118
            or c == 111 or c == 42 or c == 0x41E)


cdef inline bint has_colon(int kind, void *data, Py_ssize_t i, Py_ssize_t stop) noexcept:
    """Return whether a ":" is at or after i and before stop."""
    if kind == 1:
        return i < stop and memchr(<const unsigned char *>data + i, 58, stop - i) != NULL
    while i < stop:
        if PyUnicode_READ(kind, data, i) == 58:
            return True
        i += 1
    return False


cdef inline bint ascii_letter_at(int kind, void *data, Py_ssize_t i, Py_ssize_t n) noexcept:
    cdef Py_UCS4 c
    if i >= n:
        return False
    c = PyUnicode_READ(kind, data, i)
    return 65 <= c <= 90 or 97 <= c <= 122


cdef bint initials_quote(int kind, void *data, Py_ssize_t at, Py_ssize_t n) noexcept:
    """Return whether text[at:] opens with 1-4 ASCII letters, ">", then a space, a tab or
    the line's end (shingles.mail.quoting._initials_quote)."""
    cdef Py_ssize_t k
    cdef Py_UCS4 c
    if not ascii_letter_at(kind, data, at, n):
        return False
    for k in range(1, 5):
        if at + k >= n:
            return False
        c = PyUnicode_READ(kind, data, at + k)
        if c == 62:  # ">"
            if at + k + 1 >= n:
                return True
            c = PyUnicode_READ(kind, data, at + k + 1)
            return c == 32 or c == 9 or c == 10
        if not ascii_letter_at(kind, data, at + k, n):
            return False
    return False


def quote_marks(str text not None):
    """Return the line runs split_quoted looks at (see shingles.mail.parse._quote_marks_py)."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef Py_ssize_t n = len(text), i = 0, at, line = 0, run_start = -1
    cdef Py_UCS4 c, d, e
    runs = []
    while True:
        at = skip_space(kind, data, i, n)
        c = PyUnicode_READ(kind, data, at) if at < n else 10
        d = PyUnicode_READ(kind, data, at + 1) if at + 1 < n else 10
        e = PyUnicode_READ(kind, data, at + 2) if at + 2 < n else 10
        i = find_newline(kind, data, at, n)
        if c == 62 or (c == 124 and d == 62) or initials_quote(kind, data, at, n):  # ">" "|>" "RH>"
            if run_start < 0:
                run_start = line
        else:
            if run_start >= 0:
                runs.append((run_start, line, 0))
                run_start = -1
            # A header-block opener ("From:", in the languages of HEADER_OPEN) needs a ":".
            if ((c == 45 or c == 95 or c == 61) and d == c) or (  # "--" "__" "=="
                    c == 66 and (d == 101 or d == 69) and (e == 103 or e == 71)) or (  # "Beg"
                    c != 10 and header_first(c) and has_colon(kind, data, at, n if i < 0 else i)):
                runs.append((line, line + 1, 1))
        if i < 0:
            break
        i += 1
        line += 1
    if run_start >= 0:
        runs.append((run_start, line + 1, 0))
    return runs


# The compiled twin of shingles.mail.quoting.split_quoted_py (tests hold the two equal):
# the same walk over the runs quote_marks finds, with the text's lines kept as
# line numbers into the text rather than split into strings. Lines are joined
# back as one slice per run of consecutive lines. The rules (regexes, footer
# words) are the reference's own, applied to the few lines they concern.

from cpython.unicode cimport PyUnicode_Substring
from shingles.mail.quoting import (ATTRIBUTION, FOOTER_WORDS, HEADER_FIRST, HEADER_OPEN,
                                   cut_marks, header_block, header_follows, is_cut_line, is_rule)


cdef struct Lines:
    Py_ssize_t *at  # where each line starts; at[count] is len(text) + 1
    Py_ssize_t count


cdef struct LineList:
    Py_ssize_t *items
    Py_ssize_t size


cdef inline Py_ssize_t line_stop(Lines *lines, Py_ssize_t i) noexcept:
    return lines.at[i + 1] - 1


cdef inline bint line_blank(int kind, void *data, Lines *lines, Py_ssize_t i) noexcept:
    cdef Py_ssize_t k
    for k in range(lines.at[i], line_stop(lines, i)):
        if not Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, k)):
            return False
    return True


cdef inline void extend(LineList *into, Py_ssize_t start, Py_ssize_t stop) noexcept:
    while start < stop:
        into.items[into.size] = start
        into.size += 1
        start += 1


cdef str joined(str text, Lines *lines, LineList *picked):
    """Return "\n".join of the picked lines: one slice per run of consecutive ones."""
    cdef Py_ssize_t i = 0, j
    pieces = []
    while i < picked.size:
        j = i
        while j + 1 < picked.size and picked.items[j + 1] == picked.items[j] + 1:
            j += 1
        pieces.append(PyUnicode_Substring(text, lines.at[picked.items[i]],
                                          line_stop(lines, picked.items[j])))
        i = j + 1
    return "\n".join(pieces)


cdef bint attributes(str text, int kind, void *data, Lines *lines, Py_ssize_t i):
    """Return whether line i, right-stripped, ends with ":" and reads as "X wrote:"."""
    cdef Py_ssize_t end = line_stop(lines, i)
    while end > lines.at[i] and Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, end - 1)):
        end -= 1
    if end == lines.at[i] or PyUnicode_READ(kind, data, end - 1) != 58:  # ":"
        return False
    return ATTRIBUTION.search(PyUnicode_Substring(text, lines.at[i], end)) is not None


def split_quoted(str text not None):
    """Return (new text, quoted text) (see shingles.mail.quoting.split_quoted_py)."""
    runs = quote_marks(text)
    if not runs:
        return text.strip(), ""
    kept, old, _, quoted, footer = split_runs(text, runs)
    if not kept and footer and not quoted:
        return "", text.strip()
    if not kept or not old:
        return text.strip(), ""
    return kept, old


def split_footers(str text not None):
    """Return (text, signature and list footer) (see shingles.mail.quoting.split_footers_py)."""
    runs = [run for run in quote_marks(text) if run[2] != 0]
    if not runs:
        return text.strip(), ""
    kept, old, _, _, footer = split_runs(text, runs, False)
    if not kept and footer:
        return "", text.strip()
    if not kept or not old:
        return text.strip(), ""
    return kept, old


cdef tuple split_runs(str text, list runs, bint cuts=True):
    """Return (new text, quoted text, attribution seen, quoted lines set apart, cut at a
    list footer) (see shingles.mail.quoting._split_runs)."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef Py_ssize_t n = len(text), i, j, k, start, stop, last = 0
    cdef Lines lines
    cdef LineList new, old
    cdef bint cut = False, attributed = False, quoted = False, footer = False
    marked = None
    lines.count = text.count("\n") + 1
    lines.at = <Py_ssize_t *>malloc((lines.count + 1) * sizeof(Py_ssize_t))
    new.items = <Py_ssize_t *>malloc(lines.count * sizeof(Py_ssize_t))
    old.items = <Py_ssize_t *>malloc(lines.count * sizeof(Py_ssize_t))
    new.size = old.size = 0
    try:
        if lines.at == NULL or new.items == NULL or old.items == NULL:
            raise MemoryError()
        lines.at[0] = 0
        k = 1
        i = find_newline(kind, data, 0, n)
        while i >= 0:
            lines.at[k] = i + 1
            k += 1
            i = find_newline(kind, data, i + 1, n)
        lines.at[lines.count] = n + 1
        for run in runs:
            start, stop, run_kind = run
            if start > last:
                extend(&new, last, start)
            last = stop
            if run_kind == 0:  # QUOTE
                quoted = True
                for i in range(start, stop):
                    j = new.size - 1
                    while j >= 0 and line_blank(kind, data, &lines, new.items[j]):
                        j -= 1
                    if not (j >= 0 and attributes(text, kind, data, &lines, new.items[j])):
                        extend(&old, i, stop)
                        break
                    attributed = True
                    old.items[old.size] = new.items[j]
                    old.items[old.size + 1] = i
                    old.size += 2
                    new.size -= 1
                    for k in range(j, new.size):
                        new.items[k] = new.items[k + 1]
                continue
            line = PyUnicode_Substring(text, lines.at[start], line_stop(&lines, start))
            first = line.lstrip()[:1]
            if first in ("-", "_", "B") and is_cut_line(line.rstrip("\r")) and (
                    first != "_" or header_follows(
                        [PyUnicode_Substring(text, lines.at[k], line_stop(&lines, k))
                         for k in range(start, min(start + 6, lines.count))], 0)) and (
                    cuts or line.rstrip("\r") in ("--", "-- ")):
                if marked is None:
                    marked = cut_marks(text)
                if marked:
                    extend(&old, start, lines.count)
                    cut = True
                    break
            # The line itself must open the block: most lines that start like it
            # do not, and are told apart before their next lines are cut out.
            if cuts and first and first in HEADER_FIRST and HEADER_OPEN.match(line) and \
                    header_block([PyUnicode_Substring(text, lines.at[k], line_stop(&lines, k))
                                  for k in range(start, min(start + 6, lines.count))], 0):
                attributed = True
                extend(&old, start, lines.count)
                cut = True
                break
            if first in ("_", "=", "-") and lines.count - start <= 15 and is_rule(line):
                rest = PyUnicode_Substring(text, lines.at[start], n).lower()
                if any(word in rest for word in FOOTER_WORDS):
                    footer = True
                    extend(&old, start, lines.count)
                    cut = True
                    break
            new.items[new.size] = start
            new.size += 1
        if old.size == 0:  # nothing set apart: the callers keep the text whole
            return "", "", attributed, quoted, footer
        if not cut:
            extend(&new, last, lines.count)
        kept = joined(text, &lines, &new).strip()
        while "\n\n\n" in kept:
            kept = kept.replace("\n\n\n", "\n\n")
        return kept, joined(text, &lines, &old).strip(), attributed, quoted, footer
    finally:
        free(lines.at)
        free(new.items)
        free(old.items)


# ---------------------------------------------------------------- markup pass
# The compiled twin of shingles.mail.htmlscan.prepare_markup_py (a test holds the two
# equal on random markup): the same reading of tags, attributes, comments and
# raw text, as loops over the characters themselves in the width the str keeps
# them in, and the new markup written in that width too.

from libc.stdlib cimport realloc
from libc.string cimport memcpy, memset
from cpython.unicode cimport PyUnicode_1BYTE_DATA, PyUnicode_New

from cpython.unicode cimport PyUnicode_Substring

from shingles.mail.htmlscan import MAX_DEPTH, UNCOUNTED, decode_attribute

import string

cdef dict ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

# What the pass does with an element, by its name: flag bits.
cdef enum:
    BLOCK = 1  # a line break before its tags
    CELL_EDGE = 2  # where a table cell ends, and a link in it
    DROPPED = 4  # raw text never shown: left out, content and all
    RAW_SHOWN = 8  # raw text a reader sees: no markup inside
    TREE_STRIPPED = 16  # never shown, left for the tree to strip
    FOREIGN = 32  # svg, math: no raw text inside
    UNCOUNTED_TAG = 64  # opens no level for the depth cap (htmlscan.UNCOUNTED)

# The elements with something of their own to do.
cdef enum:
    OTHER, LINK, IMAGE, FRAME, FONT, QUOTE, TABLE, SCRIPT, PLAINTEXT

cdef struct TagKind:
    const char *name
    int length
    int flags
    int code

# The names the pass tells apart, by first letter: TAGS_BY_LETTER[k] is where the
# names starting with the k-th letter start.
cdef TagKind TAGS[96]
cdef int TAGS_BY_LETTER[27]
cdef list TAG_NAMES = []  # the names as str, by their index in TAGS


cdef int fill_tags() except -1:
    U = UNCOUNTED_TAG
    kinds = [
        (b"a", 0, LINK), (b"area", U, OTHER), (b"article", BLOCK, OTHER), (b"b", 0, OTHER),
        (b"base", U, OTHER), (b"big", 0, OTHER), (b"blockquote", BLOCK, QUOTE),
        (b"body", U, OTHER), (b"br", BLOCK | U, OTHER), (b"caption", U, OTHER),
        (b"center", BLOCK, OTHER), (b"col", U, OTHER), (b"colgroup", U, OTHER),
        (b"dd", BLOCK | U, OTHER), (b"div", BLOCK, OTHER), (b"dt", BLOCK | U, OTHER),
        (b"em", 0, OTHER), (b"embed", TREE_STRIPPED | U, OTHER),
        (b"font", 0, FONT), (b"footer", BLOCK, OTHER), (b"h1", BLOCK, OTHER),
        (b"h2", BLOCK, OTHER), (b"h3", BLOCK, OTHER), (b"h4", BLOCK, OTHER),
        (b"h5", BLOCK, OTHER), (b"h6", BLOCK, OTHER), (b"head", U, OTHER),
        (b"header", BLOCK, OTHER), (b"hr", BLOCK | U, OTHER), (b"html", U, OTHER),
        (b"i", 0, OTHER), (b"iframe", DROPPED | U, FRAME), (b"img", U, IMAGE),
        (b"input", U, OTHER), (b"li", BLOCK | U, OTHER), (b"link", U, OTHER),
        (b"math", FOREIGN, OTHER), (b"meta", U, OTHER), (b"noembed", RAW_SHOWN | U, OTHER),
        (b"noframes", RAW_SHOWN | U, OTHER), (b"noscript", TREE_STRIPPED, OTHER),
        (b"o:p", 0, OTHER), (b"object", TREE_STRIPPED, OTHER), (b"ol", BLOCK, OTHER),
        (b"option", U, OTHER), (b"p", BLOCK | U, OTHER), (b"plaintext", U, PLAINTEXT),
        (b"pre", BLOCK, OTHER), (b"s", 0, OTHER), (b"script", DROPPED | U, SCRIPT),
        (b"section", BLOCK, OTHER), (b"small", 0, OTHER), (b"source", U, OTHER),
        (b"span", 0, OTHER), (b"strong", 0, OTHER), (b"style", DROPPED | U, OTHER),
        (b"sub", 0, OTHER), (b"sup", 0, OTHER),
        (b"svg", FOREIGN | TREE_STRIPPED, OTHER), (b"table", BLOCK | CELL_EDGE, TABLE),
        (b"tbody", U, OTHER), (b"td", BLOCK | CELL_EDGE | U, OTHER),
        (b"template", TREE_STRIPPED, OTHER), (b"textarea", RAW_SHOWN | U, OTHER),
        (b"tfoot", U, OTHER), (b"th", BLOCK | CELL_EDGE | U, OTHER),
        (b"thead", U, OTHER), (b"title", DROPPED | U, OTHER),
        (b"tr", BLOCK | CELL_EDGE | U, OTHER), (b"u", 0, OTHER), (b"ul", BLOCK, OTHER),
        (b"wbr", U, OTHER), (b"xmp", RAW_SHOWN | U, OTHER)]
    if len(kinds) > 96 or any((flags & U != 0) != (name.decode() in UNCOUNTED)
                              for name, flags, _ in kinds):
        raise AssertionError("TAGS and htmlscan.UNCOUNTED disagree")
    cdef int i, letter = 0
    cdef const char *name
    for i, (name_bytes, flags, code) in enumerate(kinds):
        name = name_bytes  # a literal: it lives as long as the module
        TAGS[i].name, TAGS[i].length, TAGS[i].flags, TAGS[i].code = name, len(name), flags, code
        TAG_NAMES.append(name_bytes.decode())
        while letter <= name[0] - 97:
            TAGS_BY_LETTER[letter] = i
            letter += 1
    while letter <= 26:
        TAGS_BY_LETTER[letter] = len(kinds)
        letter += 1
    return 0


fill_tags()

# The attributes the pass reads.
cdef enum:
    HREF, SRC, ALT, STYLE, SIZE, HIDDEN, BGCOLOR, N_ATTRS

cdef struct Span:
    Py_ssize_t value_start, value_end  # the value as written (quotes left out)
    Py_ssize_t start, end  # the whole attribute; start < 0 when it is absent

cdef struct Tag:
    int kind  # index in TAGS, or -1
    Py_ssize_t name_end
    bint closing, self_closing
    Span attrs[7]  # N_ATTRS

# The properties of a style attribute the tree's visibility walk reads
# (shingles.mail.htmlscan._HIDING_STYLES).
cdef const char *HIDING_STYLES[7]
HIDING_STYLES[:] = [b"display", b"visibility", b"font-size", b"font:", b"opacity", b"color",
                    b"background"]


# The characters that end names and values in a tag, as bits, for those below 256.
cdef enum:
    BLANK = 1  # white space to the HTML tokenizer (CR too, which it reads as LF)
    SLASH = 2
    EQUALS = 4
    GREATER = 8
cdef uint8_t TAG_CLASS[256]
TAG_CLASS[9] = TAG_CLASS[10] = TAG_CLASS[12] = TAG_CLASS[13] = TAG_CLASS[32] = BLANK
TAG_CLASS[47], TAG_CLASS[61], TAG_CLASS[62] = SLASH, EQUALS, GREATER


cdef inline int tag_class(uint32_t c) noexcept nogil:
    return TAG_CLASS[c] if c < 256 else 0


cdef inline bint html_blank(uint32_t c) noexcept nogil:
    return tag_class(c) == BLANK


cdef inline uint32_t ascii_lower(uint32_t c) noexcept nogil:
    return c + 32 if 65 <= c <= 90 else c


cdef inline bint ascii_letter(uint32_t c) noexcept nogil:
    return 97 <= ascii_lower(c) <= 122


cdef inline Py_ssize_t find_char(const uchar *p, Py_ssize_t i, Py_ssize_t n, uint32_t c) noexcept:
    """Return the index of the first c in p[i:n], or -1."""
    cdef const void *hit
    if uchar is uint8_t:
        if i >= n:
            return -1
        hit = memchr(p + i, <int>c, n - i)
        return -1 if hit == NULL else <const uint8_t *>hit - p
    else:
        while i < n:
            if p[i] == c:
                return i
            i += 1
        return -1


cdef inline bint name_at(const uchar *p, Py_ssize_t i, Py_ssize_t n, const char *name,
                         int length) noexcept:
    """Return whether p[i:] starts with name (lower-case ASCII), ASCII case-blind."""
    cdef int k
    if i + length > n:
        return False
    for k in range(length):
        if ascii_lower(p[i + k]) != <uint32_t>name[k]:
            return False
    return True


cdef inline bint end_tag_at(const uchar *p, Py_ssize_t i, Py_ssize_t n, const char *name,
                            int length) noexcept:
    """Return whether p[i:] starts with "</" name and then white space, "/" or ">"."""
    cdef uint32_t c
    if i + 2 + length >= n or p[i + 1] != 47 or not name_at(p, i + 2, n, name, length):
        return False
    c = p[i + 2 + length]
    return html_blank(c) or c == 47 or c == 62


cdef int kind_of(const uchar *p, Py_ssize_t start, Py_ssize_t end) noexcept:
    """Return the index in TAGS of the tag name p[start:end], or -1."""
    cdef Py_ssize_t length = end - start
    cdef uint32_t first
    cdef int t
    if length == 0 or length > 10:
        return -1
    first = ascii_lower(p[start])
    if not 97 <= first <= 122:
        return -1
    for t in range(TAGS_BY_LETTER[first - 97], TAGS_BY_LETTER[first - 96]):
        if TAGS[t].length == length and name_at(p, start, end, TAGS[t].name, <int>length):
            return t
    return -1


cdef int attr_of(const uchar *p, Py_ssize_t start, Py_ssize_t end) noexcept:
    """Return which of the attributes the pass reads p[start:end] names, or -1."""
    cdef Py_ssize_t length = end - start
    if length == 3:
        if name_at(p, start, end, b"src", 3):
            return SRC
        if name_at(p, start, end, b"alt", 3):
            return ALT
    elif length == 4:
        if name_at(p, start, end, b"href", 4):
            return HREF
        if name_at(p, start, end, b"size", 4):
            return SIZE
    elif length == 5:
        if name_at(p, start, end, b"style", 5):
            return STYLE
    elif length == 6:
        if name_at(p, start, end, b"hidden", 6):
            return HIDDEN
    elif length == 7:
        if name_at(p, start, end, b"bgcolor", 7):
            return BGCOLOR
    return -1


cdef Py_ssize_t read_tag(const uchar *p, Py_ssize_t at, Py_ssize_t n, Tag *tag) noexcept:
    """Read the tag at p[at] ("<" or "</", then a letter) as the HTML tokenizer does.

    Return the index after its ">", or -1 when the tag runs to the end (a browser
    drops it). Fills tag: its kind, and of each attribute read the first of the name.
    """
    cdef Py_ssize_t i, j, close, attr_start, value_start, value_end
    cdef int a
    cdef uint32_t c
    tag.closing = p[at + 1] == 47
    tag.self_closing = False
    for a in range(N_ATTRS):
        tag.attrs[a].start = -1
    i = at + 2 if tag.closing else at + 1
    j = i
    while i < n and not tag_class(p[i]) & (BLANK | SLASH | GREATER):
        i += 1
    tag.kind = kind_of(p, j, i)
    tag.name_end = i
    while True:
        j = i
        while j < n and tag_class(p[j]) & (BLANK | SLASH):
            j += 1
        if j >= n:
            return -1
        if p[j] == 62:  # ">"
            tag.self_closing = j > i and p[j - 1] == 47
            return j + 1
        attr_start = j
        i = j + 1  # a name starts with anything but those, even "="
        while i < n and not tag_class(p[i]):
            i += 1
        a = attr_of(p, attr_start, i)
        value_start = value_end = i
        j = i
        while j < n and tag_class(p[j]) == BLANK:
            j += 1
        if j < n and p[j] == 61:  # "="
            j += 1
            while j < n and tag_class(p[j]) == BLANK:
                j += 1
            if j >= n:
                return -1
            c = p[j]
            if c == 34 or c == 39:  # a quoted value
                close = find_char(p, j + 1, n, c)
                if close < 0:
                    return -1
                value_start, value_end, i = j + 1, close, close + 1
            else:
                i = j
                while i < n and not tag_class(p[i]) & (BLANK | GREATER):
                    i += 1
                value_start, value_end = j, i
        if a >= 0 and tag.attrs[a].start < 0:
            tag.attrs[a].value_start = value_start
            tag.attrs[a].value_end = value_end
            tag.attrs[a].start = attr_start
            tag.attrs[a].end = i


cdef Py_ssize_t comment_end(const uchar *p, Py_ssize_t j, Py_ssize_t n) noexcept:
    """Return the index after the comment whose text starts at j (after "<!--"), or -1."""
    if j < n and p[j] == 62:
        return j + 1
    if j + 1 < n and p[j] == 45 and p[j + 1] == 62:
        return j + 2
    while True:
        j = find_char(p, j, n, 45)  # "-"
        if j < 0 or j + 2 >= n:
            return -1
        if p[j + 1] == 45:
            if p[j + 2] == 62:
                return j + 3
            if p[j + 2] == 33 and j + 3 < n and p[j + 3] == 62:  # "--!>"
                return j + 4
        j += 1


cdef Py_ssize_t script_end(const uchar *p, Py_ssize_t j, Py_ssize_t n) noexcept:
    """Return where the "</script" that ends the script whose text starts at j is, or -1.

    "<!--" in a script starts an escape in which "<script" starts a double escape,
    where "</script" only ends the double escape.
    """
    cdef int state = 0  # 0 script data, 1 escaped, 2 double escaped
    cdef uint32_t c
    while j < n:
        c = p[j]
        if c == 60:  # "<"
            if end_tag_at(p, j, n, b"script", 6):
                if state != 2:
                    return j
                state, j = 1, j + 8
                continue
            if state == 0 and j + 3 < n and p[j + 1] == 33 and p[j + 2] == 45 and p[j + 3] == 45:
                state, j = 1, j + 2  # its dashes may close it at once: "<!-->"
                continue
            if state == 1 and j + 7 < n and name_at(p, j + 1, n, b"script", 6) \
                    and (html_blank(p[j + 7]) or p[j + 7] == 47 or p[j + 7] == 62):
                state, j = 2, j + 7
                continue
        elif c == 45 and state != 0 and j + 2 < n and p[j + 1] == 45 and p[j + 2] == 62:
            state, j = 0, j + 3
            continue
        j += 1
    return -1


cdef Py_ssize_t raw_text_end(const uchar *p, Py_ssize_t j, Py_ssize_t n, int kind) noexcept:
    """Return where the end tag of raw-text element TAGS[kind], text from j, is, or -1."""
    if TAGS[kind].code == SCRIPT:
        return script_end(p, j, n)
    while True:
        j = find_char(p, j, n, 60)
        if j < 0 or end_tag_at(p, j, n, TAGS[kind].name, TAGS[kind].length):
            return j
        j += 1


# ---- the reading of attribute values; a value with a character reference is
# decoded by shingles.mail.htmlscan.decode_attribute (rare), read from its own str.

cdef object host_in(const uchar *p, Py_ssize_t start, Py_ssize_t end, str text):
    """Return the lower-case host of the http(s) link p[start:end] (text's characters), or None."""
    cdef Py_ssize_t at, cut, i
    cdef uint32_t c
    cdef bint plain = True
    while start < end and Py_UNICODE_ISSPACE(p[start]):
        start += 1
    while end > start and Py_UNICODE_ISSPACE(p[end - 1]):
        end -= 1
    at = start
    while at + 1 < end and not (p[at] == 47 and p[at + 1] == 47):
        at += 1
    if at + 1 >= end:
        return None
    if not (at == start or (at - start == 5 and name_at(p, start, at, b"http:", 5))
            or (at - start == 6 and name_at(p, start, at, b"https:", 6))):
        return None
    start = at + 2
    cut = start
    while cut < end and not (p[cut] == 47 or p[cut] == 63 or p[cut] == 35 or p[cut] == 92):
        cut += 1  # up to the first "/", "?", "#" or "\"
    end = cut
    for i in range(start, end):
        if p[i] == 64:  # "@": the host follows the last one
            start = i + 1
    for i in range(start, end):
        if p[i] == 58:  # ":"
            end = i
            break
    while start < end and Py_UNICODE_ISSPACE(p[start]):
        start += 1
    while end > start and Py_UNICODE_ISSPACE(p[end - 1]):
        end -= 1
    if start == end:
        return None
    for i in range(start, end):
        c = p[i]
        if 65 <= c <= 90 or c > 127:
            plain = False
            break
    host = PyUnicode_Substring(text, start, end)
    return host if plain else host.lower()


cdef object host_of(str text):
    """Return the lower-case host of the http(s) link text, or None."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    if kind == 1:
        return host_in(<const uint8_t *>data, 0, len(text), text)
    if kind == 2:
        return host_in(<const uint16_t *>data, 0, len(text), text)
    return host_in(<const uint32_t *>data, 0, len(text), text)


cdef bint style_hides(const uchar *p, Py_ssize_t start, Py_ssize_t end) noexcept:
    """Return whether the style p[start:end] has what the tree's hidden query looks for."""
    cdef Py_ssize_t i
    cdef int k
    cdef uint32_t c
    for i in range(start, end):
        c = ascii_lower(p[i])
        if c == 100 or c == 118 or c == 102 or c == 111 or c == 99 or c == 98:  # d v f o c b
            for k in range(7):
                if <uint32_t>HIDING_STYLES[k][0] == c and name_at(
                        p, i, end, HIDING_STYLES[k], <int>len(HIDING_STYLES[k])):
                    return True
    return False


cdef bint size_is_zero(const uchar *p, Py_ssize_t start, Py_ssize_t end) noexcept:
    """Return whether the font size p[start:end] is 0 read as a legacy size (no sign)."""
    cdef Py_ssize_t zeros
    while start < end and html_blank(p[start]):
        start += 1
    zeros = start
    while zeros < end and p[zeros] == 48:  # "0"
        zeros += 1
    return zeros > start and not (zeros < end and 48 <= p[zeros] <= 57)


cdef inline bint has_reference(const uchar *p, Span *span) noexcept:
    return find_char(p, span.value_start, span.value_end, 38) >= 0  # "&"


cdef str decoded(str markup, Span *span):
    return decode_attribute(PyUnicode_Substring(markup, span.value_start, span.value_end))


cdef bint host_ends_before(const uchar *p, Py_ssize_t start, Py_ssize_t end) noexcept:
    """Return whether p[start:end] has "//" and then where the host after it ends."""
    cdef Py_ssize_t i = start
    while i + 1 < end and not (p[i] == 47 and p[i + 1] == 47):
        i += 1
    for i in range(i + 2, end):
        if p[i] == 47 or p[i] == 63 or p[i] == 35 or p[i] == 92:  # "/", "?", "#", "\"
            return True
    return False


cdef object value_host(const uchar *p, str markup, Span *span):
    """Return the host of the link in an attribute, or None."""
    cdef Py_ssize_t amp = find_char(p, span.value_start, span.value_end, 38)  # "&"
    if amp < 0:
        return host_in(p, span.value_start, span.value_end, markup)
    if host_ends_before(p, span.value_start, amp):
        # No reference before the end of the host ("?a=1&amp;b=2"): nothing to decode.
        return host_in(p, span.value_start, amp, markup)
    return host_of(decoded(markup, span))


cdef bint value_test(const uchar *p, str markup, Span *span, bint zero_size):
    """Return style_hides, or size_is_zero when zero_size, of an attribute's value."""
    cdef str text
    cdef int kind
    cdef void *data
    if not has_reference(p, span):
        if zero_size:
            return size_is_zero(p, span.value_start, span.value_end)
        return style_hides(p, span.value_start, span.value_end)
    text = decoded(markup, span)
    kind = PyUnicode_KIND(text)
    data = PyUnicode_DATA(text)
    if kind == 1:
        return size_is_zero(<const uint8_t *>data, 0, len(text)) if zero_size \
            else style_hides(<const uint8_t *>data, 0, len(text))
    if kind == 2:
        return size_is_zero(<const uint16_t *>data, 0, len(text)) if zero_size \
            else style_hides(<const uint16_t *>data, 0, len(text))
    return size_is_zero(<const uint32_t *>data, 0, len(text)) if zero_size \
        else style_hides(<const uint32_t *>data, 0, len(text))


cdef bint hiding_style(const uchar *p, str markup, Tag *tag):
    """Return whether the tag has a style the tree's query for hidden elements looks for."""
    return tag.attrs[STYLE].start >= 0 and value_test(p, markup, &tag.attrs[STYLE], False)


# ---- the new markup, written in the width of the old

cdef struct Writer:
    char *buf
    int kind  # bytes a character, as wide as the old markup's unless a word needs more
    int old_kind  # bytes a character of the old markup
    Py_ssize_t length, capacity  # in characters
    Py_ssize_t copied  # the old markup up to there is written
    bint changed


cdef inline int reserve(Writer *w, Py_ssize_t more) except -1:
    if w.length + more > w.capacity:
        grow(w, more)
    return 0


cdef int grow(Writer *w, Py_ssize_t more) except -1:
    cdef Py_ssize_t capacity
    cdef char *buf
    capacity = max(2 * w.capacity, w.length + more + 256)
    buf = <char *>realloc(w.buf, capacity * w.kind)
    if buf == NULL:
        raise MemoryError()
    w.buf, w.capacity = buf, capacity
    return 0


cdef inline void put_char(Writer *w, uint32_t c) noexcept:
    """Write c, which the width takes; room reserved."""
    if w.kind == 1:
        (<uint8_t *>w.buf)[w.length] = <uint8_t>c
    elif w.kind == 2:
        (<uint16_t *>w.buf)[w.length] = <uint16_t>c
    else:
        (<uint32_t *>w.buf)[w.length] = c
    w.length += 1


cdef int widen(Writer *w, int kind) except -1:
    """Make what is written kind bytes a character."""
    cdef char *buf = <char *>malloc(w.capacity * kind)
    cdef Py_ssize_t i, length = w.length
    if buf == NULL:
        raise MemoryError()
    w.length = 0
    for i in range(length):
        if kind == 2:
            (<uint16_t *>buf)[i] = <uint16_t>PyUnicode_READ(w.kind, w.buf, i)
        else:
            (<uint32_t *>buf)[i] = PyUnicode_READ(w.kind, w.buf, i)
    free(w.buf)
    w.buf, w.kind, w.length = buf, kind, length
    return 0


cdef int copy_to(Writer *w, const void *data, Py_ssize_t at) except -1:
    """Write the old markup up to at."""
    cdef Py_ssize_t i, count = at - w.copied
    if count > 0:
        reserve(w, count)
        if w.kind == w.old_kind:
            memcpy(w.buf + w.length * w.kind, <const char *>data + w.copied * w.kind,
                   count * w.kind)
            w.length += count
        else:
            for i in range(w.copied, at):
                put_char(w, PyUnicode_READ(w.old_kind, data, i))
    w.copied = at
    w.changed = True
    return 0


cdef inline int put_ascii(Writer *w, const char *text) except -1:
    cdef Py_ssize_t i, count = len(text)
    reserve(w, count)
    for i in range(count):
        put_char(w, <uint8_t>text[i])
    return 0


cdef int put_text(Writer *w, str text) except -1:
    """Write text as text: "&" and "<" escaped."""
    cdef Py_UCS4 c
    if PyUnicode_KIND(text) > w.kind:  # a character from a reference, wider than the markup's
        widen(w, PyUnicode_KIND(text))
    reserve(w, len(text))
    for c in text:
        if c == 38:
            put_ascii(w, b"&amp;")
        elif c == 60:
            put_ascii(w, b"&lt;")
        else:
            put_char(w, c)
    return 0


cdef int put_as_written(Writer *w, const uchar *p, Py_ssize_t start, Py_ssize_t end,
                        bint escape_lt) except -1:
    """Write p[start:end] as it is, or with "<" as "&lt;" when escape_lt."""
    cdef Py_ssize_t i
    reserve(w, end - start)
    if not escape_lt and w.kind == sizeof(uchar):
        memcpy(w.buf + w.length * w.kind, p + start, (end - start) * w.kind)
        w.length += end - start
        return 0
    for i in range(start, end):
        if escape_lt and p[i] == 60:
            put_ascii(w, b"&lt;")
        else:
            put_char(w, p[i])
    return 0


cdef int put_host(Writer *w, const void *data, Py_ssize_t at, object host) except -1:
    """Write a link's host as a word at at, if it has one."""
    if host:
        copy_to(w, data, at)
        put_ascii(w, b" ")
        put_text(w, host)
        put_ascii(w, b" ")
    return 0


cdef int note_hiding(set seen, const uchar *p, str markup, Tag *tag, bint style) except -1:
    """Add the tag's hidden, bgcolor and (when style) style attributes to seen, as (name,
    value decoded) pairs (see shingles.mail.htmlscan._hiding_attributes)."""
    if tag.attrs[HIDDEN].start >= 0:
        seen.add(("hidden", ""))
    if tag.attrs[BGCOLOR].start >= 0:
        seen.add(("bgcolor", decoded(markup, &tag.attrs[BGCOLOR])))
    if style:
        seen.add(("style", decoded(markup, &tag.attrs[STYLE])))
    return 0


cdef int put_hiding_attributes(Writer *w, const uchar *p, Tag *tag, bint style) except -1:
    """Write the tag's hidden and bgcolor attributes, and its style when style: as written,
    after a space."""
    if tag.attrs[HIDDEN].start >= 0:
        put_ascii(w, b" ")
        put_as_written(w, p, tag.attrs[HIDDEN].start, tag.attrs[HIDDEN].end, False)
    if tag.attrs[BGCOLOR].start >= 0:
        put_ascii(w, b" ")
        put_as_written(w, p, tag.attrs[BGCOLOR].start, tag.attrs[BGCOLOR].end, False)
    if style:
        put_ascii(w, b" ")
        put_as_written(w, p, tag.attrs[STYLE].start, tag.attrs[STYLE].end, False)
    return 0


cdef bint put_words(Writer *w, const uchar *p, str markup, Tag *tag, Py_ssize_t at,
                    bint with_alt) except -1:
    """Write at at the words an image (with_alt) or frame stands for; return whether any."""
    cdef Span *alt = &tag.attrs[ALT]
    cdef bint style, hiding
    host = value_host(p, markup, &tag.attrs[SRC]) if tag.attrs[SRC].start >= 0 else None
    with_alt = with_alt and alt.start >= 0 and alt.value_end > alt.value_start
    if not with_alt and not host:
        return False
    copy_to(w, p, at)
    style = hiding_style(p, markup, tag)
    hiding = style or tag.attrs[HIDDEN].start >= 0 or tag.attrs[BGCOLOR].start >= 0
    if hiding:  # the element's own hiding attributes on a span around its words
        put_ascii(w, b"<span")
        put_hiding_attributes(w, p, tag, style)
        put_ascii(w, b">")
    if with_alt:  # the alt as written: its references are read as in text
        put_ascii(w, b" ")
        put_as_written(w, p, alt.value_start, alt.value_end, True)
        put_ascii(w, b" ")
    put_host(w, p, at, host)
    if hiding:
        put_ascii(w, b"</span>")
    return True


cdef int end_link(Writer *w, const void *data, Py_ssize_t at, list links, int *top,
                  int tables) except -1:
    """Write the host of the open link at table depth tables, if any, at at.

    links: the open links, (table depth, host), deepest last; top: the last one's
    depth, or -1.
    """
    if top[0] == tables:
        host = links.pop()[1]
        top[0] = links[len(links) - 1][0] if links else -1
        put_host(w, data, at, host)
    return 0


cdef str tag_name(const uchar *p, Py_ssize_t start, Py_ssize_t end, str markup):
    """Return the name p[start:end], ASCII letters lower-cased (htmlscan._lower)."""
    cdef Py_ssize_t i
    cdef str out
    cdef unsigned char *o
    for i in range(start, end):
        if p[i] > 127:
            return markup[start:end].translate(ASCII_LOWER)
    out = PyUnicode_New(end - start, 127)
    o = PyUnicode_1BYTE_DATA(out)
    for i in range(start, end):
        o[i - start] = <unsigned char>ascii_lower(p[i])
    return out


cdef inline Py_ssize_t count_of(Py_ssize_t *by_kind, dict by_name, int kind, object name):
    """Return the count of a tag: by its kind in TAGS when name is None, else by name."""
    return by_kind[kind] if name is None else by_name.get(name, 0)


cdef inline int add_to(Py_ssize_t *by_kind, dict by_name, int kind, object name,
                       Py_ssize_t step) except -1:
    """Add step to the count of a tag (see count_of)."""
    if name is None:
        by_kind[kind] += step
    else:
        by_name[name] = by_name.get(name, 0) + step
    return 0


cdef tuple scan_markup(const uchar *p, Py_ssize_t n, str markup, Writer *w, Py_ssize_t max_depth):
    cdef Py_ssize_t i = 0, at, end, stop, tail = n, depth = 0, k
    # The depth cap (see prepare_markup_py): open and cut elements by name, in C
    # for the names in TAGS, in dicts for others.
    cdef dict opened = {}, cut = {}
    cdef Py_ssize_t opened_kind[96]
    cdef Py_ssize_t cut_kind[96]
    cdef object name
    cdef bint counted
    memset(opened_kind, 0, sizeof(opened_kind))
    memset(cut_kind, 0, sizeof(cut_kind))
    cdef Tag tag, end_tag
    cdef int flags, code, tables = 0, foreign = 0
    cdef uint32_t c
    cdef bint quoting = False, style, hidden, hide_font
    cdef set hiding = set()
    cdef list strip = [], links = []  # the open links, (table depth, host), deepest last
    cdef int top = -1  # the depth of the last one
    while True:
        at = find_char(p, i, n, 60)  # "<"
        if at < 0 or at + 1 >= n:
            break
        c = p[at + 1]
        if not (ascii_letter(c) or (c == 47 and at + 2 < n and ascii_letter(p[at + 2]))):
            if c == 47 and at + 2 < n and p[at + 2] == 62:
                i = at + 3  # "</>": nothing
                continue
            if c == 33 or c == 63 or c == 47:  # a comment, doctype or bogus comment
                if at + 3 < n and c == 33 and p[at + 2] == 45 and p[at + 3] == 45:
                    end = comment_end(p, at + 4, n)
                else:
                    end = find_char(p, at + 2, n, 62)
                    end = end + 1 if end >= 0 else -1
                if end < 0:
                    tail = at  # it runs to the end
                    break
                i = end
                continue
            i = at + 1  # "<" as text
            continue
        i = read_tag(p, at, n, &tag)
        if i < 0:
            tail = at
            break
        flags = TAGS[tag.kind].flags if tag.kind >= 0 else 0
        code = TAGS[tag.kind].code if tag.kind >= 0 else OTHER
        if flags & BLOCK:
            copy_to(w, p, at)
            put_ascii(w, b"\n")
        if tag.kind >= 0:
            name = None
            counted = not flags & UNCOUNTED_TAG
        else:
            name = tag_name(p, at + 1 + tag.closing, tag.name_end, markup)
            counted = name not in UNCOUNTED
        if counted:  # the depth cap
            if tag.closing:
                if count_of(cut_kind, cut, tag.kind, name):
                    add_to(cut_kind, cut, tag.kind, name, -1)
                    copy_to(w, p, at)
                    w.copied = i
                    continue
                if count_of(opened_kind, opened, tag.kind, name):
                    add_to(opened_kind, opened, tag.kind, name, -1)
                    depth -= 1
            elif not (tag.self_closing and (foreign or flags & FOREIGN)):
                if depth >= max_depth:
                    add_to(cut_kind, cut, tag.kind, name, 1)
                    copy_to(w, p, at)
                    w.copied = i
                    continue
                add_to(opened_kind, opened, tag.kind, name, 1)
                depth += 1
        if flags & CELL_EDGE and not foreign:
            if tables and (tag.closing or code != TABLE):
                end_link(w, p, at, links, &top, tables)
            if code == TABLE:
                tables = max(0, tables + (-1 if tag.closing else 1))
        if tag.closing:
            if foreign:
                if flags & FOREIGN:
                    foreign -= 1
                continue
            if code == LINK:
                end_link(w, p, at, links, &top, tables)
            if i != tag.name_end + 1:  # the attributes of an end tag mean nothing
                copy_to(w, p, at)
                put_as_written(w, p, at, tag.name_end, False)
                put_ascii(w, b">")
                w.copied = i
            continue
        style = hiding_style(p, markup, &tag)
        hidden = tag.attrs[HIDDEN].start >= 0
        note_hiding(hiding, p, markup, &tag, style)
        if code == QUOTE:
            quoting = True
        elif flags & TREE_STRIPPED or (foreign and flags & DROPPED):
            if TAG_NAMES[tag.kind] not in strip:
                strip.append(TAG_NAMES[tag.kind])
        if foreign or flags & FOREIGN:  # left as it is
            if flags & FOREIGN and not tag.self_closing:
                foreign += 1
            continue
        if flags & DROPPED:
            stop = raw_text_end(p, i, n, tag.kind)
            i = n
            if stop >= 0:
                end = read_tag(p, stop, n, &end_tag)
                if end >= 0:
                    i = end
            copy_to(w, p, at)
            if not (code == FRAME and put_words(w, p, markup, &tag, at, False)) and at > 0 \
                    and not (html_blank(p[at - 1]) or p[at - 1] == 62):
                # so that "<" or "&amp" before the gap does not join what follows it
                put_ascii(w, b"<!---->")
            w.copied = i
            continue
        if code == PLAINTEXT:
            tail = at  # all after it is text
            break
        if code == LINK:
            end_link(w, p, at, links, &top, tables)
            links.append((tables, value_host(p, markup, &tag.attrs[HREF])
                          if tag.attrs[HREF].start >= 0 else None))
            top = tables
        hide_font = code == FONT and not hidden and tag.attrs[SIZE].start >= 0 \
            and value_test(p, markup, &tag.attrs[SIZE], True)
        if hide_font:
            hiding.add(("hidden", ""))
        if i != tag.name_end + 1 or hide_font:  # the tag with only its hiding attributes
            copy_to(w, p, at)
            put_as_written(w, p, at, tag.name_end, False)
            if hide_font:
                put_ascii(w, b" hidden")
            put_hiding_attributes(w, p, &tag, style)
            put_ascii(w, b">")
            w.copied = i
        if code == IMAGE:
            put_words(w, p, markup, &tag, i, True)
        elif flags & RAW_SHOWN:
            stop = raw_text_end(p, i, n, tag.kind)
            i = n if stop < 0 else stop
    while links:
        end_link(w, p, tail, links, &top, top)
    if not w.changed:
        return markup, strip, hiding, quoting
    copy_to(w, p, n)
    return PyUnicode_FromKindAndData(w.kind, w.buf, w.length), strip, hiding, quoting


def prepare_markup(str markup not None, Py_ssize_t max_depth=MAX_DEPTH):
    """Return (markup for Lexbor, never-shown tags left to strip, the hiding attributes
    seen, blockquote seen): shingles.mail.htmlscan.prepare_markup_py."""
    cdef Writer w
    cdef Py_ssize_t n = len(markup)
    w.kind = w.old_kind = PyUnicode_KIND(markup)
    w.buf = NULL
    w.length = w.capacity = w.copied = 0
    w.changed = False
    try:
        reserve(&w, n + 256)  # attributes left out make room for the words put in
        if w.kind == 1:
            return scan_markup(<const uint8_t *>PyUnicode_DATA(markup), n, markup, &w, max_depth)
        if w.kind == 2:
            return scan_markup(<const uint16_t *>PyUnicode_DATA(markup), n, markup, &w, max_depth)
        return scan_markup(<const uint32_t *>PyUnicode_DATA(markup), n, markup, &w, max_depth)
    finally:
        free(w.buf)


# ---------------------------------------------------------------- header index
# The compiled twin of shingles.mail.parse._index_headers_py (a test holds them equal).

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
    """Return the header fields sorted by use, raw (see shingles.mail.parse._index_headers_py)."""
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
            auth.append((pos, value))
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
# shingles.mail.headers.parse_date stays the definition: common_date answers only for
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

from shingles.mail.headers import header_text as _header_text_py


def header_text(bytes value not None):
    """Return shingles.mail.headers.header_text(value); an ASCII value is done here.

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


# ---------------------------------------------------------------- Received headers
# The compiled twin of shingles.mail.senders.parse_received, which stays the definition
# (a test holds the two equal on random values and on every corpus header). It reads
# ASCII values, all but a few real ones, and returns None for any other: the caller
# then hands the value to parse_received. On ASCII text the reference's regexes mean
# plain things (\s is 9-13 and 28-32, \d is 0-9, case-blind is ASCII case), which the
# scans below do, each on index ranges of the one value: a clause becomes a str only
# when it is an answer.

import ipaddress

from shingles.mail.headers import parse_date
from shingles.mail.records import Hop

from cpython.unicode cimport PyUnicode_1BYTE_DATA, PyUnicode_New

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object)
    int PyObject_GenericSetAttr(object, object, object) except -1

ctypedef const unsigned char *text_p

cdef dict IP_TEXTS = {}  # address text that is not a plain dotted quad -> canonical, or None


cdef inline bint blank(unsigned char c) noexcept nogil:
    return c == 32 or 9 <= c <= 13 or 28 <= c <= 31  # str.isspace() of ASCII


cdef inline bint digit(unsigned char c) noexcept nogil:
    return 48 <= c <= 57


cdef inline bint alnum(unsigned char c) noexcept nogil:
    return digit(c) or 97 <= (c | 32) <= 122


cdef inline bint atext(unsigned char c) noexcept nogil:
    """Return whether c may be in an RFC 5322 atom."""
    return alnum(c) or memchr(b"!#$%&'*+-/=?^_`{|}~", c, 19) != NULL


cdef inline bint caseless_at(text_p p, Py_ssize_t i, Py_ssize_t end, const char *word) noexcept:
    """Return whether the lower-case ASCII word (letters and punctuation) is at i, any case."""
    return name_at(p, i, end, word, <int>strlen(word))


cdef bint contains(text_p p, Py_ssize_t i, Py_ssize_t end, const char *word) noexcept:
    """Return whether word occurs in p[i:end], case and all."""
    cdef Py_ssize_t k
    while i < end:
        k = 0
        while word[k] != 0 and i + k < end and p[i + k] == <unsigned char>word[k]:
            k += 1
        if word[k] == 0:
            return True
        i += 1
    return False


cdef str ascii_text(text_p p, Py_ssize_t start, Py_ssize_t end, int case):
    """Return p[start:end] as str: as written (case 0), lower-case (1) or upper-case (2)."""
    cdef str out = PyUnicode_New(end - start, 127)
    cdef unsigned char *o = PyUnicode_1BYTE_DATA(out)
    cdef unsigned char c
    cdef Py_ssize_t i
    for i in range(end - start):
        c = p[start + i]
        if case == 1 and 65 <= c <= 90:
            c += 32
        elif case == 2 and 97 <= c <= 122:
            c -= 32
        o[i] = c
    return out


cdef Py_ssize_t octet_end(text_p p, Py_ssize_t i, Py_ssize_t end) noexcept:
    """Return where the run of digits at i ends; -1 if it is empty or longer than three."""
    cdef Py_ssize_t j = i
    while j < end and digit(p[j]):
        j += 1
    return j if i < j <= i + 3 else -1


cdef Py_ssize_t quad_end(text_p p, Py_ssize_t i, Py_ssize_t end) noexcept:
    """Return where the four dot-joined runs of one to three digits at i end, or -1."""
    cdef int k
    for k in range(4):
        i = octet_end(p, i, end)
        if i < 0:
            return -1
        if k < 3:
            if i >= end or p[i] != 46:  # "."
                return -1
            i += 1
    return i


cdef bint plain_quad(text_p p, Py_ssize_t start, Py_ssize_t end) noexcept:
    """Return whether p[start:end] is an IPv4 address as ipaddress writes it: 0-255, no 0 before."""
    cdef Py_ssize_t i = start, j
    cdef int value
    if quad_end(p, start, end) != end:
        return False
    while i < end:
        j = i
        value = 0
        while j < end and p[j] != 46:
            value = value * 10 + p[j] - 48
            j += 1
        if value > 255 or (p[i] == 48 and j - i > 1):
            return False
        i = j + 1
    return True


cdef object ip_text(str value, text_p p, Py_ssize_t start, Py_ssize_t end):
    """Return senders._ip(value[start:end]): the canonical address, or None."""
    if plain_quad(p, start, end):
        return ascii_text(p, start, end, 0)  # already what str(ip_address(text)) gives
    text = value[start:end]
    try:
        return IP_TEXTS[text]
    except KeyError:
        pass
    try:
        found = str(ipaddress.ip_address(text))
    except ValueError:
        found = None
    if len(IP_TEXTS) >= 4096:
        IP_TEXTS.clear()
    IP_TEXTS[text] = found
    return found


cdef object bracket_ip(str value, text_p p, Py_ssize_t start, Py_ssize_t end):
    """Return the address in p[start:end] once "IPv6:" is cut from its front, or None."""
    if end - start >= 5 and p[start] == 73 and p[start + 1] == 80 and p[start + 2] == 118 \
            and p[start + 3] == 54 and p[start + 4] == 58:  # "IPv6:", case and all
        start += 5
    return ip_text(value, p, start, end)


cdef Py_ssize_t by_at(text_p p, Py_ssize_t i, Py_ssize_t end,
                      Py_ssize_t *host, Py_ssize_t *host_end) noexcept:
    """Return where senders._BY matches at i (host set to its group); -1 if it does not."""
    cdef Py_ssize_t j
    if i + 1 >= end or (p[i] | 32) != 98 or (p[i + 1] | 32) != 121:  # "by"
        return -1
    j = i + 2
    while j < end and (p[j] == 32 or p[j] == 9 or p[j] == 13 or p[j] == 10):
        j += 1
    if j == i + 2:
        return -1
    host[0] = j
    while j < end and not blank(p[j]) and p[j] != 59 and p[j] != 40 and p[j] != 41 \
            and p[j] != 91 and p[j] != 93:  # ; ( ) [ ]
        j += 1
    host_end[0] = j
    return i if j > host[0] else -1


cdef Py_ssize_t find_by(text_p p, Py_ssize_t end, Py_ssize_t *host, Py_ssize_t *host_end) noexcept:
    """Return where parse_received's by clause starts in p[:end] (host set), or -1."""
    cdef Py_ssize_t i = 0, at
    while i + 4 <= end:  # first " by ", as written, as parse_received looks first
        at = find_char(p, i, end - 3, 32)
        if at < 0:
            break
        if p[at + 1] == 98 and p[at + 2] == 121 and p[at + 3] == 32:
            if by_at(p, at + 1, end, host, host_end) >= 0:
                return at + 1
            break
        i = at + 1
    i = 0
    while i < end:  # then each match in turn, as _BY.finditer gives them
        if by_at(p, i, end, host, host_end) < 0:
            i += 1
        elif i == 0 or p[i - 1] == 32 or p[i - 1] == 9 or p[i - 1] == 10 or p[i - 1] == 41:
            return i
        else:
            i = host_end[0]
    return -1


cdef tuple comment_ip(str value, text_p p, Py_ssize_t start, Py_ssize_t end):
    """Return senders._comment_ip(value[start:end])."""
    cdef Py_ssize_t i = start, j, at, close, k = 0, first = -1, first_end = -1
    while True:
        while i < end and blank(p[i]):
            i += 1
        if i >= end:
            return None, None
        j = i
        while j < end and not blank(p[j]):
            j += 1
        if k == 0:
            if j - i == 4 and (caseless_at(p, i, j, b"helo") or caseless_at(p, i, j, b"ehlo")):
                return None, None
            first, first_end = i, j
        if p[i] == 91:  # "["
            close = find_char(p, i, j, 93)  # "]"
            ip = bracket_ip(value, p, i + 1, close) if close > i else None
        else:
            at = j
            while at > i and p[at - 1] != 64:  # the part after the last "@"
                at -= 1
            ip = ip_text(value, p, at, j)
        if ip is not None:
            if k == 1 and alnum(p[first]):
                at = first + 1
                while at < first_end and (alnum(p[at]) or p[at] == 46 or p[at] == 45):  # . -
                    at += 1
                if at == first_end:
                    while first_end > first and p[first_end - 1] == 46:
                        first_end -= 1
                    return ip, ascii_text(p, first, first_end, 1)
            return ip, None
        k += 1
        i = j


cdef tuple connecting_ip(str value, text_p p, Py_ssize_t start, Py_ssize_t end):
    """Return senders._connecting_ip(value[start:end])."""
    cdef Py_ssize_t i = end - 1, depth = 0, close = 0
    while i >= start:
        if p[i] == 41:  # ")"
            if depth == 0:
                close = i
            depth += 1
        elif p[i] == 40 and depth:  # "("
            depth -= 1
            if depth == 0:
                found = comment_ip(value, p, i + 1, close)
                if found[0] is not None:
                    return found
        i -= 1
    return None, None


cdef Py_ssize_t helo_name(text_p p, Py_ssize_t i, Py_ssize_t end) noexcept:
    """Return where the run of characters other than blanks and parentheses at i ends."""
    while i < end and not blank(p[i]) and p[i] != 40 and p[i] != 41:
        i += 1
    return i


cdef object find_helo(text_p p, Py_ssize_t start, Py_ssize_t end):
    """Return senders._HELO's name in p[start:end], "[]" cut and lower-case, or None."""
    cdef Py_ssize_t k, i, j, name = -1, name_end = 0
    for k in range(start, end):
        if p[k] == 40:  # "(" HELO|EHLO name ")"
            i = k + 1
            while i < end and blank(p[i]):
                i += 1
            if not (caseless_at(p, i, end, b"helo") or caseless_at(p, i, end, b"ehlo")):
                continue
            i += 4
            j = i
            while j < end and blank(p[j]):
                j += 1
            if j == i:
                continue
            name_end = helo_name(p, j, end)
            i = name_end
            while i < end and blank(p[i]):
                i += 1
            if name_end > j and i < end and p[i] == 41:
                name = j
                break
        elif (k == start or not (alnum(p[k - 1]) or p[k - 1] == 95)) \
                and caseless_at(p, k, end, b"helo="):  # \bhelo=name
            name_end = helo_name(p, k + 5, end)
            if name_end > k + 5:
                name = k + 5
                break
    if name < 0:
        return None
    while name < name_end and (p[name] == 91 or p[name] == 93):
        name += 1
    while name_end > name and (p[name_end - 1] == 91 or p[name_end - 1] == 93):
        name_end -= 1
    return ascii_text(p, name, name_end, 1)


cdef tuple read_from_clause(str value, text_p p, Py_ssize_t start, Py_ssize_t end):
    """Return senders._read_from_clause(value[start:end])."""
    from_host = literal = helo = None
    cdef Py_ssize_t i = start, j, k, rest
    while i < end and blank(p[i]):
        i += 1
    rest = i
    if i < end:  # the first word, "()" cut from its ends
        j = i
        while j < end and not blank(p[j]):
            j += 1
        rest = j
        while i < j and (p[i] == 40 or p[i] == 41):
            i += 1
        while j > i and (p[j - 1] == 40 or p[j - 1] == 41):
            j -= 1
        if i < j and p[i] == 91:  # "[": an address, "[]" cut from its ends
            while i < j and (p[i] == 91 or p[i] == 93):
                i += 1
            while j > i and (p[j - 1] == 91 or p[j - 1] == 93):
                j -= 1
            literal = bracket_ip(value, p, i, j)
        elif i < j:
            from_host = ascii_text(p, i, j, 1)
    from_ip, rdns = connecting_ip(value, p, rest, end)
    if from_ip is None:
        from_ip = literal
    if contains(p, start, end, b"elo") or contains(p, start, end, b"ELO"):
        helo = find_helo(p, start, end)
    return from_host, from_ip, helo, rdns


cdef object find_protocol(text_p p, Py_ssize_t end):
    """Return senders._protocol(value[:end])."""
    cdef Py_ssize_t i = 0, j, atom, opened = 0, closed = 0
    while i < end:
        if caseless_at(p, i, end, b"with") and (i == 0 or blank(p[i - 1]) or p[i - 1] == 41):
            j = i + 4
            while j < end and blank(p[j]):
                j += 1
            atom = j
            while j < end and atext(p[j]):
                j += 1
            if atom > i + 4 and j > atom:
                if opened <= closed:
                    return ascii_text(p, atom, j, 2)
                i = j  # the next search starts after this match, which holds no parentheses
                continue
        if p[i] == 40:
            opened += 1
        elif p[i] == 41:
            closed += 1
        i += 1
    return None


cdef object received_time(str value, Py_ssize_t start):
    """Return senders.read_date of value[start:] stripped, or None when that part is empty."""
    cdef Py_ssize_t n = len(value), end = n
    cdef text_p p = PyUnicode_1BYTE_DATA(value)
    if start >= n:
        return None
    while start < end and blank(p[start]):
        start += 1
    while end > start and blank(p[end - 1]):
        end -= 1
    text = value[start:end]
    found = common_date(text)
    return found if found is not None else parse_date(text)


cdef object new_object = object.__new__


cdef object new_hop(from_host, from_ip, by_host, time, helo, rdns, protocol):
    """Return Hop(from_host, ..., protocol), built as its __init__ builds it, in C.

    A frozen dataclass's __init__ stores each field with object.__setattr__ (0.8 us
    for seven, in Python); this stores them the same way. test_received holds
    Hop to what this needs: those fields in that order, nothing run after __init__.
    """
    hop = new_object(Hop)
    PyObject_GenericSetAttr(hop, "from_host", from_host)
    PyObject_GenericSetAttr(hop, "from_ip", from_ip)
    PyObject_GenericSetAttr(hop, "by_host", by_host)
    PyObject_GenericSetAttr(hop, "time", time)
    PyObject_GenericSetAttr(hop, "helo", helo)
    PyObject_GenericSetAttr(hop, "rdns", rdns)
    PyObject_GenericSetAttr(hop, "protocol", protocol)
    return hop


def received_hop(str value not None):
    """Return senders.parse_received(value) for an ASCII value; None for any other."""
    if not PyUnicode_IS_ASCII(value):
        return None
    cdef text_p p = PyUnicode_1BYTE_DATA(value)
    cdef Py_ssize_t n = len(value), head = n, by, host = 0, host_end = 0
    while head > 0 and p[head - 1] != 59:  # the last ";" ends the clauses, a date follows
        head -= 1
    head = head - 1 if head > 0 else n
    by = find_by(p, head, &host, &host_end)
    from_host = from_ip = helo = rdns = None
    if head >= 5 and caseless_at(p, 0, head, b"from") and (p[4] == 32 or p[4] == 9 or p[4] == 10):
        from_host, from_ip, helo, rdns = read_from_clause(
            value, p, 5, by if by > 5 else (5 if by >= 0 else head))
    return new_hop(from_host, from_ip, ascii_text(p, host, host_end, 1) if by >= 0 else None,
                   received_time(value, head + 1) if head < n else None, helo or from_host, rdns,
                   find_protocol(p, head))
