"""The frozen records of the ingestion stage: Mail, its Hops and Attachments, MailError.

Other stages (fingerprint, store, judge) read these and nothing else of a
message, so every field is plain data: str, int, datetime, tuples, frozensets.
They pickle, which the Spark path needs.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime
from typing import Any

from shingles.mail.trace import header_trace

__all__ = ["Attachment", "Hop", "Mail", "MailError"]

# The "with" protocols that say the sender logged in (SMTP AUTH): RFC 3848, and
# RFC 6531's UTF8 forms of them.
_AUTHENTICATED_PROTOCOLS = frozenset((
    "ESMTPA", "ESMTPSA", "LMTPA", "LMTPSA", "UTF8SMTPA", "UTF8SMTPSA", "UTF8LMTPA", "UTF8LMTPSA"))


@dataclasses.dataclass(frozen=True)
class Hop:
    """One Received header: who handed the message to whom, and when.

    Attributes:
        from_host: The name the sending host gave (first word after "from"), or None.
        from_ip: The sending host's IP address as the receiver saw it, or None.
        by_host: The receiving host (the writer of the header), or None.
        time: When the receiver got the message (timezone-aware), or None.
        helo: The HELO/EHLO name when the header names it apart from from_host.
        rdns: The sender's reverse-DNS name as the receiver looked it up, or None.
        protocol: The word of the "with" clause, upper-case ("ESMTPSA", "SMTP",
            "MICROSOFT" for Exchange's "with Microsoft SMTP Server"), or None.
    """

    from_host: str | None
    from_ip: str | None
    by_host: str | None
    time: datetime | None
    helo: str | None = None
    rdns: str | None = None
    protocol: str | None = None

    @property
    def authenticated(self) -> bool:
        """Return whether the sender logged in to the receiver (an RFC 3848 protocol)."""
        return self.protocol in _AUTHENTICATED_PROTOCOLS

    def to_json(self) -> dict[str, Any]:
        """Return the hop as a JSON-ready dict (time in ISO 8601)."""
        out = dataclasses.asdict(self)
        out["time"] = self.time.isoformat() if self.time else None
        return out


@dataclasses.dataclass(frozen=True)
class Attachment:
    """A part a mail client shows as a file (or an image), kept as a digest.

    Attributes:
        filename: The part's file name, decoded, or None.
        content_type: Lower-case "type/subtype".
        size: Size in bytes after the transfer encoding is undone.
        sha256: Hex SHA-256 of those bytes: image-only mail stays comparable.
    """

    filename: str | None
    content_type: str
    size: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class Mail:
    """One parsed message: what a recipient sees, and how it travelled.

    Addresses are lower-case; text fields are decoded to str. See
    shingles/parse.py for how each field is found.
    """

    source: str
    message_id: str | None
    date: datetime | None
    subject: str
    from_addr: str | None
    from_domain: str | None
    envelope_sender: str | None
    helo: str | None
    recipients: tuple[str, ...]
    source_ip: str | None
    hops: tuple[Hop, ...]
    spf: str | None
    dkim: str | None
    dmarc: str | None
    dkim_domains: tuple[str, ...]
    spf_domain: str | None
    bulk_signs: frozenset[str]
    x_mailer: str | None
    header_names: tuple[str, ...]
    text: str
    quoted: str
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]
    in_reply_to: str | None
    references: tuple[str, ...]
    size: int = 0
    automatic: str | None = None  # why it is automatic mail (an auto-reply, a bounce ...)
    content_type: str | None = None  # the top-level Content-Type field, decoded

    @classmethod
    def of(cls, fields: dict[str, Any]) -> Mail:
        """Return the record of fields, each field given by name: what Mail(**fields)
        gives, at a tenth of the cost.

        A frozen dataclass's __init__ sets each field through object.__setattr__:
        for Mail's 28, 3.3 us a message (1.5% of the whole path); parsing builds
        every record this way.

        Raises:
            TypeError: if a field is missing or fields names one Mail has not.
        """
        if fields.keys() != _MAIL_FIELDS:
            raise TypeError(f"Mail fields missing {sorted(_MAIL_FIELDS - fields.keys())}, "
                            f"unknown {sorted(fields.keys() - _MAIL_FIELDS)}")
        mail = object.__new__(cls)
        mail.__dict__.update(fields)
        return mail

    # Computed when asked, not at parse: only a store with a trace threshold reads it.
    @functools.cached_property
    def trace(self) -> str | None:
        """Return the sending software's header trace (shingles.mail.trace), None without
        header fields."""
        if not self.header_names:
            return None
        return header_trace(self.header_names, self.message_id, self.x_mailer,
                            self.content_type, self.from_domain)

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict (dates in ISO 8601, sets sorted)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["date"] = self.date.isoformat() if self.date else None
        out["hops"] = [hop.to_json() for hop in self.hops]
        out["attachments"] = [dataclasses.asdict(a) for a in self.attachments]
        out["bulk_signs"] = sorted(self.bulk_signs)
        out["trace"] = self.trace
        for name in ("recipients", "dkim_domains", "header_names", "defects", "references"):
            out[name] = list(out[name])
        return out


_MAIL_FIELDS = frozenset(field.name for field in dataclasses.fields(Mail))


@dataclasses.dataclass(frozen=True)
class MailError:
    """A message (or a whole input) that could not be read or parsed: where, and why.

    Readers yield it in place of a Mail, so one bad message never stops a stream.
    """

    source: str
    error: str
    message_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict with ``source``, ``message_id``, ``error``."""
        return {"source": self.source, "message_id": self.message_id, "error": self.error}


#: The contract's other name for a parse failure record.
ParseError = MailError
