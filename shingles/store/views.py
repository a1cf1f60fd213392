"""What the store hands out (``Mailing``, ``MessageRef``, ``IngestSummary``) and what it
reads of a message (``MailLike``)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any, Protocol

from shingles.store.layout import AUTH_RESULTS, BULK_SIGNS, Stats

__all__ = ["IngestSummary", "MailLike", "Mailing", "MessageRef"]


class MailLike(Protocol):
    """The fields of ``shingles.mail.records.Mail`` the store reads (read-only, as in the frozen record)."""

    @property
    def source(self) -> str: ...

    @property
    def message_id(self) -> str | None: ...

    @property
    def date(self) -> datetime | None: ...

    @property
    def subject(self) -> str: ...

    @property
    def from_domain(self) -> str | None: ...

    @property
    def envelope_sender(self) -> str | None: ...

    @property
    def recipients(self) -> tuple[str, ...]: ...

    @property
    def source_ip(self) -> str | None: ...

    @property
    def spf(self) -> str | None: ...

    @property
    def dkim(self) -> str | None: ...

    @property
    def dmarc(self) -> str | None: ...

    @property
    def bulk_signs(self) -> frozenset[str]: ...

    @property
    def text(self) -> str: ...

    @property
    def quoted(self) -> str: ...


@dataclasses.dataclass(frozen=True)
class Mailing:
    """One mailing's statistics, as of the last commit.

    Attributes:
        id: The mailing id (the root of its merged set).
        size: Messages in the mailing.
        merged: Mailings merged into this one.
        first_seen, last_seen: Earliest and latest message time.
        distinct_ips: Distinct source IPs; exact unless ``ips_estimated``.
        distinct_networks: Distinct /24 networks (/48 for IPv6); exact unless
            ``networks_estimated``.
        sender_domains: (domain, messages), most frequent first, up to 8.
        other_domains: Messages from sender domains beyond those 8.
        spf, dkim, dmarc: (result, messages) for each result seen; "other" is
            an unknown word, "missing" no result.
        bulk_signs: (sign, messages) for the honest-bulk signs seen.
        recipients: Recipient addresses over all messages.
        distinct_recipients: Distinct recipient addresses (estimated past 32).
        subject, message_id: Of the representative (first) message.
        complaints, traps: Counters bumped through ``Store.bump``.
        authenticated_networks: Distinct /24 networks of the copies that
            authenticate for their sending domain (SPF pass or DKIM pass, aligned).
        other_networks: Distinct /24 networks of the other copies. Verdicts judge
            each identity's spread apart (see shingles.verdicts.judge).
    """

    id: int
    size: int
    merged: int
    first_seen: datetime | None
    last_seen: datetime | None
    distinct_ips: int
    ips_estimated: bool
    distinct_networks: int
    networks_estimated: bool
    sender_domains: tuple[tuple[str, int], ...]
    other_domains: int
    spf: tuple[tuple[str, int], ...]
    dkim: tuple[tuple[str, int], ...]
    dmarc: tuple[tuple[str, int], ...]
    bulk_signs: tuple[tuple[str, int], ...]
    recipients: int
    distinct_recipients: int
    subject: str
    message_id: str | None
    complaints: int
    traps: int
    authenticated_networks: int = 0
    other_networks: int = 0

    @classmethod
    def from_stats(cls, mailing: int, stats: Stats) -> Mailing:
        """Return the public view of a statistics record."""
        names = (*AUTH_RESULTS, "other", "missing")

        def results(counts: list[int]) -> tuple[tuple[str, int], ...]:
            return tuple((name, n) for name, n in zip(names, counts) if n)

        def when(seconds: int) -> datetime | None:
            return datetime.fromtimestamp(seconds, timezone.utc) if stats.size else None

        return cls(
            id=mailing, size=stats.size, merged=stats.merged,
            first_seen=when(stats.first_seen), last_seen=when(stats.last_seen),
            distinct_ips=stats.ips.count(), ips_estimated=stats.ips.estimated,
            distinct_networks=stats.nets.count(), networks_estimated=stats.nets.estimated,
            sender_domains=tuple(sorted(stats.domains.items(), key=lambda d: (-d[1], d[0]))),
            other_domains=stats.other_domains,
            spf=results(stats.spf), dkim=results(stats.dkim), dmarc=results(stats.dmarc),
            bulk_signs=tuple((s, n) for s, n in zip(BULK_SIGNS, stats.bulk) if n),
            recipients=stats.recipients, distinct_recipients=stats.rcpts.count(),
            subject=stats.subject, message_id=stats.message_id,
            complaints=stats.complaints, traps=stats.traps,
            authenticated_networks=stats.auth_nets.count(),
            other_networks=stats.anon_nets.count(),
        )

    def to_json(self) -> dict[str, Any]:
        """Return the mailing as JSON-ready data (times as ISO 8601, pairs as objects)."""
        data = dataclasses.asdict(self)
        for name in ("first_seen", "last_seen"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value else None
        for name in ("sender_domains", "spf", "dkim", "dmarc", "bulk_signs"):
            data[name] = dict(getattr(self, name))
        return data


@dataclasses.dataclass(frozen=True)
class MessageRef:
    """A message filed in a mailing: its Message-ID and where it was read from."""

    message_id: str | None
    source: str


@dataclasses.dataclass(frozen=True)
class IngestSummary:
    """What a session did, over its committed batches.

    Attributes:
        messages: Messages offered to ``add``.
        added: Messages filed (new to the store).
        duplicates: Messages already in the store (same Message-ID and body), or
            forgotten by retention within the last window (a tombstone).
        unsigned: Added messages too short for any signature (in no mailing).
        new_mailings: Mailings started.
        merges: Mailings merged into others.
        batches: Transactions committed.
        expired_messages: Stored messages retention dropped (retention_days).
        expired_mailings: Mailings retention dropped whole.
    """

    messages: int = 0
    added: int = 0
    duplicates: int = 0
    unsigned: int = 0
    new_mailings: int = 0
    merges: int = 0
    batches: int = 0
    expired_messages: int = 0
    expired_mailings: int = 0

    def __add__(self, other: IngestSummary) -> IngestSummary:
        # Field by field: astuple's deep copy cost more than a server's group commit.
        return IngestSummary(*(getattr(self, name) + getattr(other, name)
                               for name in _SUMMARY_FIELDS))


_SUMMARY_FIELDS = tuple(field.name for field in dataclasses.fields(IngestSummary))
