"""What an executor makes of raw messages: one row per message, by the project's own code.

Runs inside ``mapPartitions``: the reader's parser (``shingles.mail``), the
compiled fingerprint core and the store's index keys, once per message, with no
per-row Python UDF. Nothing here touches Spark; rows are plain tuples in the
order of ``COLUMNS`` so the driver can name them with a schema.

A message that cannot be read or parsed, or whose parsing raises, becomes a row
with ``error`` set: bad mail is counted and written out, never fatal.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from shingles.config import Config, StoreSettings
from shingles.fingerprint import fingerprint
from shingles.lexicon import Lexicon
from shingles.mail.identity import authenticates
from shingles.mail.read import RawMessage, parse_record
from shingles.mail.records import MailError
from shingles.scheme import Scheme
from shingles.spark.keys import keys_of, message_key, network, tagged

__all__ = ["COLUMNS", "RawRow", "Recipe", "message_rows"]

#: (id, source, raw bytes or None, reader error or None): a message as read.
RawRow = tuple[int, str, "bytes | None", "str | None"]

#: The columns of a message row, in order (see message_rows).
COLUMNS = ("id", "source", "message_id", "mkey", "keys", "minhashes", "date", "subject",
           "ip", "net", "domain", "recipients", "spf", "dkim", "dmarc", "bulk_signs",
           "authenticated", "error")

#: Dates before this (Y2K-buggy years such as 0102) are not believed, as in the store.
_PLAUSIBLE_FROM = datetime(1995, 1, 1, tzinfo=timezone.utc).timestamp()


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything an executor needs to turn raw bytes into rows (pickled to each task).

    Attributes:
        config: Trusted zone and limits the parser reads mail with.
        scheme: Fingerprint scheme (the store's for the matching mode).
        lexicon: I-Match lexicon, or None.
        store: Matching mode and its parameters (which index keys a message has).
    """

    config: Config
    scheme: Scheme
    lexicon: Lexicon | None
    store: StoreSettings


def message_rows(records: Iterable[RawRow], recipe: Recipe) -> Iterator[tuple[Any, ...]]:
    """Yield a row (see COLUMNS) for each raw message; errors become rows with ``error``."""
    recall = recipe.store.mode == "recall"
    for ident, source, raw, error in records:
        if raw is None:
            yield _error_row(ident, source, error or "unreadable")
            continue
        try:
            yield _row(ident, source, raw, recipe, recall)
        except Exception as exc:  # noqa: BLE001 - one message, never the whole job
            yield _error_row(ident, source, f"internal error: {type(exc).__name__}: {exc}")


def _error_row(ident: int, source: str, error: str) -> tuple[Any, ...]:
    return (ident, source, None, None, [], None, None, None, None, None, None, [], None, None,
            None, [], False, error)


def _row(ident: int, source: str, raw: bytes, recipe: Recipe, recall: bool) -> tuple[Any, ...]:
    mail = parse_record(RawMessage(source, raw), recipe.config)
    if isinstance(mail, MailError):
        return _error_row(ident, source, mail.error)
    fp = fingerprint(mail.text, recipe.scheme, recipe.lexicon)
    keys = tagged(keys_of(fp, recipe.store))
    # The store's sender domain: From, else the envelope sender's.
    domain = mail.from_domain
    if not domain and mail.envelope_sender and "@" in mail.envelope_sender:
        domain = mail.envelope_sender.rpartition("@")[2]
    date = mail.date.timestamp() if mail.date is not None else None
    if date is not None and not _PLAUSIBLE_FROM <= date <= time.time() + 86400:
        date = None
    ip = mail.source_ip or None
    return (ident, source, mail.message_id, message_key(mail), keys,
            fp.minhash_bytes if recall and keys else None,
            int(date) if date is not None else None, mail.subject, ip,
            network(ip) if ip else None, domain.lower() if domain else None,
            [r.lower() for r in mail.recipients], mail.spf, mail.dkim, mail.dmarc,
            sorted(mail.bulk_signs),
            authenticates(mail.spf, mail.spf_domain, mail.dkim, mail.dkim_domains, domain),
            None)
