"""A message as an MTA hands it over: raw bytes plus the SMTP envelope.

The connection is written into the message as a Received header of our own, on
top, so the ordinary trusted-zone walk of ``shingles.mail.senders`` finds the
source: the connecting IP when it is outside the trusted zone, the hop before it
when it is one of ours (an inner relay, another MX host).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from email.utils import format_datetime
from datetime import datetime, timezone

from shingles.config import Config
from shingles.mail.parse import parse
from shingles.mail.records import Mail

__all__ = ["Envelope", "judge_input"]


@dataclasses.dataclass(frozen=True)
class Envelope:
    """What the MTA saw of the SMTP session (every field may be unknown).

    Attributes:
        ip: The connecting client's IP address.
        helo: The HELO/EHLO name it gave.
        hostname: Its reverse-DNS name as the MTA looked it up.
        sender: MAIL FROM (without angle brackets; "" for the null sender).
        recipients: RCPT TO addresses.
        queue_id: The MTA's queue id, for the log.
    """

    ip: str | None = None
    helo: str | None = None
    hostname: str | None = None
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    queue_id: str | None = None

    def __post_init__(self) -> None:
        if self.ip is not None:
            ipaddress.ip_address(self.ip)  # ValueError: the caller answers 400


def _clean(text: str) -> str:
    """Return text safe inside a header field (no line breaks, no parentheses)."""
    return "".join(c for c in text if c.isprintable() and c not in "()[];\\")[:255]


def received(envelope: Envelope, when: datetime | None = None) -> bytes:
    """Return the Received header (with CRLF) our hop writes for the envelope."""
    helo = _clean(envelope.helo or "unknown") or "unknown"
    host = _clean(envelope.hostname or "unknown") or "unknown"
    date = format_datetime(when or datetime.now(timezone.utc))
    return (f"Received: from {helo} ({host} [{envelope.ip}])\r\n\tby shingles-serve "
            f"with ESMTP; {date}\r\n").encode("ascii", "replace")


def judge_input(raw: bytes, envelope: Envelope, config: Config, source: str) -> Mail:
    """Return the Mail record of raw as received with envelope.

    Raises:
        MailParseError: raw is no mail (MessageTooLargeError: over the size cap).
    """
    if envelope.ip is not None:
        if raw.startswith(b"From "):  # an mbox separator line must stay first: drop it
            raw = raw[raw.find(b"\n") + 1:] if b"\n" in raw else b""
        raw = received(envelope) + raw
    mail = parse(raw, source, config)
    changes: dict[str, object] = {}
    if envelope.sender is not None:
        changes["envelope_sender"] = envelope.sender.strip("<>").lower() or None
    if envelope.recipients:
        changes["recipients"] = tuple(r.strip("<>").lower() for r in envelope.recipients)
    if envelope.helo and mail.source_ip == envelope.ip:
        changes["helo"] = envelope.helo.lower()
    return dataclasses.replace(mail, **changes) if changes else mail  # type: ignore[arg-type]
