"""The ``shingles forwarders`` verb: argument parsing and output only.

Kept apart from cli.py (which adds it to its parser); the work is
shingles.verdicts.forwarders'.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from shingles.config import load_config
from shingles.store.reader import Store
from shingles.verdicts.forwarders import DATABASES, Forwarders, Host

__all__ = ["add_verb"]


def _row(h: Host) -> str:
    p = "-" if h.probability is None else f"{h.probability:.2f}"
    rule = {True: "yes", False: "no", None: "?"}[h.rule]
    mark = "FORWARDER" if h.forwarder else "-"
    return (f"{h.ip:39} {h.messages:8d} {h.deeper:6d} {h.domains:7d} {h.signed:6d} "
            f"{h.spf_fail:8d} {rule:5} {p:>5} {h.operator or '-':8} {mark} {h.why}")


def cmd_forwarders(args: argparse.Namespace) -> int:
    model = Forwarders(load_config(args.config).forwarders)
    if args.confirm or args.reject or args.forget:
        with Store(args.store) as store:
            store.attach(DATABASES)
            with store.session() as session:
                for ip in args.confirm:
                    model.label(session, ip, "confirm")
                for ip in args.reject:
                    model.label(session, ip, "reject")
                for ip in args.forget:
                    model.label(session, ip, None)
    with Store(args.store, readonly=True) as store:
        hosts = model.hosts(store)
    if args.review:
        hosts = [h for h in hosts if h.disagreement]
    if args.json:
        for host in hosts:
            print(json.dumps(host.to_json(), ensure_ascii=False))
    else:
        print(f"{'host':39} {'messages':>8} {'below':>6} {'domains':>7} {'signed':>6} "
              f"{'spf-fail':>8} {'rule':5} {'model':>5} {'operator':8} conclusion")
        for host in hosts:
            print(_row(host))
    learned = sum(h.forwarder for h in hosts)
    print(f"shingles: {len(hosts)} hosts{' to review' if args.review else ''}, "
          f"{learned} forwarders", file=sys.stderr)
    return 0


def add_verb(verbs: Any) -> None:
    """Add the forwarders verb to the shingles command's sub-parsers."""
    p = verbs.add_parser("forwarders",
                         help="forwarders learned from the stream: evidence, rules, model; "
                              "take an operator's labels")
    p.add_argument("--store", required=True, metavar="DIR",
                   help="the store whose scans kept the evidence")
    p.add_argument("--config", metavar="FILE", help="TOML configuration ([forwarders] section)")
    p.add_argument("--review", action="store_true",
                   help="only the hosts where the rules and the model disagree")
    p.add_argument("--confirm", metavar="HOST", action="append", default=[],
                   help="label HOST (an IP) a forwarder: it is looked past from the next scan")
    p.add_argument("--reject", metavar="HOST", action="append", default=[],
                   help="label HOST (an IP) not a forwarder")
    p.add_argument("--forget", metavar="HOST", action="append", default=[],
                   help="remove the operator's label of HOST")
    p.add_argument("--json", action="store_true", help="one JSON record per host on stdout")
    p.set_defaults(run=cmd_forwarders)
