"""The verdict engine over a labelled stream: hold versus no hold, and what it costs.

    python bench/bench_verdicts.py [--days 28] [--out bench/out/verdicts]

The stream is bench.generator.stream (spam runs from hundreds of IPs, weekly
newsletters with SPF pass and list headers from 1-3 IPs, personal mail) built
from the real corpus. It is scanned by shingles.verdicts.engine.Engine twice, into
fresh stores: once as is (a "hold" verdict delivers the message: it counts as
not caught), and once with hold, where every held message is judged again by
Engine.rescan as soon as the stream's clock passes its deadline. Printed:

- spam caught (bulk-spam or suspicious-source), overall and for the first five
  copies of each run, the copies that arrive before a mailing is recognised;
- legitimate mail (newsletters and personal) given a spam verdict;
- legitimate mail held, and how long: the bar is "almost never".
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from bench.corpus import write_results  # noqa: E402
from bench.generator import CONFIG, load_bases, stream  # noqa: E402
from shingles.verdicts.engine import Engine, Verdict  # noqa: E402
from shingles.verdicts.judge import JudgeSettings  # noqa: E402
from shingles.mail.parse import parse  # noqa: E402
from shingles.store.reader import Store, StoreSettings  # noqa: E402

SPAM = frozenset(("bulk-spam", "suspicious-source"))


def run(items: list, hold: bool, work: pathlib.Path) -> dict[str, object]:  # type: ignore[type-arg]
    settings = CONFIG.judge if hold else dataclasses.replace(
        CONFIG.judge, hold_minutes=0.0)
    config = dataclasses.replace(CONFIG, judge=settings)
    final: dict[str, str] = {}
    held_at: dict[str, datetime] = {}
    held_for: dict[str, float] = {}
    started = time.process_time()
    with Store(work, settings=StoreSettings(mode="recall", batch_size=500,
                                            retention_days=0)) as store:
        engine = Engine(store, config)
        deadline = None
        for item in items:
            mail = parse(item.raw, item.mailing or "personal", config)
            if hold and deadline is not None and item.date >= deadline:
                for changed in engine.rescan(item.date):
                    final[changed.message_id or ""] = changed.verdict
                    since = held_at.pop(changed.message_id or "", item.date)
                    held_for[changed.message_id or ""] = (item.date - since).total_seconds()
                deadline = None
            [verdict] = [v for v in engine.scan([mail]) if isinstance(v, Verdict)]
            final[verdict.message_id or ""] = verdict.verdict
            if verdict.verdict == "hold" and hold and verdict.hold_until is not None:
                held_at[verdict.message_id or ""] = item.date
                deadline = min(deadline or verdict.hold_until, verdict.hold_until)
        if hold:
            end = items[-1].date
            for changed in engine.rescan(end.replace(year=end.year + 1)):
                final[changed.message_id or ""] = changed.verdict
    seconds = time.process_time() - started
    return {"final": final, "held_for": held_for, "cpu_seconds": seconds}


def message_id(raw: bytes) -> str:
    head = raw.split(b"\n\n", 1)[0]
    for line in head.splitlines():
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=28, help="length of the stream")
    parser.add_argument("--out", default="bench/out/verdicts")
    args = parser.parse_args()

    items = list(stream(load_bases(), days=args.days, spam_runs=max(4, args.days * 40 // 56),
                        newsletters=6, personal=300))
    labels = {message_id(item.raw): item for item in items}
    runs_first: dict[str, list[str]] = defaultdict(list)
    for item in items:
        if item.label == "spam" and len(runs_first[item.mailing]) < 5:
            runs_first[item.mailing].append(message_id(item.raw))
    first = {mid for mids in runs_first.values() for mid in mids}
    total = Counter(item.label for item in items)
    print(f"stream: {len(items)} messages over {args.days} days: {dict(total)}; "
          f"{len(runs_first)} spam runs")
    results: dict[str, object] = {"stream": dict(total), "judge": dataclasses.asdict(
        JudgeSettings())}
    print(f"{'engine':12} {'spam caught':>12} {'first 5 caught':>15} {'legit as spam':>14} "
          f"{'legit held':>11} {'held, median min':>17} {'msgs/s':>7}")
    for hold in (False, True):
        with tempfile.TemporaryDirectory() as work:
            outcome = run(items, hold, pathlib.Path(work) / "store")
        final = outcome["final"]
        assert isinstance(final, dict)
        spam = [mid for mid, item in labels.items() if item.label == "spam"]
        legit = [mid for mid, item in labels.items() if item.label != "spam"]
        caught = sum(final.get(mid) in SPAM for mid in spam)
        first_caught = sum(final.get(mid) in SPAM for mid in first)
        false_pos = sum(final.get(mid) in SPAM for mid in legit)
        held_for = outcome["held_for"]
        assert isinstance(held_for, dict)
        legit_held = [held_for[mid] / 60 for mid in legit if mid in held_for]
        name = "with hold" if hold else "no hold"
        rate = len(items) / float(outcome["cpu_seconds"])  # type: ignore[arg-type]
        row = {"spam_caught": caught / len(spam), "first_copies_caught": first_caught / len(first),
               "legit_as_spam": false_pos, "legit": len(legit), "legit_held": len(legit_held),
               "legit_held_minutes_median": statistics.median(legit_held) if legit_held else 0.0,
               "messages_per_cpu_second": rate}
        results[name] = row
        print(f"{name:12} {row['spam_caught']:12.3f} {row['first_copies_caught']:15.3f} "
              f"{false_pos:8d}/{len(legit):<5d} {len(legit_held):11d} "
              f"{row['legit_held_minutes_median']:17.1f} {rate:7.0f}")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
