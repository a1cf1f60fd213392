"""Wiring of the stages for library users: parsed mail -> fingerprint -> store.

Reading and parsing are ``shingles.mailio``'s job; this module takes its
stream of ``Mail`` and ``MailError`` records, so the same loop serves files,
stdin and a caller's own source.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from shingles._backend import BackendName
from shingles.fingerprint import fingerprint
from shingles.lexicon import Lexicon
from shingles.scheme import DEFAULT_SCHEME, Scheme
from shingles.store import IngestSummary, MailLike, Store

__all__ = ["ErrorRecord", "IngestReport", "ingest"]


class ErrorRecord(Protocol):
    """What ingest needs of a reader's error record (``shingles.mail.MailError``)."""

    @property
    def source(self) -> str: ...

    @property
    def error(self) -> str: ...


@dataclasses.dataclass(frozen=True)
class IngestReport:
    """What one ingest run did.

    Attributes:
        summary: The store session's counts (messages, added, duplicates, ...).
        errors: Inputs or messages the reader could not read or parse.
        seconds: Wall-clock time of the run.
    """

    summary: IngestSummary
    errors: int
    seconds: float

    def to_json(self) -> dict[str, object]:
        """Return the report as JSON-ready data."""
        rate = self.summary.messages / self.seconds if self.seconds else 0.0
        return {**dataclasses.asdict(self.summary), "errors": self.errors,
                "seconds": round(self.seconds, 3), "messages_per_second": round(rate, 1)}


def ingest(store: Store, records: Iterable[MailLike | ErrorRecord], *,
           scheme: Scheme = DEFAULT_SCHEME, lexicon: Lexicon | None = None,
           backend: BackendName = "auto",
           on_error: Callable[[ErrorRecord], None] | None = None,
           on_message: Callable[[], None] | None = None) -> IngestReport:
    """Return what filing every readable message of records into store did.

    Records with an ``error`` attribute (the reader's error records) go to
    on_error and are counted; the rest are fingerprinted and added in one
    store session, which commits every batch and at the end.

    Raises:
        SchemeMismatchError: if scheme or lexicon is not the store's.
        StoreFullError: if the store's map may not grow any further.
    """
    started = time.perf_counter()
    errors = 0
    with store.session() as session:
        for record in records:
            if hasattr(record, "error"):
                errors += 1
                if on_error is not None:
                    on_error(record)  # type: ignore[arg-type]
            else:
                mail: MailLike = record
                session.add(mail, fingerprint(mail.text, scheme, lexicon, backend=backend))
            if on_message is not None:
                on_message()
    return IngestReport(session.summary, errors, time.perf_counter() - started)
