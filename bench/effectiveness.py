"""Effectiveness over one labelled stream, as SEED-NOTES section 5 compares systems.

The stream (bench.generator.stream: spam runs, legitimate newsletters,
personal mail) is filed message by message into a store per engine, and each
message is judged when it arrives, from what the store knows at that moment.
Judges:

- "engine" and "engine+hold": the engine's own verdict stage,
  shingles.verdicts.engine.Engine.scan (verdict rules, SPF from our authserv-id, IP
  zone), with the engine configuration's scheme, lexicon and store settings.
  Without hold a "hold" verdict delivers the message; with hold, held messages
  are judged again by Engine.rescan as soon as the stream's clock passes the
  earliest deadline, and once more at the end.

Two judges of the bench itself run beside it, as plain functions of the
message and its mailing's statistics (another judge plugs in the same way):

- "detection": no verdicts at all, only mailing detection: a message is
  flagged when its mailing has reached 3 copies. Flagged spam is caught;
  flagged legitimate bulk and personal mail are the cost (a detector alone
  cannot tell a newsletter from a spam run).
- "rules": shingles.verdicts.judge.judge (the verdict rules as pure policy) fed by the
  bench from Store.mailing statistics: copies, distinct /24 networks over all
  copies (the rules want networks per sender identity, which the store does
  not yet report), SPF pass of this message, its list headers, the mailing's
  share of SPF fail; no IP-zone history. bulk-spam and suspicious-source are
  spam verdicts. With "+hold", a "hold" verdict waits hold_minutes and the
  message is judged again when the stream's clock passes its deadline;
  without, it is delivered as personal mail.

Missed spam = spam given no spam verdict (after any hold); effectiveness =
1 - missed / spam; false positives = legitimate or personal mail given a
spam verdict. Missed spam per day is smoothed over a week for the plot.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bench.engines import Engine, scratch_dir
from bench.generator import CONFIG, Base, Vocabulary, stream
from shingles.mail.records import Mail
from shingles.mail.parse import parse
from shingles.store.reader import Mailing
from shingles.config import StoreSettings

#: judge(mail, its mailing or None, now) -> (verdict, hold deadline or None)
Judge = Callable[[Mail, "Mailing | None", datetime], "tuple[str, datetime | None]"]
SPAM_VERDICTS = frozenset(("bulk-spam", "suspicious-source"))


def detection(mail: Mail, mailing: Mailing | None, now: datetime) -> tuple[str, datetime | None]:
    """Return "bulk-spam" for a message whose mailing has 3+ copies, else "personal"."""
    return ("bulk-spam" if mailing is not None and mailing.size >= 3 else "personal"), None


def rules(mail: Mail, mailing: Mailing | None, now: datetime) -> tuple[str, datetime | None]:
    """Return shingles.verdicts.judge's verdict from the store's statistics (see the module docstring)."""
    from shingles.verdicts.judge import MailingFacts, judge

    facts = None
    if mailing is not None:
        spf = dict(mailing.spf)
        failed = spf.get("fail", 0) + spf.get("softfail", 0)
        facts = MailingFacts(size=mailing.size, networks=mailing.distinct_networks,
                             authenticated=mail.spf == "pass",
                             honest_signs=tuple(sorted(mail.bulk_signs)),
                             spf_fail_share=failed / mailing.size,
                             complaints=mailing.complaints, traps=mailing.traps,
                             first_seen=mailing.first_seen, last_seen=mailing.last_seen)
    j = judge(facts, None, now)
    return j.verdict, j.hold_until


JUDGES: dict[str, tuple[Judge, bool]] = {"detection": (detection, False),
                                         "rules": (rules, False), "rules+hold": (rules, True)}


def replay(engine: Engine, items: list[tuple[str, Mail]], judges: dict[str, tuple[Judge, bool]]
           ) -> tuple[dict[str, list[tuple[str, str, datetime]]], dict[str, int]]:
    """Return, per judge, (label, final verdict, arrival) of every message, judged online,
    and how many messages each judge held."""
    # One commit per message, so Store.mailing sees every copy filed so far;
    # the store lives in memory, where a commit costs no fsync.
    one = dataclasses.replace(engine, settings=dataclasses.replace(engine.settings, batch_size=1))
    fps = engine.fingerprints(m.text for _, m in items)
    out: dict[str, list[tuple[str, str, datetime]]] = {name: [] for name in judges}
    held: dict[str, list[tuple[datetime, int]]] = {name: [] for name in judges}
    verdicts: dict[str, list[str]] = {name: [] for name in judges}
    holds = dict.fromkeys(judges, 0)
    with scratch_dir() as folder, one.open(folder) as store:
        with store.session() as session:
            ids: list[int | None] = []
            for n, ((label, mail), fp) in enumerate(zip(items, fps)):
                now = mail.date
                for name, (judge, hold) in judges.items():
                    while held[name] and held[name][0][0] <= now:
                        _, k = heapq.heappop(held[name])
                        verdicts[name][k] = judge(items[k][1], _mailing(store, ids[k]), now)[0]
                ids.append(session.add(mail, fp))
                session.commit()
                mailing = _mailing(store, ids[-1])
                for name, (judge, hold) in judges.items():
                    verdict, until = judge(mail, mailing, now)
                    if verdict == "hold" and hold and until is not None:
                        heapq.heappush(held[name], (until, n))
                        holds[name] += 1
                    verdicts[name].append("personal" if verdict == "hold" else verdict)
    for name in judges:
        out[name] = [(label, v, mail.date) for (label, mail), v in zip(items, verdicts[name])]
    return out, holds


def replay_engine(engine: Engine, items: list[tuple[str, Mail]], hold: bool
                  ) -> tuple[list[tuple[str, str, datetime]], int]:
    """Return (label, final verdict, arrival) per message as shingles.verdicts.engine.Engine judges
    them, and how many it held; see the module docstring for hold."""
    from shingles.verdicts.engine import Engine as VerdictEngine
    from shingles.verdicts.engine import Verdict

    config = CONFIG if hold else dataclasses.replace(
        CONFIG, judge=dataclasses.replace(CONFIG.judge, hold_minutes=0.0))
    final: dict[str, str] = {}
    holds = 0
    with scratch_dir() as folder, engine.open(folder) as store:
        judge = VerdictEngine(store, config, scheme=engine.scheme, lexicon=engine.lexicon)
        deadline: datetime | None = None

        def rescan(when: datetime) -> None:
            for changed in judge.rescan(when):
                final[changed.message_id or ""] = changed.verdict

        for _, mail in items:
            assert mail.date is not None
            if hold and deadline is not None and mail.date >= deadline:
                rescan(mail.date)
                deadline = None
            # Exhaust scan(): its session commits only when the generator ends.
            # (Engine.scan_one stops after the first verdict, so its session is
            # closed by GeneratorExit and rolled back: nothing is ever stored.)
            verdict = next(v for v in list(judge.scan([mail])) if isinstance(v, Verdict))
            final[verdict.message_id or ""] = verdict.verdict
            if verdict.verdict == "hold":
                holds += 1
                if hold and verdict.hold_until is not None:
                    deadline = min(deadline or verdict.hold_until, verdict.hold_until)
        if hold and items:
            last = items[-1][1].date
            assert last is not None
            rescan(last.replace(year=last.year + 1))
    out = [(label, final.get(mail.message_id or "", "personal"), mail.date)
           for label, mail in items]
    # A verdict still "hold" without hold delivers the message.
    return [(label, "personal" if v == "hold" else v, when) for label, v, when in out], holds


def _mailing(store: Any, mailing: int | None) -> Mailing | None:
    if mailing is None:
        return None
    try:
        return store.mailing(mailing)
    except KeyError:
        return None


def run(engines: list[Engine], bases: list[Base], vocab: Vocabulary, days: int, seed: int,
        progress: Any = None) -> dict[str, Any]:
    """Return the effectiveness table and missed spam per day (7-day mean) per configuration."""
    from shingles.scheme import Scheme

    made = list(stream(bases, vocab, seed, days=days, spam_runs=max(4, days * 5 // 7),
                       newsletters=max(2, days // 7)))
    items = [(m.label, parse(m.raw, f"stream:{n}", CONFIG)) for n, m in enumerate(made)]
    configs = engines + [Engine(f"paper w={w}", StoreSettings(), False, Scheme(window=w))
                         for w in (3, 5)]
    rows, daily, weekly = [], {}, {}
    task = progress.add_task("effectiveness", total=len(configs)) if progress else None
    start = made[0].date
    for engine in configs:
        judgements, holds = replay(engine, items, JUDGES)
        for hold in (False, True):
            name = "engine+hold" if hold else "engine"
            judgements[name], holds[name] = replay_engine(engine, items, hold)
        for name, judged in judgements.items():
            spam = [v for label, v, _ in judged if label == "spam"]
            missed = sum(v not in SPAM_VERDICTS for v in spam)
            legit = {lab: [v for label, v, _ in judged if label == lab]
                     for lab in ("bulk-legit", "personal")}
            per_day = [0] * days
            for label, v, when in judged:
                if label == "spam" and v not in SPAM_VERDICTS:
                    per_day[min(days - 1, (when - start).days)] += 1
            week = [sum(per_day[max(0, d - 6):d + 1]) / len(per_day[max(0, d - 6):d + 1])
                    for d in range(days)]
            key = f"{engine.name} / {name}"
            daily[key] = week
            # The paper's figure: missed spam per day, averaged week by week.
            weekly[key] = [sum(per_day[d:d + 7]) / len(per_day[d:d + 7])
                           for d in range(0, days, 7)]
            rows.append({"engine": engine.name, "judge": name, "spam": len(spam),
                         "missed": missed, "effectiveness": 1 - missed / max(1, len(spam)),
                         "bulk_legit": len(legit["bulk-legit"]),
                         "false_positives_bulk_legit": sum(v in SPAM_VERDICTS
                                                           for v in legit["bulk-legit"]),
                         "personal": len(legit["personal"]),
                         "false_positives_personal": sum(v in SPAM_VERDICTS
                                                         for v in legit["personal"]),
                         "held": holds[name]})
        if progress:
            progress.advance(task)
    labels = {lab: sum(1 for m in made if m.label == lab) for lab in ("spam", "bulk-legit",
                                                                       "personal")}
    note = (f"Stream of {len(made)} messages over {days} days ({labels}). Judges: "
            "'engine' = the engine's verdict stage (shingles.verdicts.engine.Engine.scan; a hold "
            "delivers); 'engine+hold' = the same with held messages rescanned "
            "(Engine.rescan) when the stream passes their deadline; 'detection' = mailing "
            "of 3+ copies flagged (no verdicts); 'rules' = shingles.verdicts.judge rules fed from "
            "Store.mailing statistics by the bench (networks over all copies, no IP zone); "
            "'+hold' = hold verdicts rescanned at their deadline.")
    return {"rows": rows, "daily": daily, "weekly": weekly, "labels": labels, "note": note}
