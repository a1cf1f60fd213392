"""Feedback: complaints, corrections, ARF reports and trap addresses change the next
copy's verdict (and rescan's), the reasons name them, and a replayed report counts once."""

from __future__ import annotations

import json
import pathlib
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest

from shingles.cli import main

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
WORDS = [a + b + c for a in "bdfgklmnprstv" for b in "aeiou" for c in "lmnrst"]
TEXT = " ".join(random.Random(7).choices(WORDS, k=170))


def raw(n: int, *, to: str = "", message_id: bool = True) -> bytes:
    """Return copy n of one notice: one network, no list headers, no authentication."""
    when = START + timedelta(hours=n)
    headers = [f"Received: from relay.example ([192.0.2.{n % 2 + 10}]) by mx.shingles.test; "
               f"{format_datetime(when)}",
               "From: notices@shop.example", f"To: {to or f'user{n}@shingles.test'}",
               "Subject: Your weekly notice", f"Date: {format_datetime(when)}"]
    if message_id:
        headers.append(f"Message-ID: <{n}@shop.example>")
    return ("\n".join(headers) + f"\n\nDear user {n},\n{TEXT}\n").encode()


def mbox(path: pathlib.Path, *messages: bytes) -> str:
    path.write_bytes(b"".join(b"From x@y Mon Mar  2 09:00:00 2026\n" + m + b"\n"
                              for m in messages))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    status = main(list(argv))
    out = capsys.readouterr().out
    return status, [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture()
def scanned(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A store holding copies 1-4 of the notice: the neutral verdict, no evidence."""
    store = str(tmp_path / "store")
    status, verdicts = run(capsys, "scan", "--store", store,
                           mbox(tmp_path / "first.mbox", *(raw(n) for n in range(1, 5))))
    assert status == 0 and verdicts[-1]["verdict"] == "bulk"
    assert verdicts[-1]["rule"] == verdicts[-1]["reasons"][0]["rule"] == "no-evidence"
    return store


def next_copy(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], store: str,
              n: int = 9, **kwargs: Any) -> dict[str, Any]:
    status, [verdict] = run(capsys, "scan", "--store", store,
                            mbox(tmp_path / f"next{n}.mbox", raw(n, **kwargs)))
    assert status == 0
    return verdict


def complaints_of(capsys: pytest.CaptureFixture[str], store: str) -> tuple[int, int]:
    status, mailings = run(capsys, "mailings", "--store", store, "--json")
    assert status == 0 and len(mailings) == 1
    return mailings[0]["complaints"], mailings[0]["corrections"]


def test_a_complaint_makes_the_next_copy_spam_and_counts_once(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], scanned: str) -> None:
    # Without brackets, or by its source: the same message, so the same report.
    for given in ("<2@shop.example>", "2@shop.example"):
        status, [outcome] = run(capsys, "report", "--store", scanned, "--spam", given)
        assert status == 0 and outcome["kind"] == "spam"
        assert outcome["counted"] == (given == "<2@shop.example>")
    assert complaints_of(capsys, scanned) == (1, 0)
    verdict = next_copy(tmp_path, capsys, scanned)
    assert verdict["verdict"] == "bulk-spam"
    assert verdict["rule"] == "complaints" and "1 complaint" in verdict["reasons"][0]["says"]


def test_a_correction_makes_the_next_copy_legit_and_counts_once(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], scanned: str) -> None:
    for _ in range(2):
        status, [outcome] = run(capsys, "report", "--store", scanned, "--ham", "<3@shop.example>")
        assert status == 0
    assert outcome["counted"] is False  # the replay
    assert complaints_of(capsys, scanned) == (0, 1)
    verdict = next_copy(tmp_path, capsys, scanned)
    assert verdict["verdict"] == "bulk-legit" and verdict["rule"] == "corrections"


def arf(original: bytes, feedback_type: str = "abuse") -> bytes:
    return (b"From: abuse@isp.example\nTo: postmaster@shingles.test\n"
            b"Subject: FW: complaint\nMIME-Version: 1.0\n"
            b'Content-Type: multipart/report; report-type=feedback-report; boundary="B"\n\n'
            b"--B\nContent-Type: text/plain\n\nA user complained.\n"
            b"--B\nContent-Type: message/feedback-report\n\n"
            b"Feedback-Type: " + feedback_type.encode() + b"\nUser-Agent: test/1\nVersion: 1\n"
            b"\n--B\nContent-Type: message/rfc822\n\n" + original + b"\n--B--\n")


def test_an_arf_report_without_message_id_is_matched_by_fingerprint(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], scanned: str) -> None:
    # The reported copy reached another user and has no Message-ID: only its text matches.
    reports = mbox(tmp_path / "reports.mbox", arf(raw(5, message_id=False)))
    for counted in (True, False):
        status, [outcome] = run(capsys, "report", "--store", scanned, "--arf", reports)
        assert status == 0 and outcome["counted"] is counted and outcome["mailing"]
    assert complaints_of(capsys, scanned) == (1, 0)
    verdict = next_copy(tmp_path, capsys, scanned)
    assert verdict["verdict"] == "bulk-spam" and verdict["rule"] == "complaints"


def test_a_message_reported_by_id_and_by_arf_counts_once(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], scanned: str) -> None:
    assert run(capsys, "report", "--store", scanned, "--spam", "3@shop.example")[0] == 0
    reports = mbox(tmp_path / "reports.mbox", arf(raw(3)))
    status, [outcome] = run(capsys, "report", "--store", scanned, "--arf", reports)
    assert status == 0 and outcome["counted"] is False
    assert complaints_of(capsys, scanned) == (1, 0)
    wanted = mbox(tmp_path / "wanted.mbox", arf(raw(4), "not-spam"))
    status, [outcome] = run(capsys, "report", "--store", scanned, "--arf", wanted)
    assert outcome["kind"] == "ham" and outcome["counted"] is True


def test_a_copy_to_a_trap_address_makes_it_and_later_copies_spam(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], scanned: str) -> None:
    config = tmp_path / "traps.toml"
    config.write_text('[judge]\ntrap_addresses = ["Trap@Shingles.test"]\n')
    trapped = mbox(tmp_path / "trap.mbox", raw(5, to="trap@shingles.test"))
    for _ in range(2):  # the same message scanned twice counts once
        status, [verdict] = run(capsys, "scan", "--store", scanned, "--config", str(config),
                                trapped)
        assert verdict["verdict"] == "bulk-spam" and verdict["rule"] == "traps"
    status, [mailing] = run(capsys, "mailings", "--store", scanned, "--json")
    assert mailing["traps"] == 1
    verdict = next_copy(tmp_path, capsys, scanned)
    assert verdict["verdict"] == "bulk-spam" and verdict["rule"] == "traps"
    assert "spam trap" in verdict["reasons"][0]["says"]


def test_rescan_applies_a_complaint_to_held_copies(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    # Copies from two networks within minutes: held for more evidence.
    spread = [raw(n).replace(b"192.0.2.", f"198.51.{n}.".encode()) for n in (1, 2)]
    status, verdicts = run(capsys, "scan", "--store", store, mbox(tmp_path / "a.mbox", *spread))
    assert [v["verdict"] for v in verdicts][-1] == "hold"
    assert run(capsys, "report", "--store", store, "--spam", "1@shop.example")[0] == 0
    status, changed = run(capsys, "rescan", "--store", store)
    assert status == 0 and [v["verdict"] for v in changed] == ["bulk-spam"]
    assert changed[0]["rule"] == "complaints" and changed[0]["previous"] == "hold"


def test_report_errors(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
                      scanned: str) -> None:
    status, [outcome] = run(capsys, "report", "--store", scanned, "--spam", "<nope@x>")
    assert status == 1 and "no scanned message" in outcome["error"]
    assert main(["report", "--store", str(tmp_path / "typo"), "--spam", "x"]) == 2
    assert "no store" in capsys.readouterr().err
