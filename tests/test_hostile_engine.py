"""The engine against hostile or repeated input: keys too long for LMDB built from
message data, and reruns that must not count a message twice."""

from __future__ import annotations

import json
import pathlib
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import cast

import pytest

from shingles.cli import main
from shingles.store.layout import STORE_DATABASES
from shingles.store.reader import Store
from shingles.verdicts.engine import DATABASES

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
TEXT = ("Our spring collection is here, with free delivery on every order this week only, "
        "and a surprise gift for the first hundred customers who visit the new shop online.")
# One store seed for every store, so that their databases compare byte for byte.
CONFIG = ('[senders]\nauthserv_ids = ["mx.ours.example"]\n'
          '[social]\nlocal_domains = ["ours.example"]\n'
          '[store]\nseed = "0x5eed5a1ec0de2004"\n')


def message(n: int, *, ip: str, sender: str = "shop@deals.example",
            to: str = "me@ours.example", message_id: str | None = None,
            text: str = TEXT) -> str:
    when = T0 + timedelta(minutes=n)
    return (f"From x {when:%a %b %d %H:%M:%S %Y}\n"
            f"Received: from relay (relay [{ip}]) by mx.ours.example; {format_datetime(when)}\n"
            f"From: {sender}\nTo: {to}\nDate: {format_datetime(when)}\n"
            f"Message-ID: {message_id or f'<{n}@deals.example>'}\nSubject: offer {n}\n\n"
            f"{text}\n\n")


def scan(store: pathlib.Path, mbox: pathlib.Path, config: pathlib.Path,
         capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, object]]]:
    code = main(["scan", "--store", str(store), "--config", str(config), str(mbox)])
    return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_header_values_too_long_for_lmdb_keys_stop_nothing(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    (config := tmp_path / "c.toml").write_text(CONFIG)
    long_id = "<" + "i" * 600 + "@deals.example>"
    long_address = "a" * 600 + "@deals.example"
    mbox = tmp_path / "in.mbox"
    mbox.write_text(message(0, ip="198.51.100.1")
                    + message(1, ip="198.51.100.2", message_id=long_id)
                    + message(2, ip="198.51.100.3", sender=long_address)
                    + message(3, ip="198.51.100.4", sender="me@ours.example", to=long_address)
                    + message(4, ip="198.51.100.5", text="A later personal note, unrelated."))
    code, verdicts = scan(tmp_path / "s", mbox, config, capsys)
    assert code == 0 and len(verdicts) == 5 and all("verdict" in v for v in verdicts)
    # Committed: explain finds the first message and the one with the long Message-ID.
    for wanted in ("<0@deals.example>", long_id):
        assert main(["explain", "--store", str(tmp_path / "s"), wanted]) == 0
        assert json.loads(capsys.readouterr().out)["verdict"]["message_id"] == wanted


def _databases(path: pathlib.Path) -> dict[str, list[tuple[bytes, bytes]]]:
    with Store(path, readonly=True) as store:
        store.attach(DATABASES)
        return {db.name: list(store.records(db.name)) for db in (*STORE_DATABASES, *DATABASES)
                if db.name != "meta"}


def test_a_rerun_counts_nothing_twice(tmp_path: pathlib.Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    (config := tmp_path / "c.toml").write_text(CONFIG + "[forwarders]\nlearn = true\n")
    # A spreading run from a few networks (held, zone counters), a repeat sender,
    # and an outgoing message (edges).
    parts = [message(i, ip=f"203.0.{i % 7}.9") for i in range(40)]
    parts.append(message(50, ip="10.0.0.5", sender="me@ours.example", to="friend@else.example",
                         text="See you on Friday at the station, I will bring the maps."))
    (mbox := tmp_path / "in.mbox").write_text("".join(parts))
    once, first = scan(tmp_path / "once", mbox, config, capsys)
    twice, _ = scan(tmp_path / "twice", mbox, config, capsys)
    again, second = scan(tmp_path / "twice", mbox, config, capsys)
    assert once == twice == again == 0
    assert any(v["verdict"] == "hold" for v in first)
    assert [(v["message_id"], v["verdict"], v["score"]) for v in second] == \
        [(v["message_id"], v["verdict"], v["score"]) for v in first]
    single, double = _databases(tmp_path / "once"), _databases(tmp_path / "twice")
    for name in ("zone", "held", "verdicts", "edges", "authorday", "stats", "messages",
                 "forwarders"):
        assert double[name] == single[name], name
    assert single["zone"] and single["held"] and single["edges"] and single["forwarders"]


def test_a_rerun_with_retention_counts_nothing_twice(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    from .test_ingest import live_databases  # type: ignore[import-not-found]

    (config := tmp_path / "c.toml").write_text(CONFIG + "retention_days = 0.1\n")
    # Four hours of Dates, the window two: the first two hours of messages and their
    # verdicts have expired when the run ends, their tombstones not yet (they last
    # one more window); the rerun must count none of them again.
    parts = [message(5 * i, ip=f"203.0.{i % 7}.9") for i in range(48)]
    parts.append(message(236, ip="10.0.0.5", sender="me@ours.example",
                         to="friend@else.example", text="See you on Friday at the station."))
    (mbox := tmp_path / "in.mbox").write_text("".join(parts))
    once, twice = tmp_path / "once", tmp_path / "twice"
    assert scan(once, mbox, config, capsys)[0] == scan(twice, mbox, config, capsys)[0] == 0
    code, second = scan(twice, mbox, config, capsys)
    assert code == 0 and len(second) == 49
    forgotten = [v for v in second
                 if cast(list[dict[str, object]], v["reasons"])[-1]["rule"] == "forgotten"]
    assert forgotten and all(v["mailing"] is None for v in forgotten)
    with Store(once, readonly=True) as reader:
        assert reader.info()["forgotten_messages"] >= len(forgotten)
    single, double = live_databases(once), live_databases(twice)
    for name in single:
        assert double[name] == single[name], name
    assert single["zone"] and single["held"] and single["edges"] and single["verdicts"]


def test_a_killed_scan_with_retention_resumes_to_the_databases_of_a_clean_run(
        tmp_path: pathlib.Path) -> None:
    from .test_ingest import killed_with_retention_resumes

    # 11 hours of Dates, the window 4: expiry well under way at the kill.
    single = killed_with_retention_resumes(tmp_path, "scan", 4000, seed=8)
    assert single["verdicts"] and single["zone"] and single["stats"]


def test_a_killed_scan_resumes_to_the_databases_of_a_clean_run(tmp_path: pathlib.Path) -> None:
    import signal

    from .test_ingest import kill_setup, resumes_to_a_clean_run, start_until

    n = 4000
    box, command, env = kill_setup(tmp_path, "scan", n, seed=7)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    def judged(reader: Store) -> int:
        reader.attach(DATABASES)
        return reader.counts().get("verdicts", 0)

    proc = start_until([*command, str(killed), str(box)], env, killed,
                       lambda reader: judged(reader) >= 300)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Store(killed, readonly=True) as reader:
        assert 300 <= judged(reader) < n
    resumes_to_a_clean_run(command, env, killed, clean, box)
