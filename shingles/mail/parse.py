"""Raw message bytes to a Mail record: the text a recipient sees, and the sender facts.

Two splitters cut a message into its MIME tree:
- the lean one (shingles._mime, compiled) handles the common well-formed case
  fast and hands anything unusual back;
- the standard ``email`` package (policy compat32) takes the rest, and all
  messages when the compiled module is absent (SHINGLES_PUREPYTHON=1).
Both give the same tree, a node being ``(headers, body, children, defects)``
with headers as (name, raw value bytes) pairs in order, body the undecoded
bytes of a leaf (None for a multipart) and children the sub-nodes. Everything
after that (decoding, charsets, HTML, addresses, the Received walk) is one
shared code path, so the two can only differ in splitting, which a test holds
equal on every corpus message.
"""

from __future__ import annotations

import binascii
import email.parser
import hashlib
import re
import time
from email import policy as email_policy
from typing import Any

from shingles.mail import headers as hv
from shingles._lean import lean as _lean
from shingles.config import DEFAULT_CONFIG, Config, Limits
from shingles.errors import MailParseError, MessageTooLargeError
from shingles.mail.html import html_to_text
from shingles.mail.records import Attachment, Mail
from shingles.mail.quoting import SHORT_NEW_WORDS, split_footers_py, split_quoted_py
from shingles.mail.senders import read_date, read_received, sender_facts

__all__ = ["LEAN_AVAILABLE", "looks_like_mail", "parse", "split_quoted", "tree_of"]

#: Whether the compiled lean splitter is in use.
LEAN_AVAILABLE = _lean is not None

Node = tuple[tuple[tuple[str, bytes], ...], "bytes | None", tuple[Any, ...], tuple[str, ...]]

_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_LISTS = frozenset(("to", "cc", "delivered-to", "authentication-results", "received-spf"))
_WANTED = ("message-id", "date", "subject", "from", "return-path", "x-mailer", "user-agent",
           "in-reply-to", "references", "precedence", "auto-submitted", "content-type")


def _automatic(first: dict[str, str], names: list[str], from_addr: str | None) -> str | None:
    """Return why a message is automatic (RFC 3834 and the older conventions), or None.

    Such mail from a local user is no sign the user wants its recipient's mail: an
    out-of-office reply to a spammer must not allowlist the spammer.
    """
    submitted = first.get("auto-submitted", "").split(";", 1)[0].strip().lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted[:40]}"
    for name in ("x-autoreply", "x-autorespond"):
        if name in names:
            return name
    precedence = first.get("precedence", "").strip().lower()
    if precedence in ("auto_reply", "bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    if first.get("return-path", "").strip() == "<>":
        return "null envelope sender"
    if from_addr and from_addr.partition("@")[0] == "mailer-daemon":
        return "from MAILER-DAEMON"
    if hv.content_type_of(first.get("content-type"), "text/plain") == "multipart/report":
        return "multipart/report"
    return None
_BULK = {"list-unsubscribe": "list-unsubscribe", "list-unsubscribe-post": "list-unsubscribe-post",
         "list-id": "list-id", "feedback-id": "feedback-id"}


def _body_start(data: bytes) -> int:
    """Return where the header block starts (after a leading "From " envelope line)."""
    if data.startswith(b"From "):
        end = data.find(b"\n")
        return len(data) if end < 0 else end + 1
    return 0


def looks_like_mail(data: bytes) -> bool:
    """Return whether data starts like an RFC 5322 message: a header field line first."""
    return bool(_HEADER_LINE.match(data, _body_start(data)))


# ---------------------------------------------------------------- the standard splitter


def _std_node(msg: Any, depth: int, limits: Limits) -> Node:
    headers = tuple((name, value.encode("ascii", "surrogateescape") if isinstance(value, str)
                     else str(value).encode("utf-8", "surrogateescape"))
                    for name, value in msg.raw_items())
    defects = tuple(type(d).__name__ for d in msg.defects)
    # _payload, not get_payload(): get_payload() decodes 8-bit text with a guessed
    # charset, and we want the bytes as they came.
    payload = msg._payload
    if isinstance(payload, list):
        if depth >= limits.max_depth:
            return headers, None, (), defects + ("NestingTooDeep",)
        return headers, None, tuple(_std_node(p, depth + 1, limits) for p in payload), defects
    body = payload.encode("ascii", "surrogateescape") if isinstance(payload, str) else b""
    return headers, body, (), defects


def _std_tree(raw: bytes, limits: Limits) -> Node:
    parser = email.parser.BytesParser(policy=email_policy.compat32)
    try:
        return _std_node(parser.parsebytes(raw), 0, limits)
    except RecursionError:
        # Multiparts nested past the interpreter's stack: keep the headers, drop the body.
        msg = email.parser.BytesParser(policy=email_policy.compat32).parsebytes(
            raw, headersonly=True)
        headers, _, _, defects = _std_node(msg, 0, limits)
        return headers, b"", (), defects + ("NestingTooDeep",)


def tree_of(raw: bytes, lean: bool | None = None, limits: Limits = DEFAULT_CONFIG.limits,
            ) -> tuple[Node, str]:
    """Return (MIME tree, "lean" or "email") of a message.

    Args:
        raw: The message bytes.
        lean: True: the lean splitter or an error; False: the standard one;
            None: lean when compiled, the standard one for what it hands back.
        limits: Caps on nesting.

    Raises:
        MailParseError: lean=True and the lean splitter handed the message back.
    """
    if lean is not False and _lean is not None:
        tree = _lean.split(raw, limits.max_depth)
        if tree is not None:
            return tree, "lean"
        if lean:
            raise MailParseError("the lean splitter handed this message back")
    elif lean:
        raise MailParseError("the lean splitter is not compiled in (SHINGLES_PUREPYTHON?)")
    return _std_tree(raw, limits), "email"


# ---------------------------------------------------------------- the shared reading


def _first(headers: tuple[tuple[str, bytes], ...], name: str) -> str | None:
    n = len(name)
    for key, value in headers:
        if len(key) == n and key.lower() == name:
            return hv.header_text(value)
    for key, value in headers:  # "Content-Type :" is read as the field too
        if len(key) > n and key[-1] in " \t" and key.lower().rstrip() == name:
            return hv.header_text(value)
    return None


def _decode_transfer(body: bytes, cte: str, defects: list[str]) -> bytes:
    if cte == "base64":
        try:
            return binascii.a2b_base64(body)
        except binascii.Error:
            defects.append("bad base64")
            clean = re.sub(rb"[^A-Za-z0-9+/]", b"", body)
            clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
            return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))
    if cte == "quoted-printable":
        return binascii.a2b_qp(body)
    return body


class _Walk:
    """Collects the visible text, quoted text, attachments and defects of a tree."""

    def __init__(self, limits: Limits,
                 top: tuple[Node, dict[str, bytes]] | None = None) -> None:
        """Args: limits: the caps; top: (top node, its first value by lower-case name)."""
        self.limits = limits
        self.top = top
        self.text: list[str] = []
        self.quoted: list[str] = []
        self.attachments: list[Attachment] = []
        self.defects: list[str] = []
        self.parts = 0
        self.shown: list[str] = []  # each text part as shown, before anything is set apart
        self.forwarded: list[str] = []  # the text of forwarded or bounced messages
        self.deadline = time.perf_counter() + limits.max_seconds

    def field(self, node: Node, name: str) -> str | None:
        """Return the first field name of node, decoded (the top node's from an index)."""
        if self.top is not None and node is self.top[0]:
            value = self.top[1].get(name)
            return _header_text(value) if value is not None else None
        return _first(node[0], name)

    def visit(self, node: Node, default: str, depth: int, show: bool, quoted: bool) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            if self.parts == self.limits.max_parts + 1:
                self.defects.append(f"more than {self.limits.max_parts} parts; rest ignored")
            return
        if self.deadline and time.perf_counter() > self.deadline:
            # Every stage is capped; this is the net under the caps: the record keeps
            # the text read so far and the stream goes on.
            self.deadline = 0.0
            self.defects.append(f"over the time budget of {self.limits.max_seconds} s; "
                                "rest ignored")
        if not self.deadline:
            return
        headers, body, children, _ = node
        ctype_value = self.field(node, "content-type")
        ctype = hv.content_type_of(ctype_value, default)
        if " " in ctype or "\t" in ctype:  # "text/plain charset=x": a ";" forgotten
            ctype = ctype.split(None, 1)[0]
        if body is not None and ctype.startswith(("multipart/", "message/")):
            ctype = "text/plain"  # a multipart without a usable boundary: its raw body
        if body is None:
            if depth >= self.limits.max_depth:
                self.defects.append(f"multipart nested deeper than {self.limits.max_depth}")
                return
            child_default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
            if ctype.startswith("message/"):
                quoted = True  # a forwarded or bounced message: not new text
            chosen = None
            if ctype == "multipart/alternative":
                for i in range(len(children) - 1, -1, -1):
                    if _displayable(children[i], child_default):
                        chosen = i
                        break
            for i, child in enumerate(children):
                self.visit(child, child_default, depth + 1,
                           show and (chosen is None or i == chosen), quoted)
            return
        disposition = self.field(node, "content-disposition")
        filename = hv.param_of(disposition, "filename") or hv.param_of(ctype_value, "name")
        if filename and "=?" in filename:
            filename = hv.decode_words(filename)
        # A named text part without "attachment" is shown inline by mail clients.
        as_text = ctype in ("text/plain", "text/html") and not (
            disposition and disposition.lower().startswith("attachment"))
        if as_text and not show:
            return  # an alternative nobody sees
        cte = (self.field(node, "content-transfer-encoding") or "").lower()
        data = _decode_transfer(body, cte, self.defects)
        if not as_text:
            self.attachments.append(Attachment(filename, ctype, len(data),
                                               hashlib.sha256(data).hexdigest()))
            return
        # Bytes past what is read are not decoded: one 120 MB line cost 148 s and
        # 640 MiB. HTML may take 4 bytes a character: its cap is in characters.
        cap = self.limits.max_html_bytes * 4 if ctype == "text/html" else \
            self.limits.max_text_bytes
        if len(data) > cap:
            if ctype != "text/html":
                self.defects.append("text part over the size cap; cut")
            data = data[:cap]
        charset = hv.param_of(ctype_value, "charset")
        if charset and not hv.known_charset(charset):
            self.defects.append(f"unknown charset {charset[:40]!r}; read as UTF-8 or windows-1252")
        text = hv.decode_bytes(data, charset)
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if ctype == "text/html":
            if len(text) > self.limits.max_html_bytes:
                self.defects.append("HTML part over the size cap; cut")
                text = text[: self.limits.max_html_bytes]
            text, old = html_to_text(text, self.limits.max_html_depth)
            if old:
                self.quoted.append(old)
                (self.forwarded if quoted else self.shown).append(text + "\n" + old)
            else:
                (self.forwarded if quoted else self.shown).append(text)
        else:
            (self.forwarded if quoted else self.shown).append(text)
        new, old = split_quoted(text)
        if quoted:
            new, old = "", text
        if new:
            self.text.append(new)
        if old:
            self.quoted.append(old)


def _displayable(node: Node, default: str) -> bool:
    headers, body, children, _ = node
    if body is None:
        return any(_displayable(c, "text/plain") for c in children)
    ctype_value = _first(headers, "content-type")
    disposition = _first(headers, "content-disposition") or ""
    return hv.content_type_of(ctype_value, default) in ("text/plain", "text/html") \
        and not disposition.lower().startswith("attachment")


# The compiled splits when built (shingles._mime), else the plain-Python references.
split_quoted = _lean.split_quoted if _lean is not None else split_quoted_py
split_footers = _lean.split_footers if _lean is not None else split_footers_py


def _reader_sees(walk: _Walk, reply: bool) -> tuple[str, str]:
    """Return (text, quoted text) of a message from its walk.

    The new text, unless that is too short to sign and the message is no reply
    (no In-Reply-To or References): then what the recipient reads, quotes and
    forwarded messages included, only signatures and list footers set apart. A
    greeting in front of a whole quoted or forwarded message must not evade
    matching; a short reply still leaves its parent's text apart.
    """
    text = "\n".join(walk.text)
    # Counting stops at SHORT_NEW_WORDS: a long text is not split into all its words.
    if reply or not walk.quoted or len(text.split(None, SHORT_NEW_WORDS - 1)) >= SHORT_NEW_WORDS:
        return text, "\n".join(walk.quoted)
    pairs = [split_footers(shown) for shown in walk.shown]
    return ("\n".join(new for new, _ in pairs if new),
            "\n".join([old for _, old in pairs if old] + walk.forwarded))


HeaderIndex = tuple[list[str], list[bytes], list[int], list[tuple[int, bytes]],
                    list[tuple[int, bytes]], list[bytes], dict[str, bytes], bool]


def _index_headers_py(headers: tuple[tuple[str, bytes], ...], max_headers: int) -> HeaderIndex:
    """Return the header fields sorted by use, raw: one pass over the first max_headers.

    Returns (names, Received values, their positions, (position, Received-SPF value)
    pairs, (position, Authentication-Results value) pairs, To/Cc/Delivered-To values, first value of
    every other field by name, whether fields past max_headers were left out).
    Names are lower-case, blanks before the colon cut.
    """
    names: list[str] = []
    received: list[bytes] = []
    received_pos: list[int] = []
    received_spf: list[tuple[int, bytes]] = []
    auth: list[tuple[int, bytes]] = []
    rcpt: list[bytes] = []
    raw_first: dict[str, bytes] = {}
    for pos, (name, value) in enumerate(headers):
        if pos >= max_headers:
            return names, received, received_pos, received_spf, auth, rcpt, raw_first, True
        key = name.lower()
        if key[-1:] in (" ", "\t"):
            key = key.rstrip()
        names.append(key)
        if key == "received":
            received.append(value)
            received_pos.append(pos)
        elif key in _LISTS:
            if key == "authentication-results":
                auth.append((pos, value))
            elif key == "received-spf":
                received_spf.append((pos, value))
            else:
                rcpt.append(value)
        elif key not in raw_first:
            raw_first[key] = value
    return names, received, received_pos, received_spf, auth, rcpt, raw_first, False


# The compiled twins when built (shingles._mime), else the plain-Python ones.
_index_headers = _lean.index_headers if _lean is not None else _index_headers_py
_header_text = _lean.header_text if _lean is not None else hv.header_text


def _build(source: str, size: int, tree: Node, config: Config) -> Mail:
    headers, _, _, tree_defects = tree
    limits = config.limits
    defects = list(tree_defects)
    names, raw_received, received_pos, raw_spf, raw_auth, raw_rcpt, raw_first, over = \
        _index_headers(headers, limits.max_headers)
    if over:
        defects.append(f"more than {limits.max_headers} header fields; rest ignored")
    text_of = _header_text
    received = [text_of(value) for value in raw_received]
    received_spf = [(pos, text_of(value)) for pos, value in raw_spf]
    auth = [(pos, text_of(value)) for pos, value in raw_auth]
    rcpt = [text_of(value) for value in raw_rcpt]
    bulk = {_BULK[key] for key in raw_first if key in _BULK}  # in header order, as ever
    # Only the fields we use are decoded: most headers are never read.
    first = {key: text_of(raw_first[key]) for key in _WANTED if key in raw_first}
    if first.get("precedence", "").lower() in ("bulk", "list", "junk"):
        bulk.add("precedence-bulk")
    hops = tuple(read_received(v) for v in received)
    facts = sender_facts(hops, auth, received_spf, received_pos, config.senders)
    from_addr = hv.first_address(first.get("from", ""))
    date_text = first.get("date")
    date = read_date(date_text) if date_text else None
    if date_text and date is None:
        defects.append("unreadable Date")
    walk = _Walk(limits, (tree, raw_first))
    walk.visit(tree, "text/plain", 0, True, False)
    defects.extend(walk.defects)
    reply_to = first.get("in-reply-to")
    ids = hv.msg_ids(reply_to) if reply_to else ()
    text, quoted = _reader_sees(walk, bool(reply_to or first.get("references")))
    return Mail.of({
        "source": source,
        "message_id": first.get("message-id") or None,
        "date": date,
        "subject": hv.decode_words(first.get("subject", "")),
        "from_addr": from_addr,
        "from_domain": from_addr.rpartition("@")[2] or None if from_addr and "@" in from_addr
        else None,
        "envelope_sender": hv.first_address(first.get("return-path", "")),
        "helo": facts.helo,
        "recipients": tuple(dict.fromkeys(hv.addresses(rcpt))),
        "source_ip": facts.source_ip,
        "hops": hops,
        "spf": facts.spf,
        "dkim": facts.dkim,
        "dmarc": facts.dmarc,
        "dkim_domains": facts.dkim_domains,
        "spf_domain": facts.spf_domain,
        "bulk_signs": frozenset(bulk),
        "x_mailer": first.get("x-mailer") or first.get("user-agent") or None,
        "header_names": tuple(names),
        "text": text,
        "quoted": quoted,
        "attachments": tuple(walk.attachments),
        "defects": tuple(defects),
        "in_reply_to": ids[0] if ids else (reply_to or None),
        "references": hv.msg_ids(first.get("references", "")),
        "size": size,
        "automatic": _automatic(first, names, from_addr),
        "content_type": text_of(raw_first["content-type"]) if "content-type" in raw_first
        else None,
    })


def parse(raw: bytes, source: str = "<bytes>", config: Config = DEFAULT_CONFIG,
          *, lean: bool | None = None) -> Mail:
    """Return the Mail record of one message; raise MailParseError if it is no mail at all.

    Broken MIME, bad charsets, broken base64 and the like are normal input: they
    give a record with ``defects``, not an error.

    Args:
        raw: The message bytes (an mbox "From " line at the start is allowed).
        source: Where it came from, copied into the record.
        config: Trusted zone, authserv-ids and size caps.
        lean: See tree_of (None: the fastest splitter that handles the message).

    Raises:
        MessageTooLargeError: raw is larger than config.limits.max_message_bytes.
        MailParseError: raw is empty or does not start with a header field.
    """
    if len(raw) > config.limits.max_message_bytes:
        raise MessageTooLargeError(
            f"message of {len(raw)} bytes is over the cap of {config.limits.max_message_bytes}")
    if not looks_like_mail(raw):
        raise MailParseError("not a mail message: it does not start with a header field"
                             if raw.strip() else "empty message")
    tree, _ = tree_of(raw, lean, config.limits)
    return _build(source, len(raw), tree, config)
