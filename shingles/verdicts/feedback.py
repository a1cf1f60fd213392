"""Feedback from users and reports: complaints, corrections and ARF reports.

What ``sa-learn``, ``rspamc fuzzy_add`` or ``pyzor report`` do for their
filters, ``shingles report`` does for mailings: a complaint (``--spam``) or an
RFC 5965 abuse report (``--arf``) adds to the mailing's complaint counter, a
correction (``--ham``, or an ARF report of type ``not-spam``) to its count of
users saying it is wanted. The verdict rules (shingles.verdicts.judge, rule 0)
read both at the next copy and at ``rescan``.

Each report leaves a mark in the verdicts database (the reported message's
key and the kind), so replaying the same report counts once. An ARF report's
original is found by its fingerprint, so reports without a Message-ID work.
Complaints live in the mailing's statistics and follow it through merges;
corrections are counted on the mailing id the report found, so a correction on a
mailing that later merges into another stays with the old id.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
from collections.abc import Iterable, Iterator
from email.message import Message
from typing import Any, Literal

from shingles.fingerprint import fingerprint
from shingles.mail.read import Input, RawMessage, parse_record, read_raw
from shingles.mail.records import MailError
from shingles.verdicts.layout import pack_verdict, unpack_verdict
from shingles.store.keys import message_key
from shingles.store.writer import Session
from shingles.verdicts.engine import FEEDBACK, Engine, corrections_key

__all__ = ["Kind", "Report", "report_messages", "report_arf"]

Kind = Literal["spam", "ham"]
#: RFC 5965 / RFC 6650 feedback types that say the mail was wanted; the others
#: (abuse, fraud, virus, other) count as complaints.
_WANTED_TYPES = frozenset({"not-spam"})


@dataclasses.dataclass(frozen=True)
class Report:
    """What one report did.

    Attributes:
        report: What was reported: a Message-ID or source, or the ARF report's source.
        kind: "spam" (a complaint) or "ham" (a correction: the mailing is wanted).
        mailing: The mailing it counted on, or None.
        counted: False when the same report was counted before (or it failed).
        error: Why nothing could be counted, or None.
    """

    report: str
    kind: Kind
    mailing: int | None
    counted: bool
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the report's outcome as JSON-ready data."""
        return dataclasses.asdict(self)


def _count(session: Session, mailing: int, kind: Kind, mark: bytes) -> tuple[int, bool]:
    """Count one report on mailing unless mark was counted; return (mailing root, counted)."""
    view = session.mailing(mailing)
    if view is None:
        raise KeyError(f"mailing {mailing} is gone (expired by retention_days)")
    if session.get("verdicts", mark) is not None:
        return view.id, False
    hour = int(session.now.timestamp()) // 3600
    if kind == "spam":
        session.bump(view.id, complaints=1)
    else:
        key = corrections_key(view.id)
        raw = session.get("verdicts", key)
        count = int(unpack_verdict(bytes(raw))["corrections"]) if raw is not None else 0
        session.put("verdicts", key, pack_verdict(hour, {"corrections": count + 1}))
    session.put("verdicts", mark, pack_verdict(hour, {"kind": kind, "mailing": view.id}))
    return view.id, True


def report_messages(engine: Engine, messages: Iterable[str], kind: Kind) -> list[Report]:
    """Count a complaint or correction on the mailing of each scanned message.

    messages: Message-IDs (with or without angle brackets) or sources, as
    ``Engine.find`` takes them.
    """
    done = []
    with engine.store.session() as session:
        for message in messages:
            try:
                key, record = engine.find(message)
            except KeyError as exc:
                done.append(Report(message, kind, None, False, str(exc.args[0])))
                continue
            if record.get("mailing") is None:
                done.append(Report(message, kind, None, False,
                                   "the message has no signature (too short): it is in no "
                                   "mailing to report"))
                continue
            try:
                mailing, counted = _count(session, record["mailing"], kind,
                                          FEEDBACK + kind.encode() + b":" + key)
            except KeyError as exc:
                done.append(Report(message, kind, None, False, str(exc.args[0])))
                continue
            done.append(Report(message, kind, mailing, counted))
    return done


def _original(report: Message) -> tuple[bytes | None, Kind]:
    """Return (the reported message's bytes, or its headers only; the kind) of an ARF
    report (RFC 5965: multipart/report with message/feedback-report)."""
    kind: Kind = "spam"
    original: bytes | None = None
    for part in report.walk():
        ctype = part.get_content_type()
        if ctype == "message/feedback-report":
            fields = part.get_payload()
            text = (fields[0].as_string() if isinstance(fields, list) and fields
                    and isinstance(fields[0], Message) else str(fields or ""))
            for line in text.splitlines():
                name, _, value = line.partition(":")
                if name.strip().lower() == "feedback-type":
                    kind = "ham" if value.strip().lower() in _WANTED_TYPES else "spam"
        elif ctype == "message/rfc822" and original is None:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original = inner[0].as_bytes(policy=email.policy.compat32)
        elif ctype == "text/rfc822-headers" and original is None:
            payload = part.get_payload(decode=True)
            original = payload if isinstance(payload, bytes) else None
    return original, kind


def report_arf(engine: Engine, inputs: Input | Iterable[Input]) -> Iterator[Report | MailError]:
    """Count each RFC 5965 feedback report of inputs (mbox, maildir, .eml) on the
    mailing its original message matches (by fingerprint; by Message-ID when the
    report carries only the original's headers)."""
    with engine.store.session() as session:
        for item in read_raw(inputs, engine.config.limits):
            if isinstance(item, MailError):
                yield item
                continue
            yield _arf_one(engine, session, item)


def _arf_one(engine: Engine, session: Session, item: RawMessage) -> Report:
    report = email.message_from_bytes(item.data, policy=email.policy.compat32)
    if report.get_content_type() != "multipart/report":
        return Report(item.source, "spam", None, False, "not a feedback report "
                      "(multipart/report with message/feedback-report)")
    raw, kind = _original(report)
    if not raw:
        return Report(item.source, kind, None, False, "the report carries no original message")
    mail = parse_record(RawMessage(f"{item.source}#original", raw), engine.config)
    if isinstance(mail, MailError):
        return Report(item.source, kind, None, False, f"original unreadable: {mail.error}")
    fp = fingerprint(mail.text, engine.scheme, engine.lexicon, backend=engine.backend)
    mailing = engine.store.lookup(fp)
    # A scanned message is marked as --spam/--ham mark it, so reporting it both
    # ways counts once; others by their content (message_key: no Message-ID needed).
    mark = FEEDBACK + b"arf-" + kind.encode() + b":" + message_key(mail)
    if mail.message_id:
        try:
            key, record = engine.find(mail.message_id)
        except KeyError:
            pass
        else:
            mark = FEEDBACK + kind.encode() + b":" + key
            mailing = mailing if mailing is not None else record.get("mailing")
    if mailing is None:
        return Report(item.source, kind, None, False,
                      "the reported message matches no mailing in the store")
    try:
        root, counted = _count(session, mailing, kind, mark)
    except KeyError as exc:
        return Report(item.source, kind, None, False, str(exc.args[0]))
    return Report(item.source, kind, root, counted)
