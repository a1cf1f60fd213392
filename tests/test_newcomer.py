"""The traps a newcomer hit (issue 15), each fixed: configuration, the engine's own
config, lexicons, retention, explain's look-ups and argparse."""

from __future__ import annotations

import json
import re
import pathlib
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest

from shingles.cli import main
from shingles.config import Config, SendersConfig, load_config
from shingles.errors import SchemeMismatchError
from shingles.lexicon import Lexicon
from shingles.mail.read import read
from shingles.store.reader import Store
from shingles.verdicts.engine import FORMAT_VERSION, Engine, Verdict

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample.mbox"
CONFIG = ROOT / "examples" / "shingles.toml"
WORDS = [a + b + c for a in "bdfgklmnprstv" for b in "aeiou" for c in "lmnrst"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    status = main(list(argv))
    out = capsys.readouterr().out
    return status, [json.loads(line) for line in out.splitlines() if line.strip()]


def test_the_readme_command_judges_the_sample_in_recall_mode(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "sample.store")
    status, verdicts = run(capsys, "scan", "--store", store, "--config", str(CONFIG),
                           str(SAMPLE))
    assert status == 0 and len(verdicts) == 33
    with Store(store, readonly=True) as opened:
        assert opened.settings.mode == "recall"
    for verdict in verdicts:
        assert verdict["format"] == FORMAT_VERSION
        assert verdict["rule"] == verdict["reasons"][0]["rule"]
        if verdict["verdict"] == "bulk-legit":
            assert verdict["rule"] in ("honest-signs", "corrections")


def test_store_section_flags_override_and_print_config(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[store]\nmode = \"paper\"\nretention_days = 0\nbatch_size = 7\n")
    assert main(["scan", "--store", str(tmp_path / "s"), "--config", str(config),
                 "--batch", "9", "--print-config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["store"]["mode"] == "paper" and shown["store"]["retention_days"] == 0
    assert shown["store"]["batch_size"] == 9 and "judge" in shown and "senders" in shown
    assert not (tmp_path / "s").exists()  # printing makes no store
    assert main(["scan", "--store", str(tmp_path / "d"), "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["store"]["mode"] == "recall"
    assert load_config(None).store.mode == "recall"


def notice(n: int, hours: float, text: str = "") -> bytes:
    when = datetime(2026, 3, 2, tzinfo=timezone.utc) + timedelta(hours=hours)
    text = text or " ".join(random.Random(3).choices(WORDS, k=170))
    return (f"From x@y Mon Mar  2 09:00:00 2026\nFrom: a@shop.example\nTo: u{n}@x.test\n"
            f"Subject: notice\nDate: {format_datetime(when)}\nMessage-ID: <{n}@shop.example>\n"
            f"\nHello {n}\n{text}\n\n").encode()


def test_retention_counts_what_it_expires_and_mailings_tell_seen_from_kept(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    box = tmp_path / "a.mbox"
    # The store's clock follows message dates at most an hour per message (a bogus
    # Date must not expire everything), so a day passes over hourly short notes.
    notes = [notice(100 + h, h, "see you") if h != 20 else notice(3, 20) for h in range(1, 40)]
    box.write_bytes(b"".join([*(notice(n, 0) for n in range(3)), *notes, notice(4, 40)]))
    store = str(tmp_path / "s")
    assert main(["scan", "--store", store, "--retention-days", "1", "--batch", "3",
                 str(box)]) == 0
    err = capsys.readouterr().err
    expired = re.search(r"retention expired (\d+) stored messages and (\d+) mailings", err)
    assert expired and int(expired.group(1)) >= 3 and expired.group(2) == "0"
    status, [mailing] = run(capsys, "mailings", "--store", store, "--json")
    assert (mailing["copies_seen"], mailing["members_kept"]) == (5, 2)
    assert main(["explain", "--store", store, "4@shop.example"]) == 0
    explained = json.loads(capsys.readouterr().out)
    assert explained["mailing"]["copies_seen"] == 5
    assert explained["mailing"]["members_kept"] == 2
    # retention_days = 0 keeps everything: an archive replay.
    assert main(["scan", "--store", str(tmp_path / "t"), "--retention-days", "0",
                 str(box)]) == 0
    assert "retention expired 0 stored messages and 0 mailings" in capsys.readouterr().err


def test_the_engine_reads_with_its_own_config(tmp_path: pathlib.Path) -> None:
    config = Config(senders=SendersConfig(authserv_ids=("mx.shingles.test",)))
    with Store(tmp_path / "s") as store:
        engine = Engine(store, config)
        with pytest.raises(ValueError, match="another configuration"):
            list(engine.scan(read(SAMPLE)))  # parsed with the default config
        verdicts = [v for v in engine.scan(SAMPLE) if isinstance(v, Verdict)]
    # The sample's Authentication-Results are believed only under the engine's config.
    assert verdicts[0].spf == "pass" and verdicts[0].spf_origin == "header"


def test_a_store_made_with_a_lexicon_refuses_scans_without_it(tmp_path: pathlib.Path) -> None:
    texts = [" ".join(random.Random(i).choices(WORDS, k=200)) for i in range(30)]
    lexicon = Lexicon.build(texts)
    Store(tmp_path / "s", lexicon=lexicon).close()
    with Store(tmp_path / "s") as store:
        with pytest.raises(SchemeMismatchError, match="--lexicon"):
            list(Engine(store).scan(SAMPLE))
    with Store(tmp_path / "s", lexicon=lexicon) as store:
        assert any(isinstance(v, Verdict) for v in Engine(store, lexicon=lexicon).scan(SAMPLE))


def test_verbs_that_need_a_store_do_not_make_one(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "typo"
    assert main(["rescan", "--store", str(typo)]) == 2
    assert "no store" in capsys.readouterr().err and not typo.exists()


def test_explain_by_id_with_or_without_brackets_or_by_source(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "s")
    status, verdicts = run(capsys, "scan", "--store", store, str(SAMPLE))
    last = verdicts[-1]
    for given in (last["message_id"], last["message_id"].strip("<>"), last["source"]):
        # --config before the message: not taken for it.
        assert main(["explain", "--config", str(CONFIG), "--store", store, given]) == 0
        explained = json.loads(capsys.readouterr().out)
        assert explained["verdict"]["source"] == last["source"]
        assert explained["format"] == FORMAT_VERSION


def test_parse_fields_do_not_eat_the_path(capsys: pytest.CaptureFixture[str]) -> None:
    status, records = run(capsys, "parse", "--fields", "subject", str(SAMPLE))
    assert status == 0 and len(records) == 33
    assert set(records[0]) == {"source", "message_id", "subject"}
    with pytest.raises(SystemExit):
        main(["parse", "--fields", "subjekt", str(SAMPLE)])


def test_every_option_has_help_and_counts_are_worded(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from shingles.cli import build_parser

    def walk(parser: argparse.ArgumentParser, name: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for verb, sub in action.choices.items():
                    missing += walk(sub, f"{name} {verb}")
            elif not action.help:
                missing.append(f"{name} {action.option_strings or action.dest}")
        return missing

    assert walk(build_parser(), "shingles") == []
    one = tmp_path / "one.mbox"
    one.write_bytes(notice(1, 0))
    assert main(["scan", "--store", str(tmp_path / "s"), str(one)]) == 0
    assert "1 message judged" in capsys.readouterr().err
