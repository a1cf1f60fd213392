"""Where a message's new text ends: quoted replies, signatures, forwards, list footers.

``split_quoted_py`` is the plain-Python reference of the split; shingles._mime
compiles it (``split_quoted``, with ``quote_marks``), reading the rules below,
and tests hold the two equal. This module imports nothing of the package, so
the compiled one can import it.
"""

from __future__ import annotations

import re

__all__ = ["ATTRIBUTION", "CANDIDATE", "CUT_LINE", "FOOTER_WORDS", "HEADER_FIRST", "HEADER_OPEN",
           "QUOTE", "RULE", "SHORT_NEW_WORDS", "cut_marks", "header_block", "header_follows",
           "is_cut_line", "is_rule", "quote_marks_py", "split_footers_py", "split_quoted_py"]

# Where the new text ends: a signature delimiter, a forwarded or "original" message (in the
# languages mail clients write it: Outlook, Thunderbird, Zimbra's "Mail original", Gmail's
# and Apple's forwards), a list footer. Literal searches first (str.find is fast; a regex
# visits every character).
ORIGINAL_PHRASES = ("Original Message", "Forwarded message", "Mail original", "Message d'origine",
                    "Ursprüngliche Nachricht", "Originalnachricht", "Weitergeleitete Nachricht",
                    "Messaggio originale", "Messaggio inoltrato", "Mensaje original",
                    "Mensaje reenviado", "Исходное сообщение", "Пересылаемое сообщение",
                    "Oorspronkelijk bericht", "Doorgestuurd bericht", "Ursprungligt meddelande",
                    "Oprindelig meddelelse", "Wiadomość oryginalna", "Mensagem original")
CUT_LINE = re.compile(r"(?:-- ?|[ \t]*-{3,}[ \t]*(?:%s).*|"
                      r"[ \t]*_{20,}[ \t]*|Begin forwarded message:.*)"
                      % "|".join(re.escape(p) for p in ORIGINAL_PHRASES), re.IGNORECASE)
# A rule line, bare or naming a sponsor or list (Yahoo! Groups' "------- Yahoo! Groups
# Sponsor ---~-->"); not other rules with words, such as a bug tracker's "------- Additional
# Comments From ... -------", which are part of the message.
RULE = re.compile(r"[ \t]*(?:_{10,}|={10,}|-{10,})(?:[^\n]*(?:sponsor|advertis|mailing list)"
                  r"[^\n]*(?:_{5,}|={5,}|-{5,})[^\n]*)?[ \t]*", re.IGNORECASE)
# RULE is the definition; is_rule reads lines by it in linear time (its backtracking
# took 2 s on a 32 KB line of sponsor words, quadratic in the line).
_RULE_HEAD = re.compile(r"[ \t]*(?:_{10,}|={10,}|-{10,})")
_RULE_TAIL = re.compile(r"_{5,}|={5,}|-{5,}")
_RULE_WORDS = ("sponsor", "advertis", "mailing list")
FOOTER_WORDS = ("list", "unsubscribe", "http")
# "X wrote:" before a quote, as clients write it (talon's and mail-parser-reply's
# patterns): "On ... wrote:", "Am ... schrieb X <x@y>:", "Le ... a écrit :", "El ...
# escribió:", "Il ... ha scritto:", "Op ... schreef:", "... пишет:", "... написал(а):".
# The verb may be followed by the writer's name and address (German, Polish).
ATTRIBUTION = re.compile(r"(?<!\w)(?:wrote|writes|schrieb|a écrit|escribió|ha scritto|schreef|skrev|"
                         r"napisał\(a\)|napisał|napisała|пишет|написал\(а\)|написала|написал)"
                         r"(?!\w)[^\n]{0,100}:$", re.IGNORECASE)

# A quoted message's header block, as Outlook writes it above the original without a
# rule line (and in the user's language): a "From:" line and, within the next lines, a
# "Sent:"/"To:"/"Subject:" one (mail-parser-reply's from_header rule: two fields of
# one language's set). Lines may be starred (*From:*, bold in the HTML it came from).
HEADER_FIRST = "FDVOfdvo*\u041e"  # first characters of the opening field names below (О: От)
HEADER_OPEN = re.compile(r"[ \t]*\*?(?:From|De|Von|Da|Van|Fra|Från|Od|От)[ \t]*(?:\*[ \t]*)?:",
                          re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"[ \t]*\*?(?:Sent|Date|To|Subject|Cc|Envoyé|Date|À|A|Objet|Gesendet|Datum|An|Betreff|"
    r"Inviato|Data|Oggetto|Enviado|Fecha|Para|Asunto|Verzonden|Aan|Onderwerp|Sendt|Til|Emne|"
    r"Skickat|Till|Ämne|Wysłano|Do|Temat|Отправлено|Дата|Кому|Тема|Копия)[ \t]*(?:\*[ \t]*)?:",
    re.IGNORECASE)

#: New text of fewer words than this, in a message that is no reply, does not stand
#: alone: the quote or forward it carries is what the recipient reads (see
#: split_footers_py and shingles.mail.parse). Twelve words are too short to sign; a
#: greeting and a reference line add about five to a spam that quotes a few words
#: of its own, hence more. Replies are not concerned (In-Reply-To, References).
SHORT_NEW_WORDS = 30


def cut_marks(text: str) -> bool:
    """Return whether text holds a marker a cut line (signature, forward) needs."""
    return ("--" in text and (text.startswith("--") or "\n-- \n" in text
                              or "\n--\n" in text or "Forwarded message" in text)) \
        or "Begin forwarded message:" in text or "____________________" in text \
        or any(phrase in text for phrase in ORIGINAL_PHRASES)


def is_cut_line(line: str) -> bool:
    """Return whether CUT_LINE matches the whole line.

    A line of dashes and blanks alone is read without the pattern: there it
    backtracked over every dash for each phrase (5 us for a rule line, the most
    common candidate line), and of such lines only "--" and "-- " match.
    """
    if line[:1] in ("-", " ", "\t") and not line.strip(" \t-"):
        return line in ("--", "-- ")
    return CUT_LINE.fullmatch(line) is not None


def is_rule(line: str) -> bool:
    """Return whether RULE matches the whole line, in time linear in the line."""
    head = _RULE_HEAD.match(line)
    if head is None:
        return False
    rest = line[head.end():]
    if not rest.strip(" \t"):
        return True
    # A sponsor or list word, then a rule of 5 or more after it: after the word that
    # ends first, if after any.
    low = rest.lower()
    ends = [at + len(word) for word in _RULE_WORDS if (at := low.find(word)) >= 0]
    return bool(ends) and _RULE_TAIL.search(low, min(ends)) is not None


def header_block(lines: list[str], i: int) -> bool:
    """Return whether line i opens a quoted message's header block ("From:" then "Sent:")."""
    if not HEADER_OPEN.match(lines[i]):
        return False
    following = [line for line in lines[i + 1:i + 6] if line.strip()][:3]
    return any(_HEADER_NEXT.match(line) for line in following)


#: Kinds of the line runs quote_marks_py finds.
QUOTE, CANDIDATE = 0, 1


def _initials_quote(body: str) -> bool:
    """Return whether a line opens with the writer's initials and ">" ("RH> ", "GLM> "),
    as Supercite and The Bat! quote: one to four ASCII letters, ">", then a space or
    the end of the line."""
    if not (body[:1].isascii() and body[:1].isalpha()):
        return False
    for k in range(1, 5):
        c = body[k:k + 1]
        if c == ">":
            return body[k + 1:k + 2] in ("", " ", "\t")
        if not (c and c.isascii() and c.isalpha()):
            return False
    return False


def quote_marks_py(text: str) -> list[tuple[int, int, int]]:
    """Return the runs of lines (split at "\n") split_quoted must look at, in order.

    Each is (first line, line after the last, kind): QUOTE for a run of quoted
    lines (first non-space ">", "|>" or initials and ">"), CANDIDATE for one line that may be a
    signature, forward, rule line or header block: its first non-space "--", "__",
    "==" or "Beg" (e and g in either case, as the case-blind CUT_LINE reads them),
    which every pattern of CUT_LINE and RULE needs, or one of HEADER_FIRST with a ":"
    later in the line (HEADER_OPEN needs both; most lines starting with those letters
    have no ":", and each candidate costs a regular expression). All
    other lines are new text to split_quoted, whatever the text holds.
    """
    runs: list[tuple[int, int, int]] = []
    for i, line in enumerate(text.split("\n")):
        body = line.lstrip()
        if body[:1] == ">" or body[:2] == "|>" or _initials_quote(body):
            if runs and runs[-1][2] == QUOTE and runs[-1][1] == i:
                runs[-1] = (runs[-1][0], i + 1, QUOTE)
            else:
                runs.append((i, i + 1, QUOTE))
        elif body[:2] in ("--", "__", "==") or (
                body[:1] == "B" and body[1:2] in ("e", "E") and body[2:3] in ("g", "G")) or (
                body[:1] and body[0] in HEADER_FIRST and ":" in body):
            runs.append((i, i + 1, CANDIDATE))
    return runs


def split_quoted_py(text: str) -> tuple[str, str]:
    """Return (new text, quoted text): quoted replies, signatures and list footers set apart.

    Quoted: lines starting with ">" (and the "X wrote:" line before them), everything
    from a signature delimiter ("-- "), an "Original Message" or forwarded-message
    line, a quoted message's header block ("From:" then "Sent:", in several
    languages), and a list footer (a rule line near the end followed by list words).
    A text that is all footer (a list's footer in its own MIME part) is all quoted.
    """
    runs = quote_marks_py(text)
    if not runs:
        return text.strip(), ""  # most texts: nothing quoted, no cut line
    kept, old, _, quoted, footer = _split_runs(text, runs)
    if not kept and footer and not quoted:
        return "", text.strip()  # all footer (and blank lines): nothing new
    if not kept or not old:
        # Nothing new: not a reply but a message that is all quote (a spam trick) or
        # all signature. The reader sees it, so it is the text. Or nothing set apart.
        return text.strip(), ""
    return kept, old


def split_footers_py(text: str) -> tuple[str, str]:
    """Return (text, signature and list footer): quotes and forwarded messages kept.

    The text of a message that is no reply whose new text is too short to sign
    (shingles.mail.parse): a greeting in front of a whole quoted or forwarded
    message is fingerprinted over what the recipient reads.
    """
    runs = [run for run in quote_marks_py(text) if run[2] != QUOTE]
    if not runs:
        return text.strip(), ""
    kept, old, _, _, footer = _split_runs(text, runs, cuts=False)
    if not kept and footer:
        return "", text.strip()
    if not kept or not old:
        return text.strip(), ""
    return kept, old


def _split_runs(text: str, runs: list[tuple[int, int, int]], cuts: bool = True,
                ) -> tuple[str, str, bool, bool, bool]:
    """Return (new text, quoted text, an attribution line seen, quoted lines set apart,
    cut at a list footer) of text, looking at the given runs of quote_marks_py; with
    cuts=False, forwarded and original messages and header blocks do not end it.
    When no line is set apart both texts are empty (not joined again only to be
    thrown away: the callers then keep the text whole)."""
    lines = text.split("\n")
    new: list[str] = []
    old: list[str] = []
    n = len(lines)
    last = 0  # lines[last:start] are unmarked: new text, taken over as a slice
    marked: bool | None = None  # cut_marks, made when first needed: a scan of the whole text
    attributed = quoted = footer = False
    for start, stop, kind in runs:
        if start > last:
            new.extend(lines[last:start])
        last = stop
        if kind == QUOTE:
            quoted = True
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
                attributed = True
                old.append(new.pop(j))
                old.append(lines[i])
            continue
        line = lines[start]
        first = line.lstrip()[:1]
        if first in ("-", "_", "B") and is_cut_line(line.rstrip("\r")) \
                and (first != "_" or header_follows(lines, start)) \
                and (cuts or line.rstrip("\r") in ("--", "-- ")):
            if marked is None:
                marked = cut_marks(text)
            if marked:
                old.extend(lines[start:])
                break
        if cuts and first and first in HEADER_FIRST and header_block(lines, start):
            attributed = True
            old.extend(lines[start:])
            break
        if first in ("_", "=", "-") and n - start <= 15 and is_rule(line):
            rest = "\n".join(lines[start:]).lower()
            if any(word in rest for word in FOOTER_WORDS):
                footer = True
                old.extend(lines[start:])
                break
        new.append(line)
    else:
        new.extend(lines[last:])
    if not old:  # nothing set apart: the callers keep the text whole
        return "", "", attributed, quoted, footer
    kept = "\n".join(new).strip()
    while "\n\n\n" in kept:  # the blank lines around a removed quote
        kept = kept.replace("\n\n\n", "\n\n")
    return kept, "\n".join(old).strip(), attributed, quoted, footer


def header_follows(lines: list[str], i: int) -> bool:
    """Return whether a quoted-message header ("From: ...") follows line i (Outlook's rule)."""
    following = [line.strip() for line in lines[i + 1:i + 6] if line.strip()][:2]
    return any(line.lower().startswith(("from:", "von:", "de:")) for line in following)
