"""Stubs of the compiled store loops (ext/_store.pyx); the twins are documented in
shingles.store.retention.walk_py and shingles.store.writer.probe_py."""

from collections.abc import Sequence
from typing import Any

def walk(cursor: Any, budget: int, hour_at: int, cutoff: int) -> list[tuple[bytes, bytes]]: ...
def probe(txn: Any, db: Any, pending: dict[bytes, bytes], keys: Sequence[bytes],
          olds: list[int], hours: list[int], floor: int) -> None: ...
