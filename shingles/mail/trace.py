"""The sending software's header trace: a hash of the header's shape, values folded.

Campaigns that rewrite every word still go out through the same software, and
software writes its headers the same way every time: the order of the fields,
the form of the Message-ID (how long its parts are, which alphabet, which
punctuation, where the domain sits), the X-Mailer, the form of the MIME
boundary. The trace keeps that shape and folds the values that change from copy
to copy (random tokens, counters, dates, domains), so copies of one campaign
share a trace and messages written by other software seldom do.

On its own a trace links far too loosely (every message one mail client writes
shares it): the store uses it only to lower the resemblance a recall candidate
needs when the text signatures already name that candidate (StoreSettings.
trace_threshold), never to match by itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import xxhash

__all__ = ["header_trace", "id_shape", "trace_text"]

#: Fields relays add or rewrite on the way: they describe the path, not the sender's software.
_TRANSIT = frozenset((
    "received", "return-path", "delivered-to", "x-original-to", "envelope-to",
    "authentication-results", "received-spf", "dkim-signature", "domainkey-signature",
    "x-received", "x-spam-status", "x-spam-score", "x-spam-flag", "x-spam-level",
    "x-virus-scanned", "x-original-authentication-results", "x-forwarded-to",
    "x-forwarded-for", "resent-from", "resent-to", "resent-date", "resent-message-id",
))
_TRANSIT_PREFIXES = ("arc-", "x-ms-exchange-", "x-gm-", "x-google-")
_TOKEN = re.compile(r"[A-Za-z0-9]+")
_HEXTOKEN = re.compile(r"[0-9a-fA-F]+")
_BOUNDARY = re.compile(r"""boundary\s*=\s*(?:"([^"]*)"|([^\s;]+))""", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]+")


def _shape_of(match: re.Match[str]) -> str:
    """Return a token's alphabet class and length class."""
    token = match.group()
    n = len(token)
    # Length classes: edges sit away from the lengths software favours (16 and 32
    # hex digits, 10-digit timestamps), so a token of random length rarely crosses one.
    length = "s" if n <= 3 else "m" if n <= 9 else "l" if n <= 19 else "L" if n <= 39 else "X"
    # Hex digits are one class whatever their case and whether a letter happens to
    # occur: a random 4-digit hex group holds no letter one time in seven, and the
    # software wrote hex either way. Short counters and words of a-f fold in too.
    if _HEXTOKEN.fullmatch(token):
        return "x" + length
    if token.islower():
        return "a" + length
    return ("A" if token.isupper() else "M") + length


def id_shape(value: str) -> str:
    """Return the shape of a token string: alphabet and length class per token, punctuation kept.

    "3f9a0b2c1d4e5f60.1772442000@x" and "a0b1c2d3e4f5a6b7.1772449999@y" have one
    shape: random values of the same form give the same shape.
    """
    return _TOKEN.sub(_shape_of, value)


def _message_id_shape(message_id: str | None, from_domain: str | None) -> str:
    if not message_id:
        return "-"
    inner = message_id.strip().strip("<>")
    local, at, domain = inner.rpartition("@")
    if not at:
        return "noat:" + id_shape(inner)
    domain = domain.lower().strip("[]")
    if from_domain and domain == from_domain.lower():
        where = "from"
    elif _DIGITS.sub("", domain).strip(".:") == "":
        where = "ip"
    elif from_domain and domain.endswith("." + from_domain.lower()):
        where = "sub-from"
    else:
        where = f"{domain.count('.') + 1}labels"
    return f"{id_shape(local)}@{where}"


@functools.lru_cache(maxsize=4096)
def _names(header_names: tuple[str, ...]) -> str:
    """Return the field names a program wrote, in order: relays' fields out, repeats folded."""
    names: list[str] = []
    for name in header_names:
        if name in _TRANSIT or name.startswith(_TRANSIT_PREFIXES):
            continue
        if not names or names[-1] != name:  # repeated fields: counts vary with recipients
            names.append(name)
    return ",".join(names)


def trace_text(header_names: Sequence[str], message_id: str | None, x_mailer: str | None,
               content_type: str | None, from_domain: str | None) -> str:
    """Return the folded header shape the trace hashes (readable, for explain and tests)."""
    names = _names(tuple(header_names))
    mailer = _DIGITS.sub("0", " ".join(x_mailer.lower().split())) if x_mailer else "-"
    boundary = "-"
    if content_type:
        found = _BOUNDARY.search(content_type)
        if found:
            boundary = id_shape(found.group(1) if found.group(1) is not None else found.group(2))
    return "|".join((names, _message_id_shape(message_id, from_domain), mailer,
                     boundary))


def header_trace(header_names: Sequence[str], message_id: str | None, x_mailer: str | None,
                 content_type: str | None, from_domain: str | None) -> str:
    """Return the header trace: 16 hex digits of xxh3-64 over trace_text's shape."""
    return xxhash.xxh3_64_hexdigest(trace_text(header_names, message_id, x_mailer,
                                               content_type, from_domain).encode())
