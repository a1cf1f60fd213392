"""Where a message's new text ends: quoted replies, signatures, forwards, list footers.

``split_quoted_py`` is the plain-Python reference of the split; shingles._mime
compiles it (``split_quoted``, with ``quote_marks``), reading the rules below,
and tests hold the two equal. This module imports nothing of the package, so
the compiled one can import it.
"""

from __future__ import annotations

import re

__all__ = ["ATTRIBUTION", "CANDIDATE", "CUT_LINE", "FOOTER_WORDS", "QUOTE", "RULE", "cut_marks",
           "header_follows", "quote_marks_py", "split_quoted_py"]

# Where the new text ends: a signature delimiter, a forwarded or "original" message, a
# list footer. Literal searches first (str.find is fast; a regex visits every character).
CUT_LINE = re.compile(r"(?:-- ?|[ \t]*-{5,}[ \t]*(?:Original Message|Forwarded message).*|"
                      r"[ \t]*_{20,}[ \t]*|Begin forwarded message:.*)", re.IGNORECASE)
RULE = re.compile(r"[ \t]*(?:_{10,}|={10,}|-{10,})[ \t]*")
FOOTER_WORDS = ("list", "unsubscribe", "http")
ATTRIBUTION = re.compile(r"\b(?:wrote|writes|schrieb|a écrit|escribió)\s*:$", re.IGNORECASE)


def cut_marks(text: str) -> bool:
    """Return whether text holds a marker a cut line (signature, forward) needs."""
    return ("--" in text and (text.startswith("--") or "\n-- \n" in text
                              or "\n--\n" in text or "Forwarded message" in text)) \
        or "Original Message" in text or "Begin forwarded message:" in text \
        or "____________________" in text


#: Kinds of the line runs quote_marks_py finds.
QUOTE, CANDIDATE = 0, 1


def quote_marks_py(text: str) -> list[tuple[int, int, int]]:
    """Return the runs of lines (split at "\n") split_quoted must look at, in order.

    Each is (first line, line after the last, kind): QUOTE for a run of quoted
    lines (first non-space ">" or "|>"), CANDIDATE for one line that may be a
    signature, forward or rule line: its first non-space "--", "__", "==" or
    "Beg" (e and g in either case, as the case-blind CUT_LINE reads them),
    which every pattern of CUT_LINE and RULE needs. All other lines are new
    text to split_quoted, whatever the text holds.
    """
    runs: list[tuple[int, int, int]] = []
    for i, line in enumerate(text.split("\n")):
        body = line.lstrip()
        if body[:1] == ">" or body[:2] == "|>":
            if runs and runs[-1][2] == QUOTE and runs[-1][1] == i:
                runs[-1] = (runs[-1][0], i + 1, QUOTE)
            else:
                runs.append((i, i + 1, QUOTE))
        elif body[:2] in ("--", "__", "==") or (
                body[:1] == "B" and body[1:2] in ("e", "E") and body[2:3] in ("g", "G")):
            runs.append((i, i + 1, CANDIDATE))
    return runs


def split_quoted_py(text: str) -> tuple[str, str]:
    """Return (new text, quoted text): quoted replies, signatures and list footers set apart.

    Quoted: lines starting with ">" (and the "X wrote:" line before them), everything
    from a signature delimiter ("-- "), an "Original Message" or forwarded-message
    line, and a list footer (a rule line near the end followed by list words).
    """
    runs = quote_marks_py(text)
    if not runs:
        return text.strip(), ""  # most texts: nothing quoted, no cut line
    lines = text.split("\n")
    new: list[str] = []
    old: list[str] = []
    n = len(lines)
    last = 0  # lines[last:start] are unmarked: new text, taken over as a slice
    marked: bool | None = None  # cut_marks, made when first needed: a scan of the whole text
    for start, stop, kind in runs:
        if start > last:
            new.extend(lines[last:start])
        last = stop
        if kind == QUOTE:
            # The line before a quoted line (blank lines between) may be "X wrote:";
            # once one is found, the one before it is looked for at the next line.
            for i in range(start, stop):
                j = len(new) - 1
                while j >= 0 and not new[j].strip():
                    j -= 1
                if not (j >= 0 and new[j].rstrip().endswith(":")
                        and ATTRIBUTION.search(new[j].rstrip())):
                    old.extend(lines[i:stop])
                    break
                old.append(new.pop(j))
                old.append(lines[i])
            continue
        line = lines[start]
        first = line.lstrip()[:1]
        if first in ("-", "_", "B") and CUT_LINE.fullmatch(line.rstrip("\r")) \
                and (first != "_" or header_follows(lines, start)):
            if marked is None:
                marked = cut_marks(text)
            if marked:
                old.extend(lines[start:])
                break
        if first in ("_", "=", "-") and n - start <= 15 and RULE.fullmatch(line):
            rest = "\n".join(lines[start:]).lower()
            if any(word in rest for word in FOOTER_WORDS):
                old.extend(lines[start:])
                break
        new.append(line)
    else:
        new.extend(lines[last:])
    kept = "\n".join(new).strip()
    if not kept or not old:
        # Nothing new: not a reply but a message that is all quote (a spam trick) or
        # all signature. The reader sees it, so it is the text. Or nothing set apart.
        return text.strip(), ""
    while "\n\n\n" in kept:  # the blank lines around a removed quote
        kept = kept.replace("\n\n\n", "\n\n")
    return kept, "\n".join(old).strip()


def header_follows(lines: list[str], i: int) -> bool:
    """Return whether a quoted-message header ("From: ...") follows line i (Outlook's rule)."""
    following = [line.strip() for line in lines[i + 1:i + 6] if line.strip()][:2]
    return any(line.lower().startswith(("from:", "von:", "de:")) for line in following)
