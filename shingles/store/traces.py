"""Header traces per mailing, and the resemblance a recall candidate needs given them.

A recall-mode candidate (named by a shared LSH band) is confirmed when its
resemblance reaches ``StoreSettings.threshold``; when the message was written by
the same software as the candidate mailing's copies (their header traces agree,
shingles.mail.trace) ``StoreSettings.trace_threshold``, lower, is enough. The
trace never names a candidate itself: only text signatures do.

Record in the "traces" database, key the mailing id (cluster.ID): a version byte,
then up to MAX_TRACES distinct 8-byte traces, the first seen kept.
"""

from __future__ import annotations

from typing import Any

from shingles.config import StoreSettings
from shingles.store.cluster import ID
from shingles.errors import StoreFormatError
from shingles.store.layout import RECORD_VERSION, Database

__all__ = ["DATABASE", "DATABASES", "MAX_TRACES", "keep_trace", "merge", "threshold_for",
           "trace_key", "unpack_traces"]

#: The database this module keeps (listed in the store's databases).
DATABASE = "traces"
#: Distinct traces kept per mailing: a campaign sent by a few programs keeps them all,
#: and a mailing glued from many senders cannot grow its record without bound.
MAX_TRACES = 8


def unpack_traces(data: bytes) -> list[bytes]:
    """Return the traces of a record; raise StoreFormatError if it is not one."""
    if not data or data[0] != RECORD_VERSION or (len(data) - 1) % 8 \
            or len(data) > 1 + 8 * MAX_TRACES:
        raise StoreFormatError("traces record of unknown version or length")
    return [bytes(data[i:i + 8]) for i in range(1, len(data), 8)]


#: The store opens it when its settings use traces (not swept: it goes with its mailing).
DATABASES = (Database(DATABASE, decode=unpack_traces),)


def trace_key(trace: str | None) -> bytes | None:
    """Return a Mail.trace (16 hex digits) as the 8 bytes stored, or None."""
    if not trace:
        return None
    try:
        return bytes.fromhex(trace)
    except ValueError:
        return None


def _has(record: bytes | None, trace: bytes) -> bool:
    if not record or record[0] != RECORD_VERSION:
        return False
    return any(record[i:i + 8] == trace for i in range(1, len(record), 8))


def threshold_for(txn: Any, db: Any, root: int, trace: bytes | None,
                  settings: StoreSettings) -> float:
    """Return the resemblance a candidate mailing root needs from a message with trace."""
    if settings.trace_threshold is None or trace is None or db is None:
        return settings.threshold
    if _has(txn.get(ID.pack(root), db=db), trace):
        return settings.trace_threshold
    return settings.threshold


def keep_trace(txn: Any, db: Any, mailing: int, trace: bytes | None,
               settings: StoreSettings) -> None:
    """Add trace to the mailing's traces (when the settings use traces and there is room)."""
    if settings.trace_threshold is None or trace is None or db is None:
        return
    key = ID.pack(mailing)
    raw = txn.get(key, db=db)
    record = bytes(raw) if raw is not None else bytes([RECORD_VERSION])
    if _has(record, trace) or len(record) >= 1 + 8 * MAX_TRACES:
        return
    txn.put(key, record + trace, db=db)


def merge(txn: Any, db: Any, loser: int, winner: int) -> None:
    """Move the traces of a mailing merged into another to the survivor (as many as fit)."""
    if db is None:
        return
    raw = txn.get(ID.pack(loser), db=db)
    if raw is None:
        return
    txn.delete(ID.pack(loser), db=db)
    theirs = bytes(raw)
    if theirs[:1] != bytes([RECORD_VERSION]):
        return
    mine = txn.get(ID.pack(winner), db=db)
    record = bytes(mine) if mine is not None else bytes([RECORD_VERSION])
    for i in range(1, len(theirs), 8):
        trace = theirs[i:i + 8]
        if len(record) >= 1 + 8 * MAX_TRACES:
            break
        if not _has(record, trace):
            record += trace
    txn.put(ID.pack(winner), record, db=db)
