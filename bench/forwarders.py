"""python -m bench.forwarders: forwarders learned from the stream against the true list (issue 20).

The stream is bench.generator.stream (spam runs from many networks, newsletters,
personal mail), with a share of the newsletters and personal mail re-sent
through simulated forwarders: each adds its own Received hop on top, our MX
records SPF fail for the sender's domain (the forwarder is not in its SPF), the
sender's DKIM signature still verifies, and some forwarders add ARC sets; the
last --broken forwarders rewrite what they forward (DKIM fails, no ARC). One
open relay passes on part of a few spam runs (an outside hop below it, many
domains, no DKIM): a host the rules cannot label, and no forwarder.

1. Learning: the stream is scanned with [forwarders] learn = true; the hosts'
   evidence is classified (rules, model); precision and recall of forwarder
   classification against the simulated forwarders are printed, then again
   after one review round: a simulated operator answers truthfully for the
   --review hosts the model is least sure of (disagreements, undecided rules).
2. Judging: the stream is scanned again into fresh stores with (a) the true
   forwarder list configured, (b) the learned list (after review), (c) none; the
   agreement of (b) and (c) with (a) is printed: same verdict, same source
   network, same network count of the message's mailing identity.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import random
import re
import sys
from collections.abc import Iterator
from typing import Any

from bench.corpus import require_corpus

MX = "mx.bench.example"
FORWARDERS = (("alias.univ{}.example", "131.{}.7.25"), ("fwd.mailbox{}.example", "185.{}.40.9"),
              ("lists.club{}.example", "94.{}.130.3"))


@dataclasses.dataclass(frozen=True)
class Routed:
    """A message of the bench stream: raw bytes, its label, the forwarder it went through."""

    raw: bytes
    label: str
    forwarder: str | None


def _forwarders(count: int, broken: int) -> list[tuple[str, str, bool, str]]:
    """Return (host, IP, adds ARC, DKIM result at our MX) of the simulated forwarders.

    The last `broken` ones rewrite what they forward (a footer, a subject tag):
    the sender's DKIM signature fails and they add no ARC.
    """
    out = []
    for i in range(count):
        host, ip = FORWARDERS[i % len(FORWARDERS)]
        ok = i < count - broken
        out.append((host.format(i), ip.format(20 + i), ok and i % 2 == 0,
                    "pass" if ok else "fail"))
    return out


def _forward(raw: bytes, host: str, ip: str, arc: bool, spf_result: str,
             dkim: str = "pass") -> bytes:
    """Return raw as re-sent by a forwarder: its hop on top, SPF fail, DKIM still passing."""
    head, _, body = raw.partition(b"\n\n")
    text = head.decode("utf-8")
    sender = re.search(r"^From: .*@([^\s>]+)", text, re.M)
    domain = sender.group(1) if sender else "unknown.example"
    when = re.search(r"^Date: (.*)$", text, re.M)
    date = when.group(1) if when else ""
    text = text.replace(f"by {MX} with ESMTP", f"by {host} with ESMTP", 1)
    kept, skip = [], False
    for line in text.split("\n"):  # drop our MX's result for the hop below: we never saw it
        if line.startswith("Authentication-Results:"):
            skip = True
            continue
        if skip and line.startswith("\t"):
            continue
        skip = False
        kept.append(line)
    # Our MX's results above its Received header, where MTAs put them (and the
    # parser believes them only there).
    top = [f"Authentication-Results: {MX};\n\tspf={spf_result} smtp.mailfrom={domain};\n"
           f"\tdkim={dkim} header.d={domain}",
           f"Received: from {host} ({host} [{ip}])\n\tby {MX} with ESMTP; {date}"]
    if arc:
        top.append(f"ARC-Seal: i=1; a=rsa-sha256; cv=none; d={host}; s=arc; b=c2lnbmF0dXJl")
    return ("\n".join(top + kept)).encode("utf-8") + b"\n\n" + body


def routed_stream(days: int, seed: int, forwarders: int, share: float, broken: int = 0
                  ) -> Iterator[Routed]:
    """Yield the bench stream with a share of legitimate mail re-sent through forwarders."""
    from bench.generator import Vocabulary, load_bases, stream

    bases = load_bases()
    rnd = random.Random(f"forwarders/{seed}")
    hosts = _forwarders(forwarders, broken)
    relay = ("relay.hosting.example", "203.0.113.77")
    relayed_runs = {f"spam-{i}" for i in range(0, 40, 7)}
    for item in stream(bases, Vocabulary.of(bases), seed=seed, days=days):
        if item.label != "spam" and rnd.random() < share:
            host, ip, arc, dkim = rnd.choice(hosts)
            yield Routed(_forward(item.raw, host, ip, arc, "fail", dkim), item.label, ip)
        elif item.label == "spam" and item.mailing in relayed_runs and rnd.random() < 0.5:
            raw = _forward(item.raw, *relay, False, "softfail", "none")
            yield Routed(raw, item.label, None)
        else:
            yield Routed(item.raw, item.label, None)


def _scan(routed: list[Routed], config: Any, folder: str) -> list[Any]:
    from shingles.mail.parse import parse
    from shingles.store.reader import RECALL_SCHEME, Store
    from shingles.config import StoreSettings
    from shingles.verdicts.engine import Engine

    with Store(folder, scheme=RECALL_SCHEME, settings=StoreSettings(mode="recall")) as store:
        mails = (parse(r.raw, f"stream:{n}", config) for n, r in enumerate(routed))
        return list(Engine(store, config, scheme=RECALL_SCHEME).scan(mails))


def _scores(learned: set[str], truth: set[str]) -> tuple[float, float, int]:
    """Return (precision, recall, true positives) of a learned forwarder set."""
    tp = len(learned & truth)
    return (tp / len(learned) if learned else 0.0, tp / len(truth) if truth else 0.0, tp)


def _networks(verdict: Any) -> float | None:
    return next((r.figure for r in verdict.reasons if r.rule == "networks"), None)


def _net(ip: str | None) -> str | None:
    return str(ipaddress.ip_network(f"{ip}/24", strict=False)) if ip else None


def agreement(a: list[Any], b: list[Any]) -> dict[str, float]:
    """Return the shares of messages with the same verdict, source /24 and network count."""
    n = len(a)
    return {"verdict": sum(x.verdict == y.verdict for x, y in zip(a, b)) / n,
            "source_network": sum(_net(x.source_ip) == _net(y.source_ip)
                                  for x, y in zip(a, b)) / n,
            "network_count": sum(_networks(x) == _networks(y) for x, y in zip(a, b)) / n}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.forwarders",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14, help="days of stream (default 14)")
    parser.add_argument("--forwarders", type=int, default=6, help="simulated forwarders")
    parser.add_argument("--share", type=float, default=0.3,
                        help="share of legitimate mail re-sent through a forwarder")
    parser.add_argument("--broken", type=int, default=1,
                        help="forwarders that break DKIM and add no ARC (default 1)")
    parser.add_argument("--review", type=int, default=3,
                        help="hosts the simulated operator labels in one review round")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    require_corpus()
    from bench.engines import scratch_dir
    from bench.generator import AUTHSERV_ID
    from shingles.config import Config, ForwarderSettings, SendersConfig
    from shingles.store.reader import Store
    from shingles.verdicts.forwarders import Forwarders

    assert AUTHSERV_ID == MX
    routed = list(routed_stream(args.days, args.seed, args.forwarders, args.share,
                                args.broken))
    truth = {r.forwarder for r in routed if r.forwarder}
    base = SendersConfig(authserv_ids=(MX,))
    learning = Config(senders=base, forwarders=ForwarderSettings(learn=True))
    print(f"stream: {len(routed)} messages, {sum(r.forwarder is not None for r in routed)} "
          f"re-sent through {len(truth)} forwarders", file=sys.stderr)
    with scratch_dir() as folder:
        _scan(routed, learning, f"{folder}/learn")
        with Store(f"{folder}/learn", readonly=True) as store:
            hosts = Forwarders(learning.forwarders).hosts(store)
    learned = {h.ip for h in hosts if h.forwarder}
    precision, recall, tp = _scores(learned, truth)
    judged = [h for h in hosts if h.probability is not None or h.rule is not None]
    print(f"hosts with evidence: {len(hosts)}, judged (>= {learning.forwarders.min_messages} "
          f"messages): {len(judged)}; rules: {sum(h.rule is True for h in hosts)} forwarders, "
          f"{sum(h.rule is None for h in judged)} undecided; disagreements for review: "
          f"{sum(h.disagreement for h in hosts)}")
    print(f"forwarder classification: precision {precision:.3f}, recall {recall:.3f} "
          f"({tp} of {len(truth)} true forwarders, {len(learned) - tp} false)")
    # One review round: the operator answers for the hosts the model is least sure
    # of (disagreements first, then undecided rules by probability), truthfully.
    asked = sorted((h for h in hosts if h.probability is not None and (
        h.disagreement or h.rule is None)), key=lambda h: (not h.disagreement,
                                                           -(h.probability or 0)))[:args.review]
    labels = {h.ip: ("confirm" if h.ip in truth else "reject") for h in asked}
    after = Forwarders(learning.forwarders).classify(hosts, labels)  # type: ignore[arg-type]
    learned_after = {h.ip for h in after if h.forwarder}
    p2, r2, tp2 = _scores(learned_after, truth)
    print(f"after one review round ({len(labels)} hosts labelled: "
          f"{sum(v == 'confirm' for v in labels.values())} confirmed): precision {p2:.3f}, "
          f"recall {r2:.3f} ({tp2} of {len(truth)}, {len(learned_after) - tp2} false)")
    for h in judged:
        if h.forwarder or h.ip in truth or h.rule is None:
            print(f"  {h.ip:16} messages {h.messages:5d} below {h.deeper:5d} domains "
                  f"{h.domains:3d} signed {h.signed:5d} spf-fail {h.spf_fail:5d} rule "
                  f"{h.rule!s:5} p {h.probability!s:6} -> {'FORWARDER' if h.forwarder else '-'}"
                  f"{' (true)' if h.ip in truth else ''}")

    def configured(ips: set[str]) -> Config:
        nets = tuple(ipaddress.ip_network(ip) for ip in sorted(ips))
        return Config(senders=dataclasses.replace(base, forwarders=nets))

    with scratch_dir() as folder:
        true_run = _scan(routed, configured(truth), f"{folder}/true")
        learned_run = _scan(routed, configured(learned_after), f"{folder}/learned")
        none_run = _scan(routed, configured(set()), f"{folder}/none")
    for name, run in (("learned list (after review)", learned_run),
                      ("empty list", none_run)):
        figures = agreement(true_run, run)
        print(f"agreement of the {name} with the true list: verdicts {figures['verdict']:.4f}, "
              f"source networks {figures['source_network']:.4f}, network counts "
              f"{figures['network_count']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
