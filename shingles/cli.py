"""The ``shingles`` command: argument parsing and output only; the work is the library's.

Exit status: 0 all inputs done; 1 some inputs failed (each has an "error" record
on stdout, the rest went on); 2 bad usage or an unusable option file.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from shingles import __version__, _backend
from shingles.config import DEFAULT_CONFIG, MATCHING_KEYS, Config, load_config
from shingles.verdicts.engine import DATABASES as ENGINE_DATABASES
from shingles.verdicts.engine import Engine, Verdict, ingest, mailing_json
from shingles.verdicts.feedback import report_arf, report_messages
from shingles.errors import ShinglesError, StoreLockedError
from shingles.fingerprint import fingerprint
from shingles.mail.headers import decode_bytes
from shingles.lexicon import Lexicon, LexiconSettings
from shingles.mail.records import Mail, MailError
from shingles.mail.read import parse_record, read, read_raw
from shingles.mail.parse import looks_like_mail
from shingles.scheme import DEFAULT_SCHEME, Scheme
from shingles.verdicts.social import DATABASES as SOCIAL_DATABASES
from shingles.verdicts.social import SocialGraph
from shingles.store.check import check as check_store
from shingles.store.reader import RECALL_SCHEME, Mailing, Store
from shingles.config import StoreSettings
from shingles import cli_forwarders, cli_release

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
    if args.window is None and args.min_shingles is None and args.digits is None \
            and args.links is None:
        return None
    return Scheme(window=args.window or DEFAULT_SCHEME.window,
                  min_shingles=args.min_shingles or DEFAULT_SCHEME.min_shingles,
                  digits=args.digits or DEFAULT_SCHEME.digits,
                  links=args.links or DEFAULT_SCHEME.links)


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


def _field_list(text: str) -> list[str]:
    """Return the Mail fields a --fields value names (comma-separated); reject unknown ones."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in _MAIL_FIELDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown field(s) {', '.join(unknown)}; one of: "
                                         f"{', '.join(sorted(_MAIL_FIELDS))}")
    return names


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
                       help=f"words per shingle (default: a store's own; a new store "
                            f"{RECALL_SCHEME.window} in recall mode, {DEFAULT_SCHEME.window} "
                            f"in paper mode and outside stores)")
    group.add_argument("--min-shingles", type=int, default=None,
                       help=f"fewest distinct shingles for a signature "
                            f"(default {DEFAULT_SCHEME.min_shingles})")
    group.add_argument("--digits", choices=("fold", "keep"), default=None,
                       help=f"fold digit runs to one token, or keep them "
                            f"(default {DEFAULT_SCHEME.digits})")
    group.add_argument("--links", choices=("fold", "keep"), default=None,
                       help=f"fold each URL and host name to one token, or keep their words "
                            f"(default {DEFAULT_SCHEME.links})")


# -- the mailing store: ingest and mailings ----------------------------------


def _store_settings(args: argparse.Namespace, config: Config) -> StoreSettings:
    """Return the store settings: the config's [store] section, flags overriding it.

    An existing store keeps its matching mode and parameters unless the flags or
    the file name them (then they must agree with it).
    """
    flags = {"mode": args.mode, "threshold": args.threshold, "batch_size": args.batch,
             "retention_days": args.retention_days, "trace_threshold": args.trace_threshold}
    flags = {name: value for name, value in flags.items() if value is not None}
    given = (set(flags) | config.store_keys) & MATCHING_KEYS
    wanted = dataclasses.replace(config.store, **flags)
    stored = Store.stored_settings(args.store) if not given else None
    if stored is None:
        return wanted
    runtime = {f.name: getattr(wanted, f.name) for f in dataclasses.fields(StoreSettings)
               if f.name not in MATCHING_KEYS}
    return dataclasses.replace(stored, **runtime)


def _progress() -> Any:
    """Return a rich progress display on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    # A stream has no known length: a count and the time, not a percentage.
    # redirect_*=False: by default rich captures sys.stdout while it runs, and the
    # JSON Lines would go to the terminal's progress line instead of the pipe.
    return Progress(SpinnerColumn(), TextColumn("{task.completed:,.0f} messages"),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=True,
                    redirect_stdout=False, redirect_stderr=False)


def _messages(n: int) -> str:
    return f"{n} message{'' if n == 1 else 's'}"


def cmd_ingest(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    lexicon = Lexicon.load(args.lexicon) if args.lexicon else None
    scheme = _given_scheme(args)
    progress = _progress()

    def error(record: Any) -> None:
        _emit(record.to_json(), sys.stdout)

    with Store(args.store, scheme=scheme, lexicon=lexicon,
               settings=_store_settings(args, config), wait=args.wait) as store:
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
    print(f"shingles: {_messages(report.summary.messages)} in {done['seconds']} s "
          f"({done['messages_per_second']}/s): {done['added']} added, "
          f"{done['duplicates']} already stored, {done['unsigned']} without signature, "
          f"{done['errors']} unreadable; {done['new_mailings']} new mailings, "
          f"{done['merges']} merged; retention expired {done['expired_messages']} stored "
          f"messages and {done['expired_mailings']} mailings", file=sys.stderr)
    return EXIT_INPUT_ERRORS if report.errors else EXIT_OK


def _scan_via_server(args: argparse.Namespace, config: Config) -> int:
    """Send each message to a running ``shingles serve`` and print its answers."""
    from shingles.serve.client import scan_via

    tally: dict[str, int] = {}
    errors = 0

    def messages() -> Iterator[tuple[str, bytes]]:
        nonlocal errors
        for raw in read_raw(args.paths, config.limits):
            if isinstance(raw, MailError):
                errors += 1
                _emit(raw.to_json(), sys.stdout)
            else:
                yield raw.source, raw.data

    for answer in scan_via(args.server, messages()):
        if "error" in answer:
            errors += 1
        else:
            tally[answer["verdict"]] = tally.get(answer["verdict"], 0) + 1
        _emit(answer, sys.stdout)
    counts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(tally.items()))
    print(f"shingles: {sum(tally.values())} messages judged by {args.server} "
          f"({counts or 'none'}), {errors} unreadable", file=sys.stderr)
    return EXIT_INPUT_ERRORS if errors else EXIT_OK


def _locked(store: str, exc: StoreLockedError) -> str:
    """Return the error for a taken store: name the server that owns it, if one does."""
    from shingles.serve.owner import owner_of

    owner = owner_of(store)
    if owner is None:
        return str(exc)
    where = owner.get("http")
    how = (f"scan through it with --server {where}" if where else
           "it has no HTTP listener to scan through")
    return (f"{store} is owned by a running `shingles serve` (pid {owner['pid']}), its only "
            f"writer: {how}, or stop the server first")


class _Stop(KeyboardInterrupt):
    """Raised by the signal handler while the scan waits for input."""


class _Signals:
    """SIGINT/SIGTERM during a scan: stop reading, commit what was judged, exit.

    The handler raises only while the scan waits for the next message (the
    engine then commits and stops); during judging or printing it sets a flag,
    and the scan stops before reading the next message.
    """

    def __init__(self) -> None:
        self.signum = 0
        self.reading = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._old[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, old in self._old.items():
            signal.signal(signum, old)

    def _handle(self, signum: int, frame: object) -> None:
        self.signum = signum
        if self.reading:
            raise _Stop

    def guard(self, records: Iterator[Any], idle: Any = None) -> Iterator[Any]:
        """Yield records until a signal arrives; call idle() before each read."""
        while not self.signum:
            if idle is not None:
                idle()
            self.reading = True
            try:
                if self.signum:  # arrived during idle(), before reading was set
                    return
                record = next(records)
            except StopIteration:
                return
            finally:
                self.reading = False
            yield record


def _commit_when_idle(engine: Engine) -> Any:
    """Return a check that commits the scan when stdin has nothing to read yet: a
    filter's verdicts are then in the store (for explain, report) while it waits."""
    import select

    def idle() -> None:
        try:
            waiting = not select.select([sys.stdin], [], [], 0)[0]
        except (OSError, ValueError):
            return
        if waiting:
            engine.commit()
    return idle


def cmd_scan(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    settings = _store_settings(args, config)
    if args.print_config:
        effective = config.to_json()
        effective["store"] = dataclasses.asdict(settings)
        print(json.dumps(effective, indent=2))
        return EXIT_OK
    if not args.paths:
        return die("scan: give PATH or - (stdin) to scan")
    if args.server:
        return _scan_via_server(args, config)
    if "-" in args.paths:  # a filter: each verdict out as soon as it is judged
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    lexicon = Lexicon.load(args.lexicon) if args.lexicon else None
    scheme = _given_scheme(args)
    tally: dict[str, int] = {}
    errors = 0
    with Store(args.store, scheme=scheme, lexicon=lexicon, settings=settings,
               wait=args.wait) as store, _Signals() as signals:
        engine = Engine(store, config, scheme=scheme, lexicon=lexicon, backend=args.backend)
        progress = _progress()
        scan = engine.scan(signals.guard(iter(read(args.paths, config)),
                                         _commit_when_idle(engine) if "-" in args.paths
                                         else None))
        try:
            with progress if progress is not None else contextlib.nullcontext():
                task = progress.add_task("scan", total=None) if progress is not None else None
                for result in scan:
                    if isinstance(result, Verdict):
                        tally[result.verdict] = tally.get(result.verdict, 0) + 1
                    else:
                        errors += 1
                    _emit(result.to_json(), sys.stdout)
                    if progress is not None:
                        progress.advance(task)
        except KeyboardInterrupt:
            signals.signum = signals.signum or signal.SIGINT
        summary = engine.last_summary
    counts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(tally.items()))
    expired = (f"; retention expired {summary.expired_messages} stored messages and "
               f"{summary.expired_mailings} mailings" if summary is not None else "")
    # (plural on purpose for 0 and 1 alike: the line is parsed by scripts)
    if summary is not None and summary.expired_messages:
        expired += " (replaying an archive? retention_days = 0 keeps everything)"
    print(f"shingles: {_messages(sum(tally.values()))} judged ({counts or 'none'}), "
          f"{errors} unreadable{expired}", file=sys.stderr)
    if signals.signum:
        print(f"shingles: stopped by {signal.Signals(signals.signum).name}; what was judged "
              "is committed", file=sys.stderr)
        return 128 + signals.signum
    return EXIT_INPUT_ERRORS if errors else EXIT_OK


def _existing_store(path: str) -> str | None:
    """Return an error message when there is no store at path (verbs that must not make one)."""
    if not os.path.exists(os.path.join(path, "data.mdb")):
        return f"no store at {path}"
    return None


def cmd_report(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    lexicon = Lexicon.load(args.lexicon) if args.lexicon else None
    if not (args.spam or args.ham or args.arf):
        return die("report: give --spam ID..., --ham ID... or --arf FILE...")
    missing = _existing_store(args.store)
    if missing:
        return die(missing)
    status = EXIT_OK
    with Store(args.store, lexicon=lexicon) as store:
        engine = Engine(store, config, scheme=_stored_scheme(store), lexicon=lexicon)
        done: list[Any] = [*report_messages(engine, args.spam, "spam"),
                           *report_messages(engine, args.ham, "ham")]
        if args.arf:
            done += list(report_arf(engine, args.arf))
    counted = 0
    for outcome in done:
        record = outcome.to_json()
        if record.get("error"):
            status = EXIT_INPUT_ERRORS
        counted += bool(record.get("counted"))
        _emit(record, sys.stdout)
    print(f"shingles: {len(done)} report{'' if len(done) == 1 else 's'}, {counted} counted "
          f"({len(done) - counted} already counted or failed)", file=sys.stderr)
    return status


def cmd_explain(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with Store(args.store, readonly=True) as store:
        try:
            explained = Engine(store, config, scheme=_stored_scheme(store)).explain(
                args.message_id)
        except KeyError as exc:
            return die(str(exc.args[0]))
    print(json.dumps(explained, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_rescan(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    now = datetime.fromisoformat(args.now) if args.now else None
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    missing = _existing_store(args.store)
    if missing:
        return die(missing)
    with Store(args.store, wait=args.wait) as store:
        changed = Engine(store, config, scheme=_stored_scheme(store)).rescan(now)
    for verdict in changed:
        _emit(verdict.to_json(), sys.stdout)
    n = len(changed)
    print(f"shingles: {n} held message{'' if n == 1 else 's'} judged again", file=sys.stderr)
    return EXIT_OK


def _when(text: str | None) -> datetime:
    now = datetime.fromisoformat(text) if text else datetime.now(timezone.utc)
    return now if now.tzinfo else now.replace(tzinfo=timezone.utc)


def cmd_allowlist(args: argparse.Namespace) -> int:
    graph = SocialGraph(load_config(args.config).social)
    now = _when(args.now)
    if args.pin or args.remove or args.clear_flag:
        with Store(args.store, wait=args.wait) as store:
            store.attach(SOCIAL_DATABASES)
            with store.session() as session:
                for other in args.pin:
                    graph.pin(session, args.user, other, now)
                for other in args.remove:
                    graph.remove(session, args.user, other)
                if args.clear_flag:
                    graph.clear_flag(session, args.user)
    with Store(args.store, readonly=True) as store:
        entries = graph.allowlist(store, args.user, now)
        flag = graph.flag(store, args.user)
    if flag is not None:
        # The flag suspends every entry below: say so first, on stderr in --json mode.
        note = (f"{args.user} is flagged as possibly compromised since {flag[0]:%Y-%m-%d %H:00} "
                f"({flag[1]} new addresses in a day): no new edges, and these allowlist "
                "nothing until `shingles allowlist --clear-flag`")
        print(f"shingles: {note}" if args.json else f"FLAGGED: {note}",
              file=sys.stderr if args.json else sys.stdout)
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
        members = ({m.id: [{"source": r.source, "message_id": r.message_id}
                           for r in store.messages(m.id)] for m in found}
                   if args.members else {})
        if args.json:
            for mailing in found:
                record = mailing_json(store, mailing)
                if args.members:
                    record["members"] = members[mailing.id]
                _emit(record, sys.stdout)
            return EXIT_OK
    rows = [_MAILING_COLUMNS, *(_mailing_row(m) for m in found)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_MAILING_COLUMNS) - 1)]
    for row, shown in zip(rows, [0, *(m.id for m in found)]):
        cells = [cell.rjust(w) if i < 8 else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths))]
        print("  ".join([*cells, row[-1]]))
        for member in members.get(shown, []):
            print(f"      {member['source']}  {member['message_id'] or '-'}")
    return EXIT_OK


def cmd_store_info(args: argparse.Namespace) -> int:
    with Store(args.store, readonly=True) as store:
        store.attach(ENGINE_DATABASES)
        info = store.info()
    if args.json:
        _emit(info, sys.stdout)
        return EXIT_OK
    for name in ("path", "scheme", "lexicon", "matching", "retention_days", "mailings",
                 "messages", "forgotten_messages", "clock", "map_size", "file_bytes"):
        print(f"{name:16} {info[name]}")
    print(f"{'last_commit':16} txn {info['last_commit']['txn_id']} at "
          f"{info['last_commit']['time']}")
    for name, entries in info["entries"].items():
        print(f"  {name:14} {entries:>12,} entries {info['database_bytes'][name]:>14,} bytes")
    return EXIT_OK


def cmd_store_check(args: argparse.Namespace) -> int:
    with Store(args.store, readonly=True) as store:
        store.attach(ENGINE_DATABASES)
        findings = list(check_store(store))
    for finding in findings:
        _emit(finding.to_json(), sys.stdout)
    print(f"shingles: {args.store}: {len(findings)} problems found"
          + ("" if findings else "; every record reads and the mailings hold together"),
          file=sys.stderr)
    return EXIT_INPUT_ERRORS if findings else EXIT_OK


def cmd_store_backup(args: argparse.Namespace) -> int:
    with Store(args.store, readonly=True) as store:
        size = store.backup(args.dest)
    print(f"shingles: {args.store} copied to {args.dest} ({size:,} bytes, compacted)",
          file=sys.stderr)
    return EXIT_OK


def _add_store_options(p: argparse.ArgumentParser, defaults: StoreSettings,
                       optional_paths: bool = False) -> None:
    """Options of the verbs that file messages into a store (ingest, scan)."""
    p.add_argument("paths", nargs="*" if optional_paths else "+", metavar="PATH|-",
                   help="mbox (also .gz/.bz2/.xz), maildir, .eml or a folder of them; - is stdin")
    p.add_argument("--store", required=True, metavar="DIR", help="the store (created if missing)")
    p.add_argument("--config", metavar="FILE",
                   help="TOML configuration ([store], [judge], trusted zone, SPF, limits)")
    p.add_argument("--lexicon", metavar="FILE", help="lexicon for I-Match signatures (a store "
                   "made with one needs it every time)")
    p.add_argument("--mode", choices=("paper", "recall"), default=None,
                   help=f"matching rule of a new store (overrides [store] mode; default "
                        f"{defaults.mode}): 'recall' (LSH bands confirmed by resemblance: "
                        f"finds mutated copies) or 'paper' (2 of 6 super-shingles, the "
                        f"paper's exact rule, for reproduction)")
    p.add_argument("--threshold", type=float, default=None,
                   help=f"resemblance a recall candidate needs (default {defaults.threshold})")
    p.add_argument("--trace-threshold", type=float, default=None,
                   help="recall mode: resemblance enough when the candidate's copies share the "
                        "message's header trace (default: traces unused)")
    p.add_argument("--retention-days", type=float, default=None,
                   help=f"forget what is older than this before the newest message seen; "
                        f"0 keeps everything, for archive replays (overrides [store] "
                        f"retention_days; default {defaults.retention_days:g})")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help=f"messages per transaction: a crash loses at most one batch "
                        f"(overrides [store] batch_size; default {defaults.batch_size})")
    p.add_argument("--backend", choices=("auto", "cython", "python"), default="auto",
                   help="cython: the compiled core; python: the plain-Python reference; "
                        "auto (default): compiled when it is built")
    _add_wait_option(p)
    _add_scheme_options(p)


def _add_wait_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait up to SECONDS for another process writing the store to finish "
                        "(default: fail at once, naming its pid)")


def _add_verdict_verbs(verbs: Any) -> None:
    p = verbs.add_parser("scan", help="judge each message: one JSON verdict per line")
    _add_store_options(p, DEFAULT_CONFIG.store, optional_paths=True)
    p.add_argument("--print-config", action="store_true",
                   help="print the effective configuration (file, flags, defaults) as JSON "
                        "and exit")
    p.add_argument("--server", metavar="URL", help="send the messages to the `shingles serve` "
                   "that owns the store (http://HOST:PORT) instead of opening it")
    p.set_defaults(run=cmd_scan)

    p = verbs.add_parser("explain", help="why a scanned message got its verdict (JSON)")
    p.add_argument("message_id", metavar="MESSAGE",
                   help="a Message-ID (angle brackets optional) or the source a verdict printed")
    p.add_argument("--store", required=True, metavar="DIR", help="the store scanned into")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (as given to scan)")
    p.set_defaults(run=cmd_explain)

    p = verbs.add_parser("rescan", help="judge held messages again; print the changed verdicts")
    p.add_argument("--store", required=True, metavar="DIR", help="the store scanned into")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (thresholds)")
    p.add_argument("--now", metavar="TIME", help="ISO 8601 time to judge at (default: now)")
    _add_wait_option(p)
    p.set_defaults(run=cmd_rescan)

    p = verbs.add_parser("report", help="feedback: complaints, corrections, ARF reports "
                                        "(one JSON outcome per report)")
    p.add_argument("--store", required=True, metavar="DIR", help="the store scanned into")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (as given to scan)")
    p.add_argument("--lexicon", metavar="FILE", help="the store's lexicon, if it has one")
    p.add_argument("--spam", nargs="+", default=[], metavar="MESSAGE",
                   help="complaints: these scanned messages' mailings are unwanted "
                        "(Message-IDs or sources)")
    p.add_argument("--ham", nargs="+", default=[], metavar="MESSAGE",
                   help="corrections: these scanned messages' mailings are wanted")
    p.add_argument("--arf", nargs="+", default=[], metavar="FILE",
                   help="RFC 5965 feedback reports (mbox, maildir, .eml); the original is "
                        "matched by fingerprint")
    p.set_defaults(run=cmd_report)


def _add_social_verbs(verbs: Any) -> None:
    p = verbs.add_parser("allowlist", help="a user's automatic allowlist, with its evidence")
    p.add_argument("user", metavar="USER", help="a local address")
    p.add_argument("--store", required=True, metavar="DIR", help="the store to read")
    p.add_argument("--config", metavar="FILE", help="TOML configuration ([social] section)")
    p.add_argument("--json", action="store_true", help="one JSON record per correspondent")
    p.add_argument("--pin", metavar="ADDRESS", action="append", default=[],
                   help="keep ADDRESS on the list whatever its age")
    p.add_argument("--remove", metavar="ADDRESS", action="append", default=[],
                   help="take ADDRESS off the list")
    p.add_argument("--clear-flag", action="store_true",
                   help="lift the compromised-account flag: USER's edges count again")
    p.add_argument("--now", metavar="TIME", help="ISO 8601 time to judge freshness at")
    _add_wait_option(p)
    p.set_defaults(run=cmd_allowlist)

    p = verbs.add_parser("trusted-domains", help="domains local users write to, and which are "
                                                 "trusted")
    p.add_argument("--store", required=True, metavar="DIR", help="the store to read")
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
    p.add_argument("--store", required=True, metavar="DIR", help="the store to read")
    p.add_argument("--json", action="store_true", help="one JSON record per mailing")
    p.add_argument("--top", type=int, default=20, metavar="N",
                   help="the N largest (default %(default)s; 0 lists all)")
    p.add_argument("--min-size", type=int, default=2, metavar="N",
                   help="only mailings of at least N messages (default %(default)s)")
    p.add_argument("--members", action="store_true",
                   help="also each mailing's messages: source and Message-ID")
    p.set_defaults(run=cmd_mailings)

    store = verbs.add_parser("store", help="look after a store: info, check, backup")
    store_verbs = store.add_subparsers(dest="store_verb", required=True, metavar="ACTION")
    p = store_verbs.add_parser("info", help="sizes, counts, scheme, mode, retention, last commit")
    p.add_argument("--store", required=True, metavar="DIR", help="the store to describe")
    p.add_argument("--json", action="store_true", help="one JSON record")
    p.set_defaults(run=cmd_store_info)
    p = store_verbs.add_parser("check", help="read every record; exit 1 with the problems found")
    p.add_argument("--store", required=True, metavar="DIR", help="the store to check")
    p.set_defaults(run=cmd_store_check)
    p = store_verbs.add_parser("backup", help="a consistent, compacted copy (safe while "
                                              "a writer runs)")
    p.add_argument("dest", metavar="DEST", help="a new folder for the copy")
    p.add_argument("--store", required=True, metavar="DIR", help="the store to copy")
    p.set_defaults(run=cmd_store_backup)


def cmd_serve(args: argparse.Namespace) -> int:
    from shingles.serve.server import serve  # aiohttp and friends: the [serve] extra

    config = load_config(args.config)
    # The store as `shingles scan` would open it: the config's [store] section, or
    # the stored matching mode of an existing store.
    settings = _store_settings(argparse.Namespace(
        store=args.store, mode=None, threshold=None, batch=None, retention_days=None,
        trace_threshold=None), config)
    serve(args.store, args.config, args.http, args.milter, settings)
    return EXIT_OK


def _add_serve_verb(verbs: Any) -> None:
    p = verbs.add_parser("serve", help="judge mail inline: a milter and an HTTP API that own "
                                       "the store")
    p.add_argument("--store", required=True, metavar="DIR",
                   help="the store this server owns as its only writer (created if missing)")
    p.add_argument("--config", metavar="FILE", help="TOML config; its [serve] section, "
                   "read again on SIGHUP")
    p.add_argument("--http", metavar="HOST:PORT", help="HTTP listener ('' for none; "
                   "default [serve] http)")
    p.add_argument("--milter", metavar="SOCKET", help="milter socket, inet:PORT@HOST or "
                   "unix:PATH ('' for none; default [serve] milter)")
    p.set_defaults(run=cmd_serve)


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
    parser.add_argument("--version", action="version",
                        version=f"shingles {__version__} ({_backend.BACKEND} core)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser("fingerprint", help="print the fingerprint of texts or messages as JSON")
    p.add_argument("paths", nargs="+", metavar="PATH|-",
                   help="mbox (.gz/.bz2/.xz too), maildir, folder, .eml or plain text; - is stdin")
    p.add_argument("--lexicon", metavar="FILE", help="lexicon for I-Match signatures")
    p.add_argument("--config", metavar="FILE", help="TOML config (trusted zone, limits)")
    p.add_argument("--backend", choices=("auto", "cython", "python"), default="auto",
                   help="cython: the compiled core; python: the plain-Python reference; "
                        "auto (default): compiled when it is built")
    _add_scheme_options(p)
    p.set_defaults(run=cmd_fingerprint)

    p = verbs.add_parser("parse", help="print each message's parsed fields as JSON Lines")
    p.add_argument("paths", nargs="+", metavar="PATH|-",
                   help="mbox (.gz/.bz2/.xz too), maildir, folder or .eml; - is stdin")
    p.add_argument("--config", metavar="FILE", help="TOML config (trusted zone, limits)")
    p.add_argument("--fields", type=_field_list, action="extend", metavar="NAME[,NAME...]",
                   help="print only these fields (besides source and message_id), comma-"
                        f"separated or repeated; one of: {', '.join(sorted(_MAIL_FIELDS))}")
    p.set_defaults(run=cmd_parse)

    lexicon = verbs.add_parser("lexicon", help="build or inspect an I-Match lexicon")
    lexicon_verbs = lexicon.add_subparsers(dest="lexicon_verb", required=True, metavar="ACTION")
    p = lexicon_verbs.add_parser("build", help="choose a lexicon from documents")
    p.add_argument("paths", nargs="+", metavar="FILE|-", help="one document per file")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the lexicon")
    defaults = LexiconSettings()
    p.add_argument("--min-df", type=int, default=defaults.min_df, metavar="N",
                   help="fewest documents a term must appear in (default %(default)s)")
    p.add_argument("--max-df", type=float, default=defaults.max_df, metavar="SHARE",
                   help="largest share of documents a term may appear in (default %(default)s)")
    p.add_argument("--sub-lexicons", type=int, default=defaults.sub_lexicons, metavar="K",
                   help="extra randomised sub-lexicons (default %(default)s)")
    p.add_argument("--min-terms", type=int, default=defaults.min_terms, metavar="N",
                   help="fewest lexicon terms a text needs for a signature "
                        "(default %(default)s)")
    _add_scheme_options(p)
    p.set_defaults(run=cmd_lexicon_build)
    p = lexicon_verbs.add_parser("info", help="print a lexicon's summary as JSON")
    p.add_argument("file", metavar="LEX", help="a lexicon file")
    p.set_defaults(run=cmd_lexicon_info)
    _add_store_verbs(verbs)
    _add_verdict_verbs(verbs)
    _add_social_verbs(verbs)
    cli_release.add_verb(verbs)
    cli_forwarders.add_verb(verbs)
    _add_serve_verb(verbs)
    _add_spark_verb(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shingles command with argv (default: sys.argv[1:]); return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:  # e.g. `shingles fingerprint x | head`
        return EXIT_OK
    except StoreLockedError as exc:
        return die(_locked(args.store, exc))
    except KeyboardInterrupt:  # Ctrl-C outside a scan: nothing half-written to commit
        print("shingles: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except (ShinglesError, ValueError, OSError) as exc:
        return die(str(exc))
