"""Prometheus metrics of a running server, in a registry of its own."""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

__all__ = ["Metrics"]

# The *_created series (a timestamp per label set) double the scrape for nothing here.
disable_created_metrics()

#: Decision latency buckets (seconds): the targets are 20 ms (HTTP) and 50 ms (milter).
_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The counters ``GET /metrics`` shows; safe to update from any thread."""

    def __init__(self, store_path: str, queue_depth: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter("shingles_messages", "Messages judged, by verdict and front end",
                                ["verdict", "front"], registry=self.registry)
        self.rejected = Counter("shingles_rejected_requests",
                                "Requests refused before judging, by reason", ["reason"],
                                registry=self.registry)
        self.latency = Histogram("shingles_decision_seconds",
                                 "From a message fully received to its committed verdict",
                                 ["front"], buckets=_BUCKETS, registry=self.registry)
        self.groups = Counter("shingles_commit_groups", "Groups committed by the writer",
                              registry=self.registry)
        self.group_size = Histogram("shingles_commit_group_messages", "Messages per group",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
                                    registry=self.registry)
        self.rescanned = Counter("shingles_rescanned", "Held verdicts changed by the rescan clock",
                                 ["verdict"], registry=self.registry)
        depth = Gauge("shingles_queue_depth", "Messages waiting for the writer",
                      registry=self.registry)
        depth.set_function(lambda: float(queue_depth()))
        size = Gauge("shingles_store_bytes", "Size of the store's data file",
                     registry=self.registry)
        data = os.path.join(store_path, "data.mdb")
        size.set_function(lambda: float(os.path.getsize(data)) if os.path.exists(data) else 0.0)

    def group(self, messages: int, seconds: float) -> None:
        self.groups.inc()
        self.group_size.observe(messages)

    def text(self) -> bytes:
        """Return the metrics in Prometheus text format."""
        return generate_latest(self.registry)
