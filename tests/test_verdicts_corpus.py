"""Verdicts on a stream built from the real corpus: newsletters, spam runs and personal mail.

The bodies are real (../shared/corpus); the envelopes are ours, so each message's
truth is known: legitimate mailings from one network with SPF pass and list
headers, spam runs from hundreds of networks without authentication, and
personal mail sent once each.
"""

from __future__ import annotations

import pathlib
import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from shingles.config import Config, SendersConfig
from shingles.verdicts.engine import Engine, Verdict
from shingles.mail.records import Mail
from shingles.mail.read import read
from shingles.mail.parse import parse
from shingles.store.reader import Store

CONFIG = Config(senders=SendersConfig(authserv_ids=("mx.shingles.test",)))
START = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)


def _bodies(folder: pathlib.Path, name: str, count: int, seed: int) -> list[str]:
    texts = [m.text for m in read(folder / f"{name}.mbox.gz")
             if isinstance(m, Mail) and len(m.text.split()) >= 120]
    return random.Random(seed).sample(texts, count)


def _message(n: int, ip: str, text: str, sender: str, when: datetime, *,
             spf: bool = False, lists: bool = False) -> Mail:
    headers = [f"Received: from h{n}.example ([{ip}]) by mx.shingles.test; {format_datetime(when)}",
               f"Return-Path: <{sender}>", f"From: {sender}", f"To: u{n}@shingles.test",
               f"Date: {format_datetime(when)}", f"Message-ID: <{n}@stream.test>",
               "Content-Type: text/plain; charset=utf-8"]
    if spf:
        headers.append(f"Authentication-Results: mx.shingles.test; spf=pass smtp.mailfrom={sender}")
    if lists:
        headers += [f"List-Id: <{sender.split('@')[1]}>", f"List-Unsubscribe: <mailto:u@{ip}>"]
    return parse(("\n".join(headers) + "\n\n" + text).encode(), f"stream:{n}", CONFIG)


def test_scan_of_a_corpus_stream_gives_the_expected_verdicts(tmp_path: pathlib.Path,
                                                             corpus: pathlib.Path) -> None:
    rnd = random.Random(5)
    ham, spam = _bodies(corpus, "ham", 3 + 60, seed=1), _bodies(corpus, "spam", 3, seed=2)
    stream: list[tuple[datetime, str, Mail]] = []
    n = 0
    for letter, text in enumerate(ham[:3]):
        for copy in range(40):
            n += 1
            when = START + timedelta(hours=letter * 30, seconds=copy * 20)
            body = f"Dear {rnd.choice(['Ann', 'Bo', 'Cy', 'Di'])},\n{text}"
            stream.append((when, "legit", _message(n, f"192.0.{2 + letter}.10", body,
                                                   f"news@letter{letter}.example", when,
                                                   spf=True, lists=True)))
    for run, text in enumerate(spam):
        for copy in range(150):
            n += 1
            when = START + timedelta(hours=run * 30 + 10, seconds=copy * 30)
            ip = f"{rnd.randrange(11, 223)}.{rnd.randrange(256)}.{rnd.randrange(256)}.9"
            body = f"{text}\n{rnd.getrandbits(64):x}"
            stream.append((when, "spam", _message(n, ip, body, f"x{copy}@bulk{copy}.example",
                                                  when)))
    for i, text in enumerate(ham[3:]):
        n += 1
        when = START + timedelta(minutes=37 * i)
        stream.append((when, "personal", _message(n, f"203.0.113.{i + 1}", text,
                                                  f"friend{i}@mail.example", when,
                                                  spf=i % 2 == 0)))
    stream.sort(key=lambda item: item[0])
    truth = {mail.message_id: label for _, label, mail in stream}
    engine = Engine(Store(tmp_path / "store"), CONFIG)
    verdicts = [v for v in engine.scan(m for _, _, m in stream) if isinstance(v, Verdict)]
    final = {v.message_id: v.verdict for v in verdicts}
    final.update({v.message_id: v.verdict for v in engine.rescan(START + timedelta(days=30))})
    tally = {label: Counter(final[mid] for mid, lab in truth.items() if lab == label)
             for label in ("legit", "spam", "personal")}
    assert tally["personal"] == Counter(personal=60)
    assert tally["legit"]["bulk-legit"] >= 3 * 38 and tally["legit"]["bulk-spam"] == 0
    assert tally["spam"]["bulk-spam"] >= 3 * 148  # all but the first copy of each run
    assert tally["spam"]["hold"] == 0  # rescan left nothing held
