"""Verdicts on realistic streams: newsletters, spam runs, personal mail, forged copies, holds."""

from __future__ import annotations

import dataclasses
import pathlib
import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from shingles.config import Config, SendersConfig
from shingles.verdicts.engine import Engine, Verdict
from shingles.mail.records import Mail
from shingles.mail.parse import parse
from shingles.verdicts.layout import ZONE
from shingles.config import SpfSettings
from shingles.store.reader import Store
from shingles.config import StoreSettings

CONFIG = Config(senders=SendersConfig(authserv_ids=("mx.shingles.test",)))
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
WORDS = [a + b + c for a in "bdfgklmnprstv" for b in "aeiou" for c in "lmnrst"]


def body(seed: int, words: int = 160) -> str:
    rnd = random.Random(seed)
    lines = [" ".join(rnd.choice(WORDS) for _ in range(12)) for _ in range(words // 12)]
    return "\n".join(lines)


NEWSLETTER, SPAM = body(1), body(2)


def message(n: int, ip: str, text: str, *, sender: str = "news@garden.example",
            auth: str | None = None, lists: bool = False, minutes: float = 0) -> Mail:
    when = START + timedelta(minutes=minutes)
    headers = [
        f"Received: from relay{n}.example ([{ip}]) by mx.shingles.test with ESMTP id {n:x}; "
        f"{format_datetime(when)}",
        f"Return-Path: <{sender}>",
        f"From: {sender}",
        f"To: user{n}@shingles.test",
        "Subject: Spring news",
        f"Date: {format_datetime(when)}",
        f"Message-ID: <{n}@{sender.split('@')[1]}>",
    ]
    if auth:
        headers.insert(0, f"Authentication-Results: {auth}; spf=pass "
                          f"smtp.mailfrom={sender}")
    if lists:
        headers += ["List-Id: <news.garden.example>",
                    "List-Unsubscribe: <mailto:leave@garden.example>"]
    raw = ("\n".join(headers) + "\n\n" + text + "\n").encode()
    return parse(raw, f"test:{n}", CONFIG)


def when(mail: Mail) -> datetime:
    assert mail.date is not None
    return mail.date


def engine(tmp_path: pathlib.Path) -> Engine:
    return Engine(Store(tmp_path / "store", settings=StoreSettings(batch_size=50)), CONFIG)


def test_newsletter_spam_run_and_personal_mail(tmp_path: pathlib.Path) -> None:
    stream, kind = [], {}
    for i in range(40):
        ip = "192.0.2.10" if i % 2 else "198.51.100.10"
        stream.append(message(i, ip, f"Hello reader {i},\n{NEWSLETTER}", auth="mx.shingles.test",
                              lists=True, minutes=i))
    for i in range(100, 160):
        stream.append(message(i, f"203.0.{i}.9", f"{SPAM}\nref {random.Random(i).random()}",
                              sender=f"sales{i}@pharma{i}.example", minutes=(i - 100) / 2))
    for i in range(200, 210):
        stream.append(message(i, f"198.18.{i - 200}.1", body(i), sender=f"friend{i}@mail.example",
                              minutes=i))
    for mail in stream:
        mid = mail.message_id or ""
        kind[mid] = ("newsletter" if "garden" in mid else "spam" if "pharma" in mid
                     else "personal")
    stream.sort(key=when)
    eng = engine(tmp_path)
    verdicts = [v for v in eng.scan(stream) if isinstance(v, Verdict)]
    by_kind: dict[str, Counter[str]] = {k: Counter() for k in ("newsletter", "spam", "personal")}
    for verdict in verdicts:
        by_kind[kind[verdict.message_id or ""]][verdict.verdict] += 1
    assert by_kind["personal"] == Counter(personal=10)
    assert by_kind["newsletter"]["bulk-legit"] >= 38  # all but the first copies
    assert set(by_kind["newsletter"]) <= {"bulk-legit", "personal"}  # never spam, never held
    assert by_kind["spam"]["bulk-spam"] >= 40
    assert set(by_kind["spam"]) <= {"bulk-spam", "hold", "personal"}

    spam_verdict = next(v for v in reversed(verdicts) if kind[v.message_id or ""] == "spam")
    networks = next(r for r in spam_verdict.reasons if r.rule == "networks")
    assert networks.figure >= 20 and networks.threshold == 20

    # Rescan after the deadline: every held copy of the spam run becomes spam.
    held = by_kind["spam"]["hold"]
    changed = eng.rescan(START + timedelta(days=1))
    assert len(changed) == held > 0
    assert all(v.previous == "hold" and v.verdict == "bulk-spam" for v in changed)
    assert eng.rescan(START + timedelta(days=2)) == []  # nothing left held


def test_forged_copies_cannot_make_a_genuine_newsletter_spam(tmp_path: pathlib.Path) -> None:
    genuine = [message(i, "192.0.2.10" if i % 2 else "198.51.100.10",
                       f"Dear member {i},\n{NEWSLETTER}", auth="mx.shingles.test", lists=True,
                       minutes=i) for i in range(30)]
    # 500 unauthenticated copies from 300 networks; some carry an Authentication-Results
    # header written by a host we do not trust, which must be ignored.
    forged = [message(1000 + i, f"100.{64 + i % 60}.{i % 300 // 60}.{i % 250 + 1}",
                      f"Dear member {i},\n{NEWSLETTER}",
                      auth="evil.example" if i % 3 == 0 else None, lists=True,
                      minutes=i / 20) for i in range(500)]
    stream = sorted(genuine + forged, key=when)
    verdicts = {v.message_id: v for v in engine(tmp_path).scan(stream) if isinstance(v, Verdict)}
    real = Counter(verdicts[m.message_id].verdict for m in genuine)
    fake = Counter(verdicts[m.message_id].verdict for m in forged)
    assert real["bulk-legit"] >= 28 and real["bulk-spam"] == 0
    assert fake["bulk-spam"] >= 450


def test_explain_names_matched_signatures_and_the_rules(tmp_path: pathlib.Path) -> None:
    eng = engine(tmp_path)
    stream = [message(i, f"203.0.{i}.9", f"{SPAM}\nref {i}", sender=f"s{i}@x{i}.example",
                      minutes=i / 10) for i in range(30)]
    list(eng.scan(stream))
    explained = eng.explain(stream[-1].message_id)  # type: ignore[arg-type]
    assert explained["verdict"]["verdict"] == "bulk-spam"
    assert explained["mailing"]["size"] == 30
    assert any(m["signature"].startswith("mega-shingle") for m in explained["matched"])
    assert {r["rule"] for r in explained["verdict"]["reasons"]} >= {"networks"}
    assert len(explained["messages"]) == 20
    with pytest.raises(KeyError):
        eng.explain("<nobody@nowhere>")


def test_zone_counters_stay_fixed_size_however_much_one_ip_sends(
        tmp_path: pathlib.Path) -> None:
    eng = engine(tmp_path)
    stream = [message(i, "198.51.100.99", body(5000 + i), sender=f"p{i}@x.example", minutes=i)
              for i in range(300)]
    list(eng.scan(stream))
    record = eng.store.record("zone", b"198.51.100.99")
    assert record is not None and len(record) == ZONE.size


def test_live_spf_from_the_local_dns_server_makes_a_newsletter_legit(
        tmp_path: pathlib.Path, dns: SpfSettings) -> None:
    config = dataclasses.replace(CONFIG, spf=dns)
    eng = Engine(Store(tmp_path / "store"), config)
    # No Authentication-Results: the engine asks DNS. legit.example allows 192.0.2.0/24.
    copies = [message(i, "192.0.2.10", f"Hi {i},\n{NEWSLETTER}", sender="news@legit.example",
                      lists=True, minutes=i) for i in range(5)]
    verdicts = [v for v in eng.scan(copies) if isinstance(v, Verdict)]
    assert all(v.spf == "pass" and v.spf_origin == "live" for v in verdicts)
    assert [v.verdict for v in verdicts][2:] == ["bulk-legit"] * 3
    assert "authenticated" in verdicts[-1].reasons[-1].says
    forged = message(99, "203.0.113.50", f"Hi x,\n{NEWSLETTER}", sender="news@legit.example")
    assert next(iter(eng.scan([forged]))).spf == "fail"  # type: ignore[union-attr]


def test_scan_one_commits_the_message(tmp_path: pathlib.Path) -> None:
    eng = engine(tmp_path)
    for i in range(3):
        eng.scan_one(message(i, "192.0.2.10", f"Hello {i},\n{NEWSLETTER}", minutes=i))
    assert eng.store.counts()["messages"] == 3
