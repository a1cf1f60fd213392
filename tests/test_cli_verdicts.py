"""`shingles scan`, `rescan` and `explain` on the bundled sample, as the README shows them."""

from __future__ import annotations

import json
import pathlib
from collections import Counter
from typing import Any

import pytest

from shingles.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample.mbox"
CONFIG = ROOT / "examples" / "shingles.toml"


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_scan_rescan_explain_on_the_sample(tmp_path: pathlib.Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    assert main(["scan", "--store", store, "--config", str(CONFIG), str(SAMPLE)]) == 0
    captured = capsys.readouterr()
    verdicts = lines(captured.out)
    assert "33 messages judged" in captured.err
    by_sender = {v["message_id"]: v for v in verdicts}
    news = [v["verdict"] for k, v in by_sender.items() if "garden" in k]
    spam = [v["verdict"] for k, v in by_sender.items() if "pharma" in k]
    personal = [v["verdict"] for k, v in by_sender.items() if "pharma" not in k
                and "garden" not in k]
    assert news == ["personal", "personal", "bulk-legit", "bulk-legit"]
    assert set(personal) == {"personal"} and len(personal) == 4
    assert spam[0] == "personal" and spam[-1] == "bulk-spam" and "hold" in spam
    for verdict in verdicts:
        assert {"source", "message_id", "verdict", "score", "reasons", "mailing",
                "source_ip", "spf"} <= set(verdict)

    assert main(["rescan", "--store", store, "--config", str(CONFIG),
                 "--now", "2026-03-03T00:00:00"]) == 0
    changed = lines(capsys.readouterr().out)
    assert len(changed) == Counter(spam)["hold"]
    assert all(v["previous"] == "hold" and v["verdict"] == "bulk-spam" for v in changed)

    last_spam = [k for k in by_sender if "pharma" in k][-1]
    assert main(["explain", "--store", store, last_spam]) == 0
    explained = json.loads(capsys.readouterr().out)
    assert explained["verdict"]["verdict"] == "bulk-spam"
    assert explained["mailing"]["size"] == len(spam)
    assert explained["matched"] and explained["messages"]


def test_explain_of_an_unknown_message_is_a_clear_error(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    assert main(["scan", "--store", store, str(SAMPLE)]) == 0
    capsys.readouterr()
    assert main(["explain", "--store", store, "<missing@nowhere>"]) == 2
    assert "no scanned message has Message-ID" in capsys.readouterr().err


def test_recall_mode_store_keeps_its_own_window_across_runs(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    assert main(["scan", "--store", store, "--mode", "recall", str(SAMPLE)]) == 0
    assert main(["scan", "--store", store, str(SAMPLE)]) == 0  # no options: the store's own
    capsys.readouterr()
    from shingles.store.reader import RECALL_SCHEME, Store
    with Store(store, readonly=True) as opened:
        assert opened.scheme.window == RECALL_SCHEME.window and opened.settings.mode == "recall"
    assert main(["scan", "--store", store, "--window", "4", str(SAMPLE)]) == 2
    assert "was made with scheme" in capsys.readouterr().err
