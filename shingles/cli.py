"""The ``shingles`` command: argument parsing and output only; the work is the library's.

Exit status: 0 all inputs done; 1 some inputs failed (each has an "error" record
on stdout, the rest went on); 2 bad usage or an unusable option file.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from shingles import _backend
from shingles.config import Config, load_config
from shingles.verdicts.engine import Engine, Verdict, ingest
from shingles.errors import ShinglesError
from shingles.fingerprint import fingerprint
from shingles.mail.headers import decode_bytes
from shingles.lexicon import Lexicon, LexiconSettings
from shingles.mail.records import Mail, MailError
from shingles.mail.read import parse_record, read, read_raw
from shingles.mail.parse import looks_like_mail
from shingles.scheme import DEFAULT_SCHEME, Scheme
from shingles.verdicts.social import SocialGraph
from shingles.store.reader import RECALL_SCHEME, Mailing, Store
from shingles.config import StoreSettings

EXIT_OK, EXIT_INPUT_ERRORS, EXIT_USAGE = 0, 1, 2
_MAIL_FIELDS = [f.name for f in dataclasses.fields(Mail)]


def die(message: str, status: int = EXIT_USAGE) -> int:
    """Print "shingles: message" to stderr and return the exit status to use."""
    print(f"shingles: {message}", file=sys.stderr)
    return status


def _emit(record: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _read_inputs(paths: Sequence[str], config: Config | None = None,
                 ) -> Iterator[tuple[str, str | None, str | MailError]]:
    """Yield (source, Message-ID, visible text or the MailError) per message or text file.

    A whole file (or stdin) that is not mail is taken as plain text.
    """
    config = config or Config()
    for item in read_raw(paths, config.limits):
        if isinstance(item, MailError):
            yield item.source, None, item
        elif item.whole_file and not looks_like_mail(item.data):
            yield item.source, None, decode_bytes(item.data)
        else:
            mail = parse_record(item, config)
            if isinstance(mail, MailError):
                yield item.source, None, mail
            else:
                yield mail.source, mail.message_id, mail.text


def _scheme(args: argparse.Namespace) -> Scheme:
    return _given_scheme(args) or DEFAULT_SCHEME


def _given_scheme(args: argparse.Namespace) -> Scheme | None:
    """Return the scheme the options name, or None when none was given (a store then
    keeps its own, and a new one takes its matching mode's default)."""
    if args.window is None and args.min_shingles is None and args.digits is None:
        return None
    return Scheme(window=args.window or DEFAULT_SCHEME.window,
                  min_shingles=args.min_shingles or DEFAULT_SCHEME.min_shingles,
                  digits=args.digits or DEFAULT_SCHEME.digits)


def cmd_fingerprint(args: argparse.Namespace) -> int:
    lexicon = Lexicon.load(args.lexicon) if args.lexicon else None
    scheme = _scheme(args)
    status = EXIT_OK
    for source, message_id, text in _read_inputs(args.paths, load_config(args.config)):
        if isinstance(text, MailError):
            _emit(text.to_json(), sys.stdout)
            status = EXIT_INPUT_ERRORS
            continue
        fp = fingerprint(text, scheme, lexicon, backend=args.backend)
        _emit({"source": source, "message_id": message_id, "backend": _backend.BACKEND
               if args.backend == "auto" else args.backend, **fp.to_json()}, sys.stdout)
    return status


def cmd_parse(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    status = EXIT_OK
    for record in read(args.paths, config):
        out = record.to_json()
        if isinstance(record, MailError):
            status = EXIT_INPUT_ERRORS
        elif args.fields:
            out = {key: out[key] for key in ["source", "message_id", *args.fields]}
        _emit(out, sys.stdout)
    return status


def cmd_lexicon_build(args: argparse.Namespace) -> int:
    texts = []
    for source, _, text in _read_inputs(args.paths):
        if isinstance(text, MailError):
            return die(f"cannot read {source}: {text.error}")
        texts.append(text)
    settings = LexiconSettings(min_df=args.min_df, max_df=args.max_df,
                               sub_lexicons=args.sub_lexicons, min_terms=args.min_terms)
    lexicon = Lexicon.build(texts, _scheme(args), settings)
    lexicon.save(args.out)
    _emit(_lexicon_summary(lexicon), sys.stdout)
    return EXIT_OK


def cmd_lexicon_info(args: argparse.Namespace) -> int:
    _emit(_lexicon_summary(Lexicon.load(args.file)), sys.stdout)
    return EXIT_OK


def _lexicon_summary(lexicon: Lexicon) -> dict[str, Any]:
    return {"lexicon": lexicon.id, "token_id": lexicon.token_id, "terms": len(lexicon),
            "documents": lexicon.documents, "signatures": lexicon.signatures,
            "sub_fraction": lexicon.sub_fraction, "min_terms": lexicon.min_terms}


def _add_scheme_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fingerprint scheme")
    group.add_argument("--window", type=int, default=None,
                       help=f"words per shingle (default {DEFAULT_SCHEME.window}; a new "
                            f"recall-mode store {RECALL_SCHEME.window})")
    group.add_argument("--min-shingles", type=int, default=None,
                       help=f"fewest distinct shingles for a signature "
                            f"(default {DEFAULT_SCHEME.min_shingles})")
    group.add_argument("--digits", choices=("fold", "keep"), default=None,
                       help=f"fold digit runs to one token, or keep them "
                            f"(default {DEFAULT_SCHEME.digits})")


# -- the mailing store: ingest and mailings ----------------------------------


def _store_settings(args: argparse.Namespace) -> StoreSettings:
    """Return the store settings the options ask for; the stored mode when none is given."""
    runtime = {"batch_size": args.batch, "retention_days": args.retention_days}
    runtime = {name: value for name, value in runtime.items() if value is not None}
    if args.mode is None and args.threshold is None:
        stored = Store.stored_settings(args.store)
        if stored is not None:
            return dataclasses.replace(stored, **runtime)
    matching: dict[str, Any] = {"mode": args.mode or "paper"}
    if args.threshold is not None:
        matching["threshold"] = args.threshold
    return StoreSettings(**matching, **runtime)


def _progress() -> Any:
    """Return a rich progress display on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    # A stream has no known length: a count and the time, not a percentage.
    return Progress(SpinnerColumn(), TextColumn("ingesting {task.completed:,.0f} messages"),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=True)


def cmd_ingest(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    lexicon = Lexicon.load(args.lexicon) if args.lexicon else None
    scheme = _given_scheme(args)
    progress = _progress()

    def error(record: Any) -> None:
        _emit(record.to_json(), sys.stdout)

    with Store(args.store, scheme=scheme, lexicon=lexicon,
               settings=_store_settings(args)) as store:
        records = read(args.paths, config)
        if progress is None:
            report = ingest(store, records, scheme=scheme, lexicon=lexicon,
                            backend=args.backend, on_error=error)
        else:
            with progress:
                task = progress.add_task("ingest", total=None)
                report = ingest(store, records, scheme=scheme, lexicon=lexicon,
                                backend=args.backend, on_error=error,
                                on_message=lambda: progress.advance(task))
    done = report.to_json()
    if args.json:
        _emit({"summary": done}, sys.stdout)
    print(f"shingles: {done['messages']} messages in {done['seconds']} s "
          f"({done['messages_per_second']}/s): {done['added']} added, "
          f"{done['duplicates']} already stored, {done['unsigned']} without signature, "
          f"{done['errors']} unreadable; {done['new_mailings']} new mailings, "
          f"{done['merges']} merged", file=sys.stderr)
    return EXIT_INPUT_ERRORS if report.errors else EXIT_OK


def cmd_scan(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    lexicon = Lexicon.load(args.lexicon) if args.lexicon else None
    scheme = _given_scheme(args)
    tally: dict[str, int] = {}
    errors = 0
    with Store(args.store, scheme=scheme, lexicon=lexicon,
               settings=_store_settings(args)) as store:
        engine = Engine(store, config, scheme=scheme, lexicon=lexicon, backend=args.backend)
        progress = _progress()
        with progress if progress is not None else contextlib.nullcontext():
            task = progress.add_task("scan", total=None) if progress is not None else None
            for result in engine.scan(read(args.paths, config)):
                if isinstance(result, Verdict):
                    tally[result.verdict] = tally.get(result.verdict, 0) + 1
                else:
                    errors += 1
                _emit(result.to_json(), sys.stdout)
                if progress is not None:
                    progress.advance(task)
    counts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(tally.items()))
    print(f"shingles: {sum(tally.values())} messages judged ({counts or 'none'}), "
          f"{errors} unreadable", file=sys.stderr)
    return EXIT_INPUT_ERRORS if errors else EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    with Store(args.store, readonly=True) as store:
        try:
            explained = Engine(store, scheme=_stored_scheme(store)).explain(args.message_id)
        except KeyError as exc:
            return die(str(exc.args[0]))
    print(json.dumps(explained, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_rescan(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    now = datetime.fromisoformat(args.now) if args.now else None
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    with Store(args.store) as store:
        changed = Engine(store, config, scheme=_stored_scheme(store)).rescan(now)
    for verdict in changed:
        _emit(verdict.to_json(), sys.stdout)
    print(f"shingles: {len(changed)} held messages judged again", file=sys.stderr)
    return EXIT_OK


def _when(text: str | None) -> datetime:
    now = datetime.fromisoformat(text) if text else datetime.now(timezone.utc)
    return now if now.tzinfo else now.replace(tzinfo=timezone.utc)


def cmd_allowlist(args: argparse.Namespace) -> int:
    graph = SocialGraph(load_config(args.config).social)
    now = _when(args.now)
    if args.pin or args.remove:
        with Store(args.store) as store, store.session() as session:
            for other in args.pin:
                graph.pin(session, args.user, other, now)
            for other in args.remove:
                graph.remove(session, args.user, other)
    with Store(args.store, readonly=True) as store:
        entries = graph.allowlist(store, args.user, now)
    if args.json:
        for entry in entries:
            _emit(entry.to_json(), sys.stdout)
        return EXIT_OK
    print(f"{'correspondent':40} {'level':7} {'messages':>8} {'weight':>7} "
          f"{'last contact':16} pinned")
    for e in entries:
        print(f"{e.correspondent:40} {e.level:7} {e.messages:8d} {e.weight:7.2f} "
              f"{e.last_contact:%Y-%m-%d %H:%M} {'yes' if e.pinned else ''}")
    return EXIT_OK


def cmd_trusted_domains(args: argparse.Namespace) -> int:
    graph = SocialGraph(load_config(args.config).social)
    with Store(args.store, readonly=True) as store:
        domains = graph.trusted_domains(store)
    if args.json:
        for domain in domains:
            _emit(domain.to_json(), sys.stdout)
        return EXIT_OK
    for d in domains:
        mark = "trusted" if d.trusted else "-"
        print(f"{d.domain:32} {mark:8} {d.why}; networks: {', '.join(d.networks) or 'none'}")
    return EXIT_OK


def _stored_scheme(store: Store) -> Scheme:
    """Return the Scheme a store was made with (its id names every parameter)."""
    return Scheme.from_id(store.scheme_id)


_MAILING_COLUMNS = ("id", "size", "ips", "/24s", "domains", "spf+", "spf-", "bulk",
                    "first seen", "last seen", "subject")


def _mailing_row(m: Mailing) -> tuple[str, ...]:
    spf = dict(m.spf)

    def day(when: datetime | None) -> str:
        return when.strftime("%Y-%m-%d %H:%M") if when else "-"

    return (str(m.id), str(m.size), f"{'~' if m.ips_estimated else ''}{m.distinct_ips}",
            f"{'~' if m.networks_estimated else ''}{m.distinct_networks}",
            str(len(m.sender_domains) + (m.other_domains > 0)),
            str(spf.get("pass", 0)), str(spf.get("fail", 0) + spf.get("softfail", 0)),
            str(max((n for _, n in m.bulk_signs), default=0)),
            day(m.first_seen), day(m.last_seen), " ".join(m.subject.split())[:60])


def cmd_mailings(args: argparse.Namespace) -> int:
    with Store(args.store, readonly=True) as store:
        found = store.top(args.top, args.min_size) if args.top else sorted(
            store.mailings(args.min_size), key=lambda m: (-m.size, m.id))
    if args.json:
        for mailing in found:
            _emit(mailing.to_json(), sys.stdout)
        return EXIT_OK
    rows = [_MAILING_COLUMNS, *(_mailing_row(m) for m in found)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_MAILING_COLUMNS) - 1)]
    for row in rows:
        cells = [cell.rjust(w) if i < 8 else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths))]
        print("  ".join([*cells, row[-1]]))
    return EXIT_OK


def _add_store_options(p: argparse.ArgumentParser, defaults: StoreSettings) -> None:
    """Options of the verbs that file messages into a store (ingest, scan)."""
    p.add_argument("paths", nargs="+", metavar="PATH|-",
                   help="mbox (also .gz/.bz2/.xz), maildir, .eml or a folder of them; - is stdin")
    p.add_argument("--store", required=True, metavar="DIR", help="the store (created if missing)")
    p.add_argument("--config", metavar="FILE",
                   help="TOML configuration (trusted zone, thresholds, SPF, limits)")
    p.add_argument("--lexicon", metavar="FILE", help="lexicon for I-Match signatures")
    p.add_argument("--mode", choices=("paper", "recall"), default=None,
                   help="matching rule of a new store: 'paper' (2 of 6 super-shingles, "
                        "the default) or 'recall' (LSH bands, confirmed by resemblance)")
    p.add_argument("--threshold", type=float, default=None,
                   help=f"resemblance a recall candidate needs (default {defaults.threshold})")
    p.add_argument("--retention-days", type=float, default=None,
                   help=f"forget what is older, by message time; 0 keeps everything "
                        f"(default {defaults.retention_days:g})")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help=f"messages per transaction: a crash loses at most one batch "
                        f"(default {defaults.batch_size})")
    p.add_argument("--backend", choices=("auto", "cython", "python"), default="auto")
    _add_scheme_options(p)


def _add_verdict_verbs(verbs: Any) -> None:
    p = verbs.add_parser("scan", help="judge each message: one JSON verdict per line")
    _add_store_options(p, StoreSettings())
    p.set_defaults(run=cmd_scan)

    p = verbs.add_parser("explain", help="why a scanned message got its verdict (JSON)")
    p.add_argument("message_id", metavar="MESSAGE-ID")
    p.add_argument("--store", required=True, metavar="DIR")
    p.set_defaults(run=cmd_explain)

    p = verbs.add_parser("rescan", help="judge held messages again; print the changed verdicts")
    p.add_argument("--store", required=True, metavar="DIR")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (thresholds)")
    p.add_argument("--now", metavar="TIME", help="ISO 8601 time to judge at (default: now)")
    p.set_defaults(run=cmd_rescan)


def _add_social_verbs(verbs: Any) -> None:
    p = verbs.add_parser("allowlist", help="a user's automatic allowlist, with its evidence")
    p.add_argument("user", metavar="USER", help="a local address")
    p.add_argument("--store", required=True, metavar="DIR")
    p.add_argument("--config", metavar="FILE", help="TOML configuration ([social] section)")
    p.add_argument("--json", action="store_true", help="one JSON record per correspondent")
    p.add_argument("--pin", metavar="ADDRESS", action="append", default=[],
                   help="keep ADDRESS on the list whatever its age")
    p.add_argument("--remove", metavar="ADDRESS", action="append", default=[],
                   help="take ADDRESS off the list")
    p.add_argument("--now", metavar="TIME", help="ISO 8601 time to judge freshness at")
    p.set_defaults(run=cmd_allowlist)

    p = verbs.add_parser("trusted-domains", help="domains local users write to, and which are "
                                                 "trusted")
    p.add_argument("--store", required=True, metavar="DIR")
    p.add_argument("--config", metavar="FILE", help="TOML configuration ([social] section)")
    p.add_argument("--json", action="store_true", help="one JSON record per domain")
    p.set_defaults(run=cmd_trusted_domains)


def _add_store_verbs(verbs: Any) -> None:
    defaults = StoreSettings()
    p = verbs.add_parser("ingest", help="file messages into a mailing store")
    _add_store_options(p, defaults)
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(run=cmd_ingest)

    p = verbs.add_parser("mailings", help="list the mailings of a store, largest first")
    p.add_argument("--store", required=True, metavar="DIR")
    p.add_argument("--json", action="store_true", help="one JSON record per mailing")
    p.add_argument("--top", type=int, default=20, metavar="N",
                   help="the N largest (default %(default)s; 0 lists all)")
    p.add_argument("--min-size", type=int, default=2, metavar="N",
                   help="only mailings of at least N messages (default %(default)s)")
    p.set_defaults(run=cmd_mailings)


def cmd_spark_cluster(args: argparse.Namespace) -> int:
    from shingles.spark import job

    try:
        import pyspark  # noqa: F401  # only to say what is missing
    except ImportError:
        return die("spark-cluster needs pyspark (and Java): pip install 'shingles[spark]'")
    return job.run_args(args)


def _add_spark_verb(verbs: Any) -> None:
    from shingles.spark import job

    p = verbs.add_parser("spark-cluster", help="cluster a whole archive into mailings on "
                                               "Apache Spark (Parquet + JSON Lines under --out)")
    job.add_arguments(p)
    p.set_defaults(run=cmd_spark_cluster)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the shingles command."""
    parser = argparse.ArgumentParser(prog="shingles", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser("fingerprint", help="print the fingerprint of texts or messages as JSON")
    p.add_argument("paths", nargs="+", metavar="PATH|-",
                   help="mbox (.gz/.bz2/.xz too), maildir, folder, .eml or plain text; - is stdin")
    p.add_argument("--lexicon", metavar="FILE", help="lexicon for I-Match signatures")
    p.add_argument("--config", metavar="FILE", help="TOML config (trusted zone, limits)")
    p.add_argument("--backend", choices=("auto", "cython", "python"), default="auto")
    _add_scheme_options(p)
    p.set_defaults(run=cmd_fingerprint)

    p = verbs.add_parser("parse", help="print each message's parsed fields as JSON Lines")
    p.add_argument("paths", nargs="+", metavar="PATH|-",
                   help="mbox (.gz/.bz2/.xz too), maildir, folder or .eml; - is stdin")
    p.add_argument("--config", metavar="FILE", help="TOML config (trusted zone, limits)")
    p.add_argument("--fields", nargs="+", metavar="NAME", choices=sorted(_MAIL_FIELDS),
                   help="print only these fields (besides source and message_id)")
    p.set_defaults(run=cmd_parse)

    lexicon = verbs.add_parser("lexicon", help="build or inspect an I-Match lexicon")
    lexicon_verbs = lexicon.add_subparsers(dest="lexicon_verb", required=True, metavar="ACTION")
    p = lexicon_verbs.add_parser("build", help="choose a lexicon from documents")
    p.add_argument("paths", nargs="+", metavar="FILE|-", help="one document per file")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the lexicon")
    defaults = LexiconSettings()
    p.add_argument("--min-df", type=int, default=defaults.min_df)
    p.add_argument("--max-df", type=float, default=defaults.max_df)
    p.add_argument("--sub-lexicons", type=int, default=defaults.sub_lexicons)
    p.add_argument("--min-terms", type=int, default=defaults.min_terms)
    _add_scheme_options(p)
    p.set_defaults(run=cmd_lexicon_build)
    p = lexicon_verbs.add_parser("info", help="print a lexicon's summary as JSON")
    p.add_argument("file")
    p.set_defaults(run=cmd_lexicon_info)
    _add_store_verbs(verbs)
    _add_verdict_verbs(verbs)
    _add_social_verbs(verbs)
    _add_spark_verb(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shingles command with argv (default: sys.argv[1:]); return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:  # e.g. `shingles fingerprint x | head`
        return EXIT_OK
    except (ShinglesError, ValueError, OSError) as exc:
        return die(str(exc))
