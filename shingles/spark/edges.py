"""Candidate edges between messages that share an index key, as the store's mode decides.

Paper mode: a shared mega-shingle or I-Match signature links two messages
outright. Each key's bucket becomes a star: every member is linked to the
bucket's smallest id, so a key shared by 100k messages gives 100k edges, not
5 billion, and the connected components are the same as with every pair.

Recall mode: a shared LSH band only names candidates; the store confirms one
when the message's min-hashes agree with one of the mailing's first
``representatives`` messages in ``threshold`` of places. Here each member of a
band bucket (in id order) is compared, by the store's own ``resembles``, with
the bucket's first ``representatives`` members and with the member just before
it, and linked to those it resembles: at most representatives + 1 comparisons
a member, however large the bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from shingles.config import StoreSettings

__all__ = ["confirm_bucket", "edges"]


def edges(spark: Any, keyed: Any, settings: StoreSettings, minhashes: Any = None) -> Any:
    """Return a DataFrame of edges (src, dst), src > dst, from rows (id, key).

    In recall mode minhashes is a DataFrame (id, minhashes) of the messages.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    bucket = Window.partitionBy("key")
    if settings.mode == "paper":
        star = keyed.select("id", F.min("id").over(bucket).alias("root"))
        return (star.where(F.col("id") != F.col("root"))
                .select(F.col("id").alias("src"), F.col("root").alias("dst")).distinct())
    # Buckets of one message (most band keys) need no comparison: drop them before
    # the 672 bytes of min-hashes join the few keys that are shared.
    shared = (keyed.withColumn("n", F.count("id").over(bucket)).where(F.col("n") > 1)
              .join(minhashes, "id").select("key", "id", "minhashes"))
    reps, threshold = settings.representatives, settings.threshold
    pairs = (shared.rdd.map(lambda row: (bytes(row[0]), (row[1], bytes(row[2]))))
             .groupByKey()
             .flatMap(lambda bucket: confirm_bucket(bucket[1], reps, threshold)))
    schema = "src long, dst long"
    return spark.createDataFrame(pairs, schema).distinct()


def confirm_bucket(members: Iterable[tuple[int, bytes]], representatives: int,
                   threshold: float) -> Iterator[tuple[int, int]]:
    """Yield (member, earlier member) for each confirmed candidate of one band bucket."""
    from shingles.spark.keys import resembles

    ordered = sorted(members)
    for i in range(1, len(ordered)):
        ident, mine = ordered[i]
        targets = set(range(min(i, representatives)))
        targets.add(i - 1)
        for j in sorted(targets):
            other, theirs = ordered[j]
            # The store's test takes a representatives record: a version byte first.
            if other != ident and resembles(b"\x01" + theirs, mine, threshold):
                yield ident, other
