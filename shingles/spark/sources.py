"""Where the job's messages come from: local mail, Hadoop URIs, or tables of raw messages.

The driver only plans: it lists local inputs into units (a file, or a maildir)
and never reads a message. Executors read:

- a local unit with the project's own reader (``shingles.mail.read.read_raw``:
  mbox plain or compressed, maildir, .eml), streaming, so an mbox of any size
  is split in flat memory (local paths must be visible to every executor: one
  machine, or a shared file system);
- a Hadoop-compatible URI (hdfs://, s3a://, file://, ...) with
  ``SparkContext.binaryFiles``, each file's bytes then split by the same reader;
- a Parquet or JSON table with Spark's readers: one message per row, an id
  column (the message's source) and a raw column (bytes or text).

Every message gets a 64-bit id that follows input order: the unit number in the
high bits (inputs in the order given, files in sorted order), the message's
place in its unit in the low ``SEQ_BITS``. Ids decide which copy is a
mailing's first, as arrival order does in the store.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from shingles.config import Config
from shingles.mail.records import MailError

__all__ = ["SEQ_BITS", "Unit", "plan", "raw_messages"]

#: Low bits of a message id: its place in its unit (2^40 messages per unit).
SEQ_BITS = 40
#: Units set aside for each URI or table input (one per Spark partition of it).
_UNITS_PER_INPUT = 1 << 16
_TABLES = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".ndjson": "json"}


def _kind(path: str) -> str:
    """Return "parquet", "json", "uri" or "local" for one input."""
    bare = path.rstrip("/")
    table = _TABLES.get(os.path.splitext(bare)[1].lower())
    if table is not None:
        return table
    if "://" in path:
        return "uri"
    return "local"


Unit = tuple[int, str, str]  # (unit number, kind, path)


def plan(inputs: Sequence[str]) -> list[Unit]:
    """Return the units to read, in input order; local folders are listed as read_raw walks them.

    Raises:
        FileNotFoundError: if a local input does not exist.
    """
    units: list[Unit] = []
    number = 0
    for path in inputs:
        kind = _kind(path)
        if kind != "local":
            # Whole inputs: Spark splits them; their units are numbered per partition.
            number = (number // _UNITS_PER_INPUT + 1) * _UNITS_PER_INPUT
            units.append((number, kind, path))
            number += _UNITS_PER_INPUT
            continue
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such input: {path}")
        for local in _local_units(path):
            units.append((number, "local", local))
            number += 1
    return units


def _local_units(path: str) -> Iterator[str]:
    """Yield the files and maildirs under path in the order the reader walks them."""
    if not os.path.isdir(path) or _is_maildir(path):
        yield path
        return
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        if folder != path and _is_maildir(folder):
            dirs.clear()
            yield folder
            continue
        for name in sorted(files):
            yield os.path.join(folder, name)


def _is_maildir(path: str) -> bool:
    return all(os.path.isdir(os.path.join(path, sub)) for sub in ("cur", "new"))


def _numbered(unit: int, items: Iterable[Any]) -> Iterator[tuple[int, str, bytes | None,
                                                                  str | None]]:
    """Yield (id, source, bytes or None, error or None) of each reader record of a unit."""
    from shingles.mail.read import RawMessage

    for seq, item in enumerate(items):
        ident = (unit << SEQ_BITS) | seq
        if isinstance(item, MailError):
            yield ident, item.source, None, item.error
        else:
            assert isinstance(item, RawMessage)
            yield ident, item.source, item.data, None


def _read_local(unit: Unit, config: Config) -> Iterator[tuple[int, str, bytes | None,
                                                              str | None]]:
    from shingles.mail.read import read_raw

    number, _, path = unit
    yield from _numbered(number, read_raw(path, config.limits))


def raw_messages(spark: Any, units: list[Unit], config: Config,
                 id_column: str, raw_column: str) -> Any:
    """Return an RDD of (id, source, raw bytes or None, error or None), one per message."""
    sc = spark.sparkContext
    parts = []
    local = [u for u in units if u[1] == "local"]
    if local:
        # One task per unit: a compressed mbox is read by one reader, in order.
        parts.append(sc.parallelize(local, len(local))
                     .flatMap(lambda unit: _read_local(unit, config)))
    for number, kind, path in units:
        if kind == "uri":
            files = sc.binaryFiles(path)
            parts.append(files.mapPartitionsWithIndex(
                lambda index, items, base=number: _read_files(base + index, items, config)))
        elif kind in ("parquet", "json"):
            table = getattr(spark.read, kind)(path)
            rows = table.select(table[id_column].cast("string"), table[raw_column]).rdd
            parts.append(rows.mapPartitionsWithIndex(
                lambda index, items, base=number: _table_rows(base + index, items, config)))
    if not parts:
        return sc.emptyRDD()
    return parts[0] if len(parts) == 1 else sc.union(parts)


def _read_files(unit: int, files: Iterable[tuple[str, bytes]], config: Config,
                ) -> Iterator[tuple[int, str, bytes | None, str | None]]:
    """Split each (URI, bytes) of a binaryFiles partition with the project's reader."""
    from shingles.mail.read import read_raw

    def records() -> Iterator[Any]:
        for uri, data in files:
            stream = io.BytesIO(data)
            stream.name = uri  # read_raw names messages after it
            yield from read_raw(stream, config.limits)

    yield from _numbered(unit, records())


def _table_rows(unit: int, rows: Iterable[Any], config: Config,
                ) -> Iterator[tuple[int, str, bytes | None, str | None]]:
    """Number the rows of a table partition; a missing or oversized raw message is an error."""
    limit = config.limits.max_message_bytes
    for seq, (source, raw) in enumerate(rows):
        ident = (unit << SEQ_BITS) | seq
        source = source if source is not None else f"row:{ident}"
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        if raw is None:
            yield ident, source, None, "no raw message in this row"
        elif len(raw) > limit:
            yield ident, source, None, f"message larger than {limit} bytes; skipped"
        else:
            yield ident, source, bytes(raw), None
