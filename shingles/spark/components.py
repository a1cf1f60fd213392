"""Connected components by large-star / small-star, in Spark DataFrames.

Kiveris, Lattanzi, Mirrokni, Rastogi, Vassilvitskii, "Connected Components in
MapReduce and Beyond" (SoCC 2014): alternate two rounds that each move a
node's edges onto the smallest id of its neighbourhood, until the graph is a
forest of stars, each star one component centred on its smallest id. It needs
O(log^2 n) rounds at worst, a handful in practice. Every round is a few
shuffles of the edge set; nothing is collected to the driver but counts.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

__all__ = ["Components", "connected_components"]


@dataclasses.dataclass(frozen=True)
class Components:
    """The result: ``labels`` (id, root) for every node that is not its own root.

    Attributes:
        labels: DataFrame (id long, root long); a node absent from it is a root.
        rounds: Large-star + small-star rounds run.
        seconds: Time per round.
    """

    labels: Any
    rounds: int
    seconds: tuple[float, ...]


def connected_components(edges: Any, max_rounds: int = 64) -> Components:
    """Return the components of an undirected graph given as edges (src, dst), src != dst.

    Raises:
        RuntimeError: if the graph is not a star forest after max_rounds rounds.
    """
    from pyspark.sql import functions as F

    current = edges.select(F.greatest("src", "dst").alias("src"),
                           F.least("src", "dst").alias("dst"))
    seconds = []
    for _ in range(max_rounds):
        started = time.perf_counter()
        current = _small_star(_large_star(current)).localCheckpoint()
        done = _is_star_forest(current)
        seconds.append(time.perf_counter() - started)
        if done:
            labels = current.select(F.col("src").alias("id"), F.col("dst").alias("root"))
            return Components(labels, len(seconds), tuple(seconds))
    raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")


def _large_star(edges: Any) -> Any:
    """Link every larger neighbour of each node to the smallest id around that node."""
    from pyspark.sql import functions as F

    both = edges.unionByName(edges.select(F.col("dst").alias("src"), F.col("src").alias("dst")))
    smallest = both.groupBy("src").agg(F.least(F.min("dst"), F.col("src")).alias("m"))
    return (both.where(F.col("dst") > F.col("src")).join(smallest, "src")
            .select(F.col("dst").alias("src"), F.col("m").alias("dst")).distinct())


def _small_star(edges: Any) -> Any:
    """Link each node and its smaller neighbours to the smallest of them."""
    from pyspark.sql import functions as F

    smallest = edges.groupBy("src").agg(F.min("dst").alias("m"))
    moved = (edges.join(smallest, "src").where(F.col("dst") != F.col("m"))
             .select(F.col("dst").alias("src"), F.col("m").alias("dst")))
    return moved.unionByName(smallest.select("src", F.col("m").alias("dst"))).distinct()


def _is_star_forest(edges: Any) -> bool:
    """Return whether every node points at one root and no root points anywhere (one job)."""
    from pyspark.sql import functions as F

    ends = edges.select(F.col("src").alias("node"), F.lit(1).alias("out"), F.lit(0).alias("in")
                        ).unionByName(edges.select(F.col("dst").alias("node"),
                                                   F.lit(0).alias("out"), F.lit(1).alias("in")))
    per = ends.groupBy("node").agg(F.sum("out").alias("out"), F.max("in").alias("in"))
    bad = per.where((F.col("out") > 1) | ((F.col("out") == 1) & (F.col("in") == 1)))
    return bad.limit(1).count() == 0
