"""`shingles release-check`: a harmless change passes, a poisoned lexicon fails."""

from __future__ import annotations

import json
import pathlib
import random
from typing import Any

import pytest

from shingles.cli import main
from shingles.config import Config, JudgeSettings, ReleaseSettings
from shingles.lexicon import Lexicon, LexiconSettings
from shingles.mail.read import RawMessage
from shingles.scheme import DEFAULT_SCHEME, Scheme
from shingles.store.reader import Store
from shingles.verdicts.release import Side, read_labels, release_check

#: The attacker's planted term set: words legitimate office mail is full of.
PLANTED = ["meeting", "tomorrow", "please", "thanks", "project", "report", "schedule",
           "review", "office", "team"]
WORDS = ("garden river window kitchen bicycle letter morning orange violin harbor "
         "winter summer lantern mountain pencil candle basket forest island mirror "
         "pepper silver ticket travel valley wallet yellow zebra anchor bottle").split()


def _raw(number: int, ip: str, sender: str, text: str, day: int, extra: tuple[str, ...] = ()
         ) -> bytes:
    head = [*extra, f"Received: from out{number}.example ([{ip}])\n\tby mx.test.example with ESMTP; "
            f"Mon, {day + 1} Mar 2026 10:{number % 60:02d}:00 +0000",
            f"From: {sender}", "To: someone@example.org", f"Subject: note {number}",
            f"Date: Mon, {day + 1} Mar 2026 10:{number % 60:02d}:00 +0000",
            f"Message-ID: <m{number}@test.example>", "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8"]
    return ("\n".join(head) + "\n\n" + text + "\n").encode()


def _token(rnd: random.Random) -> str:
    return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10))


def stream() -> tuple[list[bytes], list[str], dict[str, str]]:
    """Return (raw messages, the attacker's texts, labels) of a small labelled stream.

    First 30 spam copies from 30 networks carrying the planted terms among
    hash-buster tokens; then 30 personal notes (each its own text, with the
    planted terms in it) from three providers; then 20 copies of a newsletter
    (List-Id) from five networks, whose spread gives them scores above 0.
    """
    rnd = random.Random(7)
    raws, attack, labels = [], [], {}
    for i in range(30):
        words = PLANTED + [_token(rnd) for _ in range(55)]
        rnd.shuffle(words)
        text = " ".join(words)
        attack.append(text)
        raws.append(_raw(i, f"{30 + i}.{i}.7.9", f"x{i}@spam{i}.example", text, 0))
        labels[f"<m{i}@test.example>"] = "spam"
    for i in range(30, 60):
        words = PLANTED + [rnd.choice(WORDS) for _ in range(70)]
        rnd.shuffle(words)
        raws.append(_raw(i, f"81.2.{i % 3}.5", f"friend{i}@provider.example", " ".join(words),
                         1))
        labels[f"<m{i}@test.example>"] = "personal"
    issue = " ".join(rnd.choice(WORDS) for _ in range(80))
    for i in range(60, 80):
        raws.append(_raw(i, f"{90 + i % 5}.4.4.4", "news@letter.example", issue, 2,
                         ("List-Id: <letter.example>",)))
        labels[f"<m{i}@test.example>"] = "bulk-legit"
    return raws, attack, labels


def poisoned_lexicon(attack: list[str], scheme: Scheme = DEFAULT_SCHEME) -> Lexicon:
    """Return a lexicon built from the attacker's mail: exactly the planted terms."""
    return Lexicon.build(attack, scheme, LexiconSettings(min_df=2, max_df=1.0, min_terms=5,
                                                         max_source_share=1.0))


def _records(raws: list[bytes]) -> list[RawMessage]:
    return [RawMessage(f"test:{i}", raw) for i, raw in enumerate(raws)]


def test_poisoned_lexicon_holds_exactly_the_planted_terms() -> None:
    _, attack, _ = stream()
    assert len(poisoned_lexicon(attack)) == len(PLANTED)


def test_a_harmless_threshold_move_passes_and_a_poisoned_lexicon_fails() -> None:
    raws, attack, labels = stream()
    old = Side(Config())
    harmless = Side(Config(judge=JudgeSettings(spam_min_networks=21)))
    settings = ReleaseSettings(resamples=50)
    report = release_check(_records(raws), old, harmless, labels=labels, settings=settings)
    assert report.passed and report.legitimate == 50 and report.labelled
    assert report.distance <= report.limit

    poisoned = Side(Config(), poisoned_lexicon(attack))
    report = release_check(_records(raws), old, poisoned, labels=labels, settings=settings)
    assert not report.passed
    assert report.distance > report.limit
    legit_changed = [c for c in report.changed if c.legitimate]
    assert len(legit_changed) > 20
    assert all(c.new == "bulk-spam" and c.new_score > c.old_score for c in legit_changed)


def test_without_labels_legitimate_is_what_the_old_config_did_not_judge_spam() -> None:
    raws, attack, _ = stream()
    report = release_check(_records(raws), Side(Config()), Side(Config(), poisoned_lexicon(
        attack)), settings=ReleaseSettings(resamples=20))
    assert not report.labelled and report.legitimate >= 50 and not report.passed


def test_labels_file_reads_both_forms_and_rejects_garbage() -> None:
    labels = read_labels(["# comment", "<a@x> spam", "", '{"message_id": "<b@x>", '
                          '"label": "bulk-legit"}'])
    assert labels == {"<a@x>": "spam", "<b@x>": "bulk-legit"}
    with pytest.raises(ValueError, match="line 1"):
        read_labels(["just-one-field"])


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_release_check_command(tmp_path: pathlib.Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    raws, attack, labels = stream()
    mbox = tmp_path / "stream.mbox"
    mbox.write_bytes(b"".join(b"From x@y Mon Mar  2 10:00:00 2026\n" + raw + b"\n"
                              for raw in raws))
    (tmp_path / "labels").write_text("".join(f"{k} {v}\n" for k, v in labels.items()))
    old, new = tmp_path / "old.toml", tmp_path / "new.toml"
    old.write_text("")
    new.write_text("[judge]\nspam_min_networks = 21\n")
    store = tmp_path / "store"
    with Store(store) as made:  # a store's scheme carries its own secret seed
        scheme = Scheme.from_id(made.scheme_id)
    poisoned_lexicon(attack, scheme).save(tmp_path / "poisoned.lex")
    base = ["release-check", "--store", str(store), "--old", str(old), "--resamples", "30",
            "--labels", str(tmp_path / "labels")]

    assert main([*base, "--new", str(new), str(mbox)]) == 0
    captured = capsys.readouterr()
    assert "release check PASSED" in captured.err and "50 legitimate" in captured.err

    plot = tmp_path / "plot.png"
    try:
        import matplotlib  # noqa: F401
        plotting = True
    except ImportError:
        plotting = False
    extra = ["--plot", str(plot)] if plotting else []
    status = main([*base, "--new", str(old), "--lexicon-new", str(tmp_path / "poisoned.lex"),
                   *extra, str(mbox)])
    captured = capsys.readouterr()
    assert status == 3, captured.err
    assert "release check FAILED" in captured.err
    changed = _lines(captured.out)
    assert sum(c["legitimate"] and c["new"] == "bulk-spam" for c in changed) > 20
    assert all({"message_id", "old", "new", "old_score", "new_score"} <= set(c)
               for c in changed)
    if plotting:
        assert plot.read_bytes()[:4] == b"\x89PNG"


def test_a_candidate_scheme_or_matching_mode_is_replayed_as_its_own_store(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    from shingles.config import StoreSettings
    from shingles.store.reader import RECALL_SCHEME

    raws, _, labels = stream()
    recall = Side(Config(), scheme=RECALL_SCHEME, store_settings=StoreSettings(mode="recall"))
    report = release_check(_records(raws), Side(Config()), recall, labels=labels,
                           settings=ReleaseSettings(resamples=20))
    assert report.messages == 80 and report.passed  # the same mail groups the same way

    mbox = tmp_path / "stream.mbox"
    mbox.write_bytes(b"".join(b"From x@y Mon Mar  2 10:00:00 2026\n" + raw + b"\n"
                              for raw in raws))
    config = tmp_path / "c.toml"
    config.write_text("")
    Store(tmp_path / "store").close()
    status = main(["release-check", "--store", str(tmp_path / "store"), "--old", str(config),
                   "--new", str(config), "--new-window", "2", "--resamples", "20", str(mbox)])
    assert status in (0, 3)
    assert "release check" in capsys.readouterr().err
