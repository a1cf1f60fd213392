"""Mailing statistics as Spark aggregations, and optionally the judge's verdict on each.

The fields are those of ``shingles mailings --json`` (``shingles.store.Mailing``),
computed over every message of the mailing at once, so counts are exact where
the store estimates past 32 distinct values (``*_estimated`` are always false).
The store's ``merged`` (mailings merged on the way) has no meaning when all
messages are clustered at once and is left out; ``complaints`` and ``traps``
are 0, as an archive carries none. First and last seen come from the messages'
plausible Dates (the store uses its clock for a message without one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from shingles.config import JudgeSettings

__all__ = ["AUTH_RESULTS", "BULK_SIGNS", "TOP_DOMAINS", "mailing_stats", "verdict_rows"]

# The store's record order and names (shingles.store.layout); kept as data here so
# the driver's aggregations need not load the store.
AUTH_RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
BULK_SIGNS = ("list-unsubscribe", "list-unsubscribe-post", "list-id", "precedence-bulk",
              "feedback-id")
TOP_DOMAINS = 8


def _results(column: str) -> Any:
    """Return a map result -> messages (non-zero only) of an SPF/DKIM/DMARC column."""
    from pyspark.sql import functions as F

    word = F.lower(F.col(column))
    slot = (F.when(F.col(column).isNull(), "missing")
            .when(word.isin(*AUTH_RESULTS), word).otherwise("other"))
    names = (*AUTH_RESULTS, "other", "missing")
    counts = [F.sum(F.when(slot == name, 1).otherwise(0)) for name in names]
    pairs = [x for name, n in zip(names, counts) for x in (F.lit(name), n)]
    return F.map_filter(F.create_map(*pairs), lambda k, v: v > 0)


def _distinct(column: Any) -> Any:
    """Return the exact count of distinct non-null values of column in a group.

    A set per group rather than countDistinct: several countDistinct in one
    aggregation make Spark expand every row once per column.
    """
    from pyspark.sql import functions as F

    return F.size(F.collect_set(column))


def mailing_stats(members: Any, min_size: int) -> Any:
    """Return one row per mailing of at least min_size messages, from message rows with
    a ``mailing`` column (duplicates already left out)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    signs = [F.sum(F.when(F.array_contains("bulk_signs", s), 1).otherwise(0)) for s in BULK_SIGNS]
    sign_pairs = [x for name, n in zip(BULK_SIGNS, signs) for x in (F.lit(name), n)]
    first = F.min_by(F.struct("subject", "message_id"), "id")
    main = members.groupBy("mailing").agg(
        F.count("id").alias("size"),
        F.min("date").alias("first"), F.max("date").alias("last"),
        _distinct(F.col("ip")).alias("distinct_ips"),
        _distinct(F.col("net")).alias("distinct_networks"),
        F.sum(F.size("recipients")).alias("recipients"),
        _results("spf").alias("spf"), _results("dkim").alias("dkim"),
        _results("dmarc").alias("dmarc"),
        F.map_filter(F.create_map(*sign_pairs), lambda k, v: v > 0).alias("bulk_signs"),
        first.alias("first_message"),
        _distinct(F.when(F.col("authenticated"), F.col("net"))).alias("authenticated_networks"),
        _distinct(F.when(~F.col("authenticated"), F.col("net"))).alias("other_networks"),
        F.sum(F.col("authenticated").cast("int")).alias("authenticated_copies"),
    ).where(F.col("size") >= min_size)
    rcpts = (members.select("mailing", F.explode("recipients").alias("r"))
             .groupBy("mailing").agg(_distinct(F.col("r")).alias("distinct_recipients")))
    by_domain = (members.where(F.col("domain").isNotNull())
                 .groupBy("mailing", "domain").agg(F.count("id").alias("n")))
    rank = F.row_number().over(Window.partitionBy("mailing").orderBy(F.desc("n"), "domain"))
    # Most frequent first (ties by name), as the store ranks them.
    top = F.array_sort(F.collect_list(F.when(
        F.col("rank") <= TOP_DOMAINS, F.struct((-F.col("n")).alias("k"), "domain", "n"))))
    domains = by_domain.withColumn("rank", rank).groupBy("mailing").agg(
        F.map_from_entries(F.transform(top, lambda s: F.struct(s["domain"], s["n"])))
        .alias("x"),
        F.sum(F.when(F.col("rank") > TOP_DOMAINS, F.col("n")).otherwise(0)).alias("other_domains"))
    return _shape(main, rcpts, domains)


def _shape(main: Any, rcpts: Any, domains: Any) -> Any:
    from pyspark.sql import functions as F

    def iso(column: str) -> Any:
        # The job runs with the session time zone UTC (shingles.spark.job.run).
        return F.date_format(F.timestamp_seconds(F.col(column)), "yyyy-MM-dd'T'HH:mm:ss'+00:00'")

    joined = main.join(rcpts, "mailing", "left").join(domains, "mailing", "left")
    return joined.select(
        F.col("mailing").alias("id"), "size",
        iso("first").alias("first_seen"), iso("last").alias("last_seen"),
        "distinct_ips", F.lit(False).alias("ips_estimated"),
        "distinct_networks", F.lit(False).alias("networks_estimated"),
        F.coalesce(F.col("x"), F.create_map().cast("map<string,bigint>")).alias("sender_domains"),
        F.coalesce("other_domains", F.lit(0)).alias("other_domains"),
        "spf", "dkim", "dmarc", "bulk_signs",
        F.coalesce("recipients", F.lit(0)).alias("recipients"),
        F.coalesce("distinct_recipients", F.lit(0)).alias("distinct_recipients"),
        F.col("first_message.subject").alias("subject"),
        F.col("first_message.message_id").alias("message_id"),
        F.lit(0).alias("complaints"), F.lit(0).alias("traps"),
        "authenticated_networks", "other_networks", "authenticated_copies")


def verdict_rows(rows: Iterable[Any], settings: JudgeSettings) -> Iterator[tuple[Any, ...]]:
    """Yield (mailing id, verdicts as JSON) for mailing statistics rows.

    A mailing is judged once per sender identity it has copies of (copies that
    authenticate for their domain, and the others; see shingles.verdicts.judge),
    at its last message, as final verdicts (no hold: the archive is complete).
    Honest signs are those that at least half of the copies carry.
    """
    from shingles.verdicts.judge import MailingFacts, judge

    for row in rows:
        size = row["size"]
        first = _when(row["first_seen"])
        last = _when(row["last_seen"])
        spf = row["spf"] or {}
        failed = spf.get("fail", 0) + spf.get("softfail", 0)
        signs = tuple(sorted(s for s, n in (row["bulk_signs"] or {}).items() if 2 * n >= size))
        out = []
        authenticated = row["authenticated_copies"] or 0
        for identity, copies in ((True, authenticated), (False, size - authenticated)):
            if not copies:
                continue
            facts = MailingFacts(
                size=size, networks=row["authenticated_networks" if identity
                                        else "other_networks"],
                authenticated=identity, honest_signs=signs,
                spf_fail_share=failed / size, first_seen=first, last_seen=last)
            verdict = judge(facts, None, last or datetime.now(timezone.utc), settings,
                            allow_hold=False)
            out.append({"identity": "authenticated" if identity else "other",
                        "copies": copies, "verdict": verdict.verdict, "score": verdict.score,
                        "reasons": [r.to_json() for r in verdict.reasons]})
        yield row["id"], json.dumps(out)


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
