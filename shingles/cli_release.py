"""The ``shingles release-check`` verb: argument parsing and output only.

Kept apart from cli.py (which adds it to its parser) so the verb's options and
output sit in one place; the work is shingles.verdicts.release's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from shingles.config import ReleaseSettings, load_config
from shingles.lexicon import Lexicon
from shingles.mail.read import RawMessage, read_raw
from shingles.mail.records import MailError
from shingles.scheme import Scheme
from shingles.store.reader import Store

__all__ = ["EXIT_FAILED", "add_verb"]

#: Exit status of a check that ran and failed (0 passed; 1 and 2 as every verb).
EXIT_FAILED = 3


def _say(message: str) -> None:
    print(f"shingles: {message}", file=sys.stderr)


def cmd_release_check(args: argparse.Namespace) -> int:
    # Imported here: scipy loads in about half a second, which other verbs need not pay.
    from shingles.verdicts.release import Side, plot, read_labels, release_check

    old_config, new_config = load_config(args.old), load_config(args.new)
    with Store(args.store, readonly=True) as live:
        scheme, settings, lexicon_id = Scheme.from_id(live.scheme_id), live.settings, \
            live.lexicon_id
    old_lexicon = Lexicon.load(args.lexicon_old) if args.lexicon_old else None
    if lexicon_id and old_lexicon is None:
        _say(f"{args.store} uses {lexicon_id}: give it with --lexicon-old")
        return 2
    new_lexicon = Lexicon.load(args.lexicon_new) if args.lexicon_new else old_lexicon
    labels = None
    if args.labels:
        with open(args.labels, encoding="utf-8") as f:
            labels = read_labels(f)
    release = ReleaseSettings(resamples=args.resamples, quantile=args.quantile,
                              tolerance=args.tolerance, seed=args.seed)
    raws: list[RawMessage] = []
    errors = 0
    for item in read_raw(args.paths, old_config.limits):
        if isinstance(item, MailError):
            errors += 1
            print(json.dumps(item.to_json(), ensure_ascii=False))
        else:
            raws.append(item)
    new_settings = settings
    if args.new_threshold is not None or args.new_trace_threshold is not None:
        new_settings = dataclasses.replace(
            settings, mode="recall",
            threshold=settings.threshold if args.new_threshold is None else args.new_threshold,
            trace_threshold=args.new_trace_threshold)
    new_scheme = dataclasses.replace(scheme, window=args.new_window) if args.new_window \
        else None
    report = release_check(raws, Side(old_config, old_lexicon),
                           Side(new_config, new_lexicon, new_scheme, new_settings),
                           store_settings=settings, scheme=scheme, labels=labels,
                           settings=release)
    for changed in report.changed:
        print(json.dumps(changed.to_json(), ensure_ascii=False))
    figures = report.summary()
    if args.plot:
        plot(report, args.plot)
    _say(f"release check {'PASSED' if report.passed else 'FAILED'}: distance "
         f"{figures['distance']} on {report.legitimate} legitimate messages "
         f"({'labelled' if report.labelled else 'not judged spam by the old configuration'}), "
         f"limit {figures['limit']} (old-vs-old bootstrap median "
         f"{figures['bootstrap_median']}, {release.quantile:.0%} quantile "
         f"{figures['bootstrap_quantile']}, tolerance {release.tolerance}); "
         f"{figures['changed']} verdicts changed ({figures['legitimate_changed']} legitimate), "
         f"{report.messages} messages, {errors} unreadable")
    if not report.passed:
        return EXIT_FAILED
    return 1 if errors else 0


def add_verb(verbs: Any) -> None:
    """Add the release-check verb to the shingles command's sub-parsers."""
    defaults = ReleaseSettings()
    p = verbs.add_parser("release-check",
                         help="replay a stream through an old and a new configuration; "
                              "fail when legitimate mail's scores move")
    p.add_argument("paths", nargs="+", metavar="PATH|-",
                   help="the stream to replay: mbox, maildir, .eml or a folder; - is stdin")
    p.add_argument("--store", required=True, metavar="DIR",
                   help="the live store: its scheme and matching mode are replayed")
    p.add_argument("--old", required=True, metavar="OLD.toml", help="the configuration live now")
    p.add_argument("--new", required=True, metavar="NEW.toml", help="the candidate configuration")
    p.add_argument("--lexicon-old", metavar="FILE", help="the I-Match lexicon live now")
    p.add_argument("--lexicon-new", metavar="FILE",
                   help="the candidate lexicon (default: the old one)")
    p.add_argument("--new-window", type=int, metavar="W",
                   help="the candidate's shingle window (scheme parameter)")
    p.add_argument("--new-threshold", type=float, metavar="T",
                   help="the candidate's recall-mode resemblance threshold")
    p.add_argument("--new-trace-threshold", type=float, metavar="T",
                   help="the candidate's recall-mode threshold for trace-sharing candidates")
    p.add_argument("--labels", metavar="FILE",
                   help="labels: 'MESSAGE-ID LABEL' or JSON lines; 'spam' is spam, other "
                        "labels legitimate (default: what the old configuration did not "
                        "judge spam)")
    p.add_argument("--plot", metavar="FILE", help="histogram of both distributions "
                                                  "(needs matplotlib)")
    p.add_argument("--resamples", type=int, default=defaults.resamples,
                   help="bootstrap resamples (default %(default)s)")
    p.add_argument("--quantile", type=float, default=defaults.quantile,
                   help="pass up to this quantile of old-vs-old distances "
                        "(default %(default)s)")
    p.add_argument("--tolerance", type=float, default=defaults.tolerance,
                   help="always pass up to this distance (default %(default)s)")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed of the resampling")
    p.set_defaults(run=cmd_release_check)
