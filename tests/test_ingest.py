"""`shingles ingest` and `shingles mailings`, run as users run them, killed and resumed."""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from collections.abc import Callable
from typing import Any

import pytest

from shingles.cli import main
from shingles.store.reader import Store

from .conftest import corpus_dir  # type: ignore[import-not-found]  # tests is no package

WORDS = [a + b + c for a in "bdfgklmnprst" for b in "aeiou" for c in "lmnrst"]
T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)


def make_mbox(n: int, seed: int = 0) -> bytes:
    """Return an mbox of n messages: 20 mailings (greeting varies) among one-off notes.

    Mailings 0..9 come from a few IPs of one /24 each, 10..19 from random
    IPs; 0..4 carry List-Unsubscribe.
    """
    rnd = random.Random(seed)
    bases = [[rnd.choice(WORDS) for _ in range(120)] for _ in range(20)]
    out = []
    for i in range(n):
        k = rnd.randrange(40)
        if k < 20:
            body = " ".join(["Dear", rnd.choice(WORDS) + ",", *bases[k]])
        else:
            body = " ".join(rnd.choice(WORDS) for _ in range(120))
        ip = (f"198.51.{k}.{rnd.randrange(1, 5)}" if k < 10
              else f"203.0.{rnd.randrange(256)}.{rnd.randrange(1, 256)}")
        date = format_datetime(T0 + timedelta(seconds=10 * i))
        unsubscribe = "List-Unsubscribe: <mailto:u@shop.example>\n" if k < 5 else ""
        out.append(
            f"From news@shop{k}.example Fri Mar  1 00:00:00 2024\n"
            f"Received: from mx{k}.example.net (mx{k}.example.net [{ip}])\n"
            f"\tby mx.example.org with ESMTP; {date}\n"
            f"From: Shop {k} <news@shop{k}.example>\nTo: user{i}@example.org\n"
            f"Subject: Offer {k} for you ({i})\nDate: {date}\n"
            f"Message-ID: <{i}.{seed}@gen.example>\n{unsubscribe}\n{body}\n\n")
    return "".join(out).encode()


def listing(store: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["mailings", "--store", str(store), "--json", "--top", "0"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def kill_setup(tmp_path: pathlib.Path, verb: str, n: int, seed: int
               ) -> tuple[pathlib.Path, list[str], dict[str, str]]:
    """Return (an .mbox.gz of make_mbox(n, seed), the verb's command up to --store, its env)."""
    box = tmp_path / "in.mbox.gz"
    box.write_bytes(gzip.compress(make_mbox(n, seed=seed), compresslevel=1))
    # Every store fingerprints with one seed, so their databases compare byte for byte.
    config = tmp_path / "seed.toml"
    config.write_text('[store]\nseed = "0x5eed5a1ec0de2004"\n')
    command = [sys.executable, "-m", "shingles", verb, "--config", str(config),
               "--batch", "50", "--store"]
    return box, command, {**os.environ, "PYTHONUNBUFFERED": "1"}


def start_until(command: list[str], env: dict[str, str], store: pathlib.Path,
                enough: Callable[[Store], bool]) -> subprocess.Popen[bytes]:
    """Start command, a writer of store; return it, still running, once enough(a reader).

    Raises AssertionError if it ends first (the input was too small to kill it in).
    """
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
            try:
                with Store(store, readonly=True) as reader:
                    if enough(reader):
                        return proc
            except FileNotFoundError:  # the writer has not committed its first batch
                continue
        raise AssertionError("the writer ended before it could be killed; give it more input")
    except BaseException:
        proc.kill()
        proc.wait()
        raise


def live_databases(path: pathlib.Path) -> dict[str, list[tuple[bytes, bytes]]]:
    """Return the live entries of every database of a store (the engine's too), meta aside.

    Live as readers see them: entries retention has expired are left out whether
    the sweep has removed them yet or not (where it has reached depends on batch
    boundaries), a message record expired within the last window reads as the
    tombstone the sweep leaves of it, and representatives and merged ids go with
    their mailing's statistics.
    """
    from shingles.store import retention
    from shingles.store.layout import pack_tombstone
    from shingles.verdicts.engine import DATABASES

    with Store(path, readonly=True) as store:
        store.attach(DATABASES)
        with store._read() as txn:
            floor = store._floor(txn)
            raw = txn.get(b"retention", db=store._dbs["meta"])
            hours = retention.window(float(bytes(raw[1:])) if raw else 0.0)
            out: dict[str, list[tuple[bytes, bytes]]] = {}
            for name, database in store.databases.items():
                if name == "meta" or name not in store._dbs:
                    continue
                entries = []
                for key, value in txn.cursor(db=store._dbs[name]).iternext():
                    key, value = bytes(key), bytes(value)
                    if name == "messages":
                        state = retention.message_state(value, floor, hours)
                        if state == "forgotten" and len(value) > 6:
                            value = pack_tombstone(int.from_bytes(value[9:13], "little")
                                                   + hours)
                        if state != "absent":
                            entries.append((key, value))
                    elif retention.live(value, database.hour_at, floor):
                        entries.append((key, value))
                out[name] = entries
    mailings = {key for key, _ in out["stats"]}
    for name in ("reps", "children", "traces"):  # no hour: they live with their mailing
        if name in out:
            out[name] = [(key, value) for key, value in out[name] if key in mailings]
    return out


def everything(path: pathlib.Path) -> dict[str, object]:
    """Return every count a run leaves in a store: mailings, messages, IP counters."""
    with Store(path, readonly=True) as store:
        counts = store.counts()
        del counts["meta"]  # holds sweep cursors, which depend on batch boundaries
        mailings = [m.to_json() for m in store.mailings()]
        members = {m["id"]: sorted(r.source for r in store.messages(m["id"]))
                   for m in mailings}
        ips = {f"198.51.{k}.{j}": store.ip(f"198.51.{k}.{j}") for k in range(10)
               for j in range(1, 5)}
    return {"counts": counts, "mailings": mailings, "members": members, "ips": ips}


def test_ingest_then_mailings_lists_the_mailings(tmp_path: pathlib.Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    box = tmp_path / "in.mbox"
    box.write_bytes(make_mbox(600))
    store = tmp_path / "store"
    assert main(["ingest", "--store", str(store), "--json", str(box)]) == 0
    captured = capsys.readouterr()
    [summary] = [json.loads(line)["summary"] for line in captured.out.splitlines()]
    assert summary["messages"] == summary["added"] == 600 and summary["errors"] == 0
    assert "600 messages" in captured.err
    mailings = listing(store, capsys)
    # The 20 mailings (about 15 copies each), largest first; one-off notes are size 1.
    assert len(mailings) == 20
    assert [m["size"] for m in mailings] == sorted((m["size"] for m in mailings), reverse=True)
    singles = summary["new_mailings"] - summary["merges"] - 20
    assert sum(m["size"] for m in mailings) == 600 - singles
    by_subject = {m["subject"].split(" for ")[0]: m for m in mailings}
    assert by_subject["Offer 3"]["distinct_ips"] <= 4 and by_subject["Offer 3"]["distinct_networks"] == 1
    assert by_subject["Offer 3"]["bulk_signs"] == {"list-unsubscribe": by_subject["Offer 3"]["size"]}
    assert by_subject["Offer 13"]["distinct_ips"] > 5 and not by_subject["Offer 13"]["bulk_signs"]
    # Again: nothing is counted twice.
    assert main(["ingest", "--store", str(store), "--json", str(box)]) == 0
    again = json.loads(capsys.readouterr().out)["summary"]
    assert again["duplicates"] == 600 and again["added"] == 0
    assert listing(store, capsys) == mailings
    # The table names the same mailings.
    assert main(["mailings", "--store", str(store), "--top", "3"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["id", "size"] and len(table) == 4
    assert table[1].split()[:2] == [str(mailings[0]["id"]), str(mailings[0]["size"])]


def test_unreadable_input_is_an_error_record_and_the_rest_goes_in(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    box = tmp_path / "in.mbox"
    box.write_bytes(make_mbox(20))
    status = main(["ingest", "--store", str(tmp_path / "s"), str(tmp_path / "missing"), str(box)])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 1
    assert len(out) == 1 and "missing" in out[0]["source"] and out[0]["error"]
    with Store(tmp_path / "s", readonly=True) as store:
        assert store.counts()["messages"] == 20


def test_store_made_with_another_mode_is_refused(tmp_path: pathlib.Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    box = tmp_path / "in.mbox"
    box.write_bytes(make_mbox(5))
    assert main(["ingest", "--store", str(tmp_path / "s"), "--mode", "recall", str(box)]) == 0
    assert main(["ingest", "--store", str(tmp_path / "s"), "--mode", "paper", str(box)]) == 2
    assert "matches by 'recall" in capsys.readouterr().err
    # Without --mode the stored one is used.
    assert main(["ingest", "--store", str(tmp_path / "s"), "--batch", "2", str(box)]) == 0


def test_a_killed_ingest_resumes_to_the_counts_of_a_clean_run(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = 6000
    box, command, env = kill_setup(tmp_path, "ingest", n, seed=5)
    killed, clean = tmp_path / "killed", tmp_path / "clean"

    def enough(reader: Store) -> bool:
        committed = reader.counts()["messages"]
        assert committed % 50 == 0  # a reader while the writer works: whole batches only
        return committed >= 500

    proc = start_until([*command, str(killed), str(box)], env, killed, enough)
    try:
        # A second writer is turned away while the first one holds the store.
        assert main(["ingest", "--store", str(killed), str(box)]) == 2
        assert "another process" in capsys.readouterr().err
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with Store(killed, readonly=True) as reader:
        assert 500 <= reader.counts()["messages"] < n

    resumed = subprocess.run([*command, str(killed), "--json", str(box)], env=env, check=False,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)["summary"]
    assert summary["duplicates"] >= 500 and summary["added"] + summary["duplicates"] == n
    done = subprocess.run([*command, str(clean), str(box)], env=env, check=False,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert everything(killed) == everything(clean)
    after, single = live_databases(killed), live_databases(clean)
    for name in single:  # every database, not only the counts
        assert after[name] == single[name], name


def clock_past(when: datetime) -> Callable[[Store], bool]:
    """Return a start_until test: the writer's committed clock has reached when."""
    def enough(reader: Store) -> bool:
        clock = reader.info()["clock"]
        return clock is not None and datetime.fromisoformat(clock) >= when
    return enough


#: A window of 4 hours (0.2 days): make_mbox's Dates, 10 s apart, span several.
RETENTION = ["--retention-days", "0.2"]


def test_a_rerun_with_retention_counts_nothing_twice(tmp_path: pathlib.Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    box = tmp_path / "in.mbox"
    box.write_bytes(make_mbox(2500))  # about 7 hours: the first 2 have expired at the end
    (config := tmp_path / "seed.toml").write_text('[store]\nseed = "0x5eed5a1ec0de2004"\n')
    once, twice = tmp_path / "once", tmp_path / "twice"
    for store in (once, twice, twice):
        assert main(["ingest", "--store", str(store), "--config", str(config), *RETENTION,
                     "--batch", "100", "--json", str(box)]) == 0
    first, _, again = (json.loads(line)["summary"]
                       for line in capsys.readouterr().out.splitlines())
    assert first["expired_messages"] > 500 and first["added"] == 2500
    # The rerun finds every message: stored, or forgotten by retention (a tombstone).
    assert again["duplicates"] == 2500 and again["added"] == 0
    with Store(twice, readonly=True) as reader:
        info = reader.info()
    # The rerun's commits swept on (the disk lags the window by a slice or two).
    expired = first["expired_messages"] + again["expired_messages"]
    assert info["forgotten_messages"] == expired and info["messages"] == 2500 - expired
    assert live_databases(twice) == live_databases(once)
    capsys.readouterr()
    assert main(["store", "check", "--store", str(twice)]) == 0, capsys.readouterr()


def resumes_to_a_clean_run(command: list[str], env: dict[str, str], killed: pathlib.Path,
                           clean: pathlib.Path, box: pathlib.Path
                           ) -> dict[str, list[tuple[bytes, bytes]]]:
    """Run command to its end on the killed store and on a clean one, assert that every
    database's live entries are the same in both, and return the clean run's."""
    for store in (killed, clean):
        done = subprocess.run([*command, str(store), str(box)], env=env, check=False,
                              capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr
    resumed, single = live_databases(killed), live_databases(clean)
    assert resumed.keys() == single.keys()
    for name in resumed:
        assert resumed[name] == single[name], name
    return single


def killed_with_retention_resumes(tmp_path: pathlib.Path, verb: str, n: int, seed: int
                                  ) -> dict[str, list[tuple[bytes, bytes]]]:
    """Kill verb (ingest, scan) with a 4-hour window on make_mbox(n, seed) once the first
    hour has expired, resume it, and return the live databases of a clean run, which
    the resumed store's equal."""
    box, command, env = kill_setup(tmp_path, verb, n, seed=seed)
    command = [*command[:-1], *RETENTION, "--store"]
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = start_until([*command, str(killed), str(box)], env, killed,
                       clock_past(T0 + timedelta(hours=5, minutes=10)))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Store(killed, readonly=True) as reader:
        info = reader.info()
    # Killed after the first hour expired and before its tombstones went: a resumed
    # run finds every message it had filed (later input would be new to it).
    assert info["forgotten_messages"] > 0
    assert datetime.fromisoformat(info["clock"]) < T0 + timedelta(hours=9)
    return resumes_to_a_clean_run(command, env, killed, clean, box)


def test_a_killed_ingest_with_retention_resumes_to_the_databases_of_a_clean_run(
        tmp_path: pathlib.Path) -> None:
    # 14 hours of Dates, the window 4: expiry well under way at the kill.
    single = killed_with_retention_resumes(tmp_path, "ingest", 5000, seed=6)
    assert single["messages"] and single["stats"] and single["members"] and single["ips"]


@pytest.mark.skipif(corpus_dir() is None, reason="the real corpus is absent")
def test_the_corpus_spam_campaigns_come_out_as_mailings(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    from shingles.mail import read as mailio
    from shingles.mail.records import Mail

    corpus = corpus_dir()
    assert corpus is not None
    spam = corpus / "spam.mbox.gz"
    assert main(["ingest", "--store", str(tmp_path / "s"), str(spam)]) in (0, 1)
    mailings = listing(tmp_path / "s", capsys)
    assert len(mailings) >= 100 and mailings[0]["size"] >= 10
    # Campaigns the corpus README names by subject (copies, subject count):
    # most of each lands in one mailing (the rest vary their text too much).
    campaigns = {"the database that bill gates": 5, "banned cd! banned cd!": 3,
                 "your first 100 free minutes": 5, "harvest lots of e-mail addresses": 4}
    found: dict[str, Counter[int | None]] = {name: Counter() for name in campaigns}
    with Store(tmp_path / "s", readonly=True) as store:
        for mail in mailio.read(spam):
            if isinstance(mail, Mail):
                for name, counter in found.items():
                    if name in mail.subject.lower():
                        counter[store.mailing_of(mail)] += 1
    for name, least in campaigns.items():
        [(mailing, copies)] = found[name].most_common(1)
        assert mailing is not None and copies >= least, (name, found[name])
