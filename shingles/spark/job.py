"""The archive job: read, fingerprint, link, cluster, aggregate, write.

    shingles spark-cluster --master local[2] --out DIR INPUT...
    spark-submit --master yarn shingles/spark/job.py --out hdfs:///mailings INPUT...

Stages (each shows in Spark's UI under its name):
1. read: executors read raw messages (shingles.spark.sources);
2. fingerprint: per partition, the project's parser and compiled core make
   one row per message (shingles.spark.rows);
3. dedupe: copies with the store's message key (Message-ID and body) count once;
4. edges: messages sharing an index key, as the matching mode decides
   (shingles.spark.edges);
5. components: large-star/small-star (shingles.spark.components);
6. mailings: statistics by aggregation (shingles.spark.mailings), verdicts on request;
7. write: ``messages``, ``mailings`` and ``errors`` under DIR, each as Parquet
   (DIR/NAME.parquet/) and as JSON Lines (DIR/NAME.json/, Spark's part files).

Tables:
- messages: source, message_id, mailing (the smallest id of its component; null
  when the text is too short for any signature), id (input order), duplicate_of
  (the id of the first copy with the same message key, or null).
- mailings: see shingles.spark.mailings; ``verdicts`` (JSON) with --verdicts.
- errors: source, error (unreadable or unparsable messages; never fatal).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from shingles.config import (
    DEFAULT_STORE,
    Config,
    SparkSettings,
    StoreSettings,
    load_config,
)
from shingles.lexicon import Lexicon
from shingles.scheme import DEFAULT_SCHEME, Scheme

__all__ = ["JobReport", "add_arguments", "main", "run", "run_args", "session", "store_rules"]

# A new recall-mode store fingerprints with 2-word shingles (shingles.store.reader.RECALL_SCHEME).
_RECALL_WINDOW = 2


@dataclasses.dataclass(frozen=True)
class JobReport:
    """What a run did.

    Attributes:
        messages: Messages read (errors included).
        errors: Messages that could not be read or parsed.
        duplicates: Messages whose message key an earlier one had.
        unsigned: Distinct messages too short for any signature.
        edges: Candidate edges confirmed (after the star links of big buckets).
        mailings: Mailings of at least min_size messages.
        rounds: Rounds of large-star/small-star.
        stages: Seconds per stage, in order.
    """

    messages: int
    errors: int
    duplicates: int
    unsigned: int
    edges: int
    mailings: int
    rounds: int
    stages: tuple[tuple[str, float], ...]

    @property
    def seconds(self) -> float:
        """Return the whole run's time."""
        return sum(t for _, t in self.stages)

    def summary(self) -> str:
        """Return the one-line summary the CLI prints on stderr."""
        rate = self.messages / self.seconds if self.seconds else 0.0
        stages = ", ".join(f"{name} {t:.1f} s" for name, t in self.stages)
        return (f"shingles: {self.messages} messages in {self.seconds:.1f} s ({rate:.0f}/s): "
                f"{self.errors} unreadable, {self.duplicates} duplicates, {self.unsigned} "
                f"without signature; {self.edges} edges, {self.rounds} rounds of connected "
                f"components, {self.mailings} mailings; {stages}")


def session(master: str | None = None, name: str = "shingles spark-cluster",
            conf: dict[str, str] | None = None) -> Any:
    """Return a SparkSession (an existing one under spark-submit); executors run this Python.

    Raises:
        ImportError: if pyspark is not installed.
    """
    from pyspark.sql import SparkSession

    # Local executors must run the interpreter that has shingles installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(name)
    if master:
        builder = builder.master(master)
    settings = {"spark.sql.session.timeZone": "UTC", "spark.ui.showConsoleProgress": "false",
                **(conf or {})}
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run(spark: Any, inputs: Sequence[str] | Any, out: str | None, *,
        config: Config | None = None, store: StoreSettings | None = None,
        scheme: Scheme | None = None, lexicon: Lexicon | None = None,
        settings: SparkSettings | None = None) -> tuple[JobReport, Any, Any]:
    """Cluster the messages of inputs; write the tables under out (None: write nothing).

    Args:
        spark: A SparkSession.
        inputs: Paths and URIs (see shingles.spark.sources), or an RDD of raw rows
            (id, source, bytes or None, error or None) made elsewhere (the bench's
            synthetic archive).
        out: Output folder (local path or URI), or None.
        config: Trusted zone and limits for the parser.
        store: Matching mode and its parameters (retention does not apply).
        scheme: Fingerprint scheme; None takes the matching mode's default, as a new store.
        lexicon: I-Match lexicon, or None.
        settings: Partitions, mailing size floor, verdicts, table columns.

    Returns:
        (the report, the messages DataFrame, the mailings DataFrame).

    Raises:
        FileNotFoundError: if a local input is missing.
        RuntimeError: if connected components do not converge in max_rounds.
    """
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from shingles.spark import components, edges, mailings, rows, sources

    config = config or Config()
    store = store or StoreSettings()
    settings = settings or SparkSettings()
    scheme = scheme or (DEFAULT_SCHEME if store.mode == "paper"
                        else Scheme(window=_RECALL_WINDOW))
    recipe = rows.Recipe(config, scheme, lexicon, store)
    sc = spark.sparkContext
    partitions = settings.partitions or 4 * sc.defaultParallelism
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    stages: list[tuple[str, float]] = []
    clock = [time.perf_counter()]

    def stage(name: str) -> None:
        now = time.perf_counter()
        stages.append((name, now - clock[0]))
        clock[0] = now

    sc.setJobDescription("read and fingerprint")
    if isinstance(inputs, (list, tuple)):
        raw = sources.raw_messages(spark, sources.plan(inputs), config,
                                   settings.id_column, settings.raw_column)
    else:
        raw = inputs
    if raw.getNumPartitions() < partitions:  # e.g. one reader per compressed mbox
        raw = raw.repartition(partitions)
    made = raw.mapPartitions(
        lambda part: rows.message_rows(part, recipe))
    schema = ("id long, source string, message_id string, mkey binary, keys array<binary>, "
              "minhashes binary, date long, subject string, ip string, net string, "
              "domain string, recipients array<string>, spf string, dkim string, dmarc string, "
              "bulk_signs array<string>, authenticated boolean, error string")
    table = spark.createDataFrame(made, schema).persist(StorageLevel.MEMORY_AND_DISK)
    messages_read = table.count()
    stage("read+fingerprint")

    sc.setJobDescription("dedupe")
    good = table.where(F.col("error").isNull())
    firsts = good.withColumn("first", F.min("id").over(Window.partitionBy("mkey")))
    unique = firsts.where(F.col("id") == F.col("first")).drop("first")
    unique = unique.persist(StorageLevel.MEMORY_AND_DISK)
    distinct = unique.count()
    stage("dedupe")

    sc.setJobDescription("edges")
    keyed = unique.select("id", F.explode("keys").alias("key"))
    linked = edges.edges(spark, keyed, store, unique.select("id", "minhashes"))
    linked = linked.persist(StorageLevel.MEMORY_AND_DISK)
    edge_count = linked.count()
    stage("edges")

    sc.setJobDescription("connected components")
    found = components.connected_components(linked, settings.max_rounds)
    stage("components")

    sc.setJobDescription("mailings")
    signed = unique.where(F.size("keys") > 0)
    members = (signed.join(found.labels, "id", "left")
               .withColumn("mailing", F.coalesce("root", "id")).drop("root"))
    members = members.persist(StorageLevel.MEMORY_AND_DISK)
    unsigned = distinct - members.count()
    mailing_of = members.select(F.col("id").alias("first"), "mailing")
    messages = (firsts.join(mailing_of, "first", "left")
                .select("source", "message_id", "mailing", "id",
                        F.when(F.col("id") != F.col("first"), F.col("first"))
                        .alias("duplicate_of")))
    stats = mailings.mailing_stats(members, settings.min_size)
    if settings.verdicts:
        judged = stats.rdd.mapPartitions(
            lambda part, js=config.judge: mailings.verdict_rows(part, js))
        verdicts = spark.createDataFrame(judged, "id long, verdicts string")
        stats = stats.join(verdicts, "id", "left")
    stats = stats.persist(StorageLevel.MEMORY_AND_DISK)
    mailing_count = stats.count()
    stage("mailings")

    errors = table.where(F.col("error").isNotNull()).select("source", "error")
    error_count = errors.count()
    if out is not None:
        sc.setJobDescription("write")
        for name, frame in (("messages", messages), ("mailings", stats), ("errors", errors)):
            frame.write.mode("overwrite").parquet(_join(out, f"{name}.parquet"))
            frame.write.mode("overwrite").json(_join(out, f"{name}.json"))
        stage("write")
    report = JobReport(messages_read, error_count, messages_read - error_count - distinct,
                       unsigned, edge_count, mailing_count, found.rounds, tuple(stages))
    return report, messages, stats


def _join(folder: str, name: str) -> str:
    return folder.rstrip("/") + "/" + name


def store_rules(path: str) -> tuple[Scheme, StoreSettings]:
    """Return the scheme and matching settings of the store at path (read on the driver).

    Raises:
        FileNotFoundError: if there is no store at path.
    """
    from shingles.store.reader import Store

    with Store(path, readonly=True) as store:
        return Scheme.from_id(store.scheme_id), store.settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``shingles spark-cluster`` (and of this module under spark-submit)."""
    defaults, spark = StoreSettings(), SparkSettings()
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="mbox (also .gz/.bz2/.xz), maildir, .eml folder, a Hadoop URI "
                        "(hdfs://, s3a://, file://), or a .parquet/.json table of raw messages")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (local or URI): messages, mailings, errors")
    p.add_argument("--master", default=None,
                   help="Spark master, e.g. local[2] (default: spark-submit's or local[*])")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (trusted zone, limits, "
                   "judge thresholds)")
    p.add_argument("--lexicon", metavar="FILE", help="lexicon for I-Match signatures")
    p.add_argument("--as-store", metavar="DIR",
                   help="fingerprint and match as the store in DIR does: its scheme (with its "
                        "seed), mode and threshold; --mode, --threshold, --window are ignored")
    p.add_argument("--mode", choices=("paper", "recall"), default=DEFAULT_STORE.mode,
                   help="matching rule, as a new store's (default %(default)s)")
    p.add_argument("--threshold", type=float, default=defaults.threshold,
                   help="resemblance a recall candidate needs (default %(default)s)")
    p.add_argument("--window", type=int, default=None,
                   help=f"words per shingle (default {DEFAULT_SCHEME.window}; recall "
                        f"{_RECALL_WINDOW}, as a new store)")
    p.add_argument("--partitions", type=int, default=spark.partitions,
                   help="partitions to fingerprint in (default: four per core)")
    p.add_argument("--min-size", type=int, default=spark.min_size, metavar="N",
                   help="mailings table: only mailings of at least N messages "
                        "(default %(default)s)")
    p.add_argument("--verdicts", action="store_true",
                   help="judge each mailing's statistics (a 'verdicts' column)")
    p.add_argument("--id-column", default=spark.id_column,
                   help="tables: the column naming each message (default %(default)s)")
    p.add_argument("--raw-column", default=spark.raw_column,
                   help="tables: the column holding the raw message (default %(default)s)")


def run_args(args: argparse.Namespace) -> int:
    """Run the job as the parsed options say; print the summary on stderr.

    Returns 0, or 1 when some messages could not be read (they are in ``errors``).

    Raises:
        ImportError: if pyspark is not installed.
    """
    config = load_config(args.config)
    store = StoreSettings(mode=args.mode, threshold=args.threshold)
    scheme = None
    if args.window is not None or config.store.seed is not None:
        # [store] seed: the seed installations that share signatures agree on.
        base = DEFAULT_SCHEME if args.mode == "paper" else Scheme(window=_RECALL_WINDOW)
        scheme = dataclasses.replace(base, window=args.window or base.window,
                                     seed=base.seed if config.store.seed is None
                                     else config.store.seed)
    if args.as_store:
        scheme, store = store_rules(args.as_store)
    settings = SparkSettings(partitions=args.partitions, min_size=args.min_size,
                             verdicts=args.verdicts, id_column=args.id_column,
                             raw_column=args.raw_column)
    spark = session(args.master)
    report, _, _ = run(spark, args.inputs, args.out, config=config, store=store, scheme=scheme,
                       lexicon=Lexicon.load(args.lexicon) if args.lexicon else None,
                       settings=settings)
    print(report.summary(), file=sys.stderr)
    return 1 if report.errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job under spark-submit (``spark-submit shingles/spark/job.py ...``)."""
    parser = argparse.ArgumentParser(prog="shingles-spark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
