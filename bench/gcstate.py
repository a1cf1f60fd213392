"""The garbage collector as a store Session runs it, for the peers timed beside it.

A Session (shingles.store.writer) turns the collector off while it runs and
collects the young generations after each commit (everything once
FULL_COLLECTION_EVERY full batches' worth of messages were committed). A peer timed with the collector on would pay
for collections ours skips, so the benches run every side's loop in this one
regime: `with SessionGC() as gc_state: ... gc_state.tick()` once a message.
"""

from __future__ import annotations

import gc
from types import TracebackType

from shingles.config import StoreSettings
from shingles.store.writer import Session

__all__ = ["SessionGC"]


class SessionGC:
    """Collector off, a young collection every `batch` messages, a full one every
    Session.FULL_COLLECTION_EVERY of those: what a store Session does."""

    def __init__(self, batch: int = StoreSettings().batch_size) -> None:
        self.batch = batch
        self.count = 0
        self.batches = 0
        self._was_enabled = False

    def __enter__(self) -> SessionGC:
        self._was_enabled = gc.isenabled()
        gc.disable()
        return self

    def tick(self) -> None:
        """Count one message; collect as a Session would at a commit."""
        self.count += 1
        if self.count % self.batch == 0:
            self.batches += 1
            gc.collect(2 if self.batches % Session.FULL_COLLECTION_EVERY == 0 else 1)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._was_enabled:
            gc.enable()
