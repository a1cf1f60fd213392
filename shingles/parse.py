"""Raw mail bytes to the text a recipient sees.

Stand-in until the full MIME parser lands (issue 3): the standard ``email``
package, text/plain parts preferred, tags stripped from text/html.
"""

from __future__ import annotations

import email
import email.message
import html
import re

__all__ = ["looks_like_mail", "visible_text"]

_HEADER_LINE = re.compile(rb"^[!-9;-~]+:[ \t]?", re.MULTILINE)
_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>", re.I | re.S)


def looks_like_mail(data: bytes) -> bool:
    """Return whether data starts like an RFC 5322 message (a header block)."""
    head = data.lstrip(b"\r\n")[:4096]
    if head.startswith(b"From "):
        head = head.split(b"\n", 1)[-1]
    return bool(_HEADER_LINE.match(head)) and (b"\n\n" in data or b"\r\n\r\n" in data)


def _decode(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:  # an unknown charset name
        return payload.decode("latin-1")


def visible_text(data: bytes) -> tuple[str, str | None]:
    """Return (visible text, Message-ID) of a message, or (the text, None) for plain text."""
    if not looks_like_mail(data):
        return data.decode("utf-8", "replace"), None
    message = email.message_from_bytes(data)
    plain, markup = [], []
    for part in message.walk():
        if part.get_content_maintype() != "text" or part.get_filename():
            continue
        (markup if part.get_content_subtype() == "html" else plain).append(_decode(part))
    if not plain and markup:
        plain = [html.unescape(_TAGS.sub(" ", text)) for text in markup]
    message_id = message.get("Message-ID")
    return "\n".join(plain), (str(message_id).strip() if message_id else None)
