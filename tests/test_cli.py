"""The command line: `shingles fingerprint` and `shingles lexicon`, called as users call them."""

from __future__ import annotations

import json
import pathlib
import random
import subprocess
import sys
from typing import Any

import pytest

from shingles import Scheme, fingerprint
from shingles.cli import main

WORDS = [a + b + c for a in "bdfgklmnprst" for b in "aeiou" for c in "lmnrst"]


def text(seed: int, words: int = 120) -> str:
    rnd = random.Random(seed)
    return " ".join(rnd.choice(WORDS) for _ in range(words))


def records(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_fingerprint_of_a_text_file(tmp_path: pathlib.Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "note.txt"
    path.write_text(text(1), encoding="utf-8")
    assert main(["fingerprint", str(path)]) == 0
    [record] = records(capsys.readouterr().out)
    expected = fingerprint(text(1))
    assert record["source"].startswith(str(path))
    assert record["megashingles"] == [f"{m:016x}" for m in expected.megashingles]
    assert record["reason"] is None and "error" not in record


def test_fingerprint_of_a_message_uses_its_body_not_its_headers(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = text(2)
    path = tmp_path / "m.eml"
    path.write_bytes(b"From: a@example.org\nSubject: hi\nMessage-ID: <x1@example.org>\n\n"
                     + body.encode())
    assert main(["fingerprint", str(path)]) == 0
    [record] = records(capsys.readouterr().out)
    assert record["message_id"].strip("<>") == "x1@example.org"
    assert record["minhashes"] == [f"{m:016x}" for m in fingerprint(body).minhashes]


def test_missing_file_gives_an_error_record_and_the_rest_goes_on(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.txt"
    good.write_text(text(3))
    status = main(["fingerprint", str(tmp_path / "missing.txt"), str(good)])
    out = records(capsys.readouterr().out)
    assert status == 1
    assert "error" in out[0] and "missing.txt" in out[0]["source"]
    assert out[-1]["source"].startswith(str(good)) and out[-1]["megashingles"]


def test_scheme_options_change_the_scheme(tmp_path: pathlib.Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "note.txt"
    path.write_text(text(4))
    assert main(["fingerprint", "--window", "5", "--digits", "keep", str(path)]) == 0
    [record] = records(capsys.readouterr().out)
    assert record["scheme"] == Scheme(window=5, digits="keep").id


def test_lexicon_build_info_and_use(tmp_path: pathlib.Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    paths = []
    for i in range(40):
        path = tmp_path / f"doc{i}.txt"
        path.write_text(text(100 + i, 60))
        paths.append(str(path))
    lexicon = tmp_path / "lex.shlx"
    assert main(["lexicon", "build", "--out", str(lexicon), "--min-terms", "3", "--max-df", "0.5", *paths]) == 0
    built = records(capsys.readouterr().out)[-1]
    assert built["terms"] > 0 and built["documents"] == 40 and built["signatures"] == 11
    assert main(["lexicon", "info", str(lexicon)]) == 0
    assert records(capsys.readouterr().out)[-1]["lexicon"] == built["lexicon"]
    assert main(["fingerprint", "--lexicon", str(lexicon), paths[0]]) == 0
    [record] = records(capsys.readouterr().out)
    assert record["lexicon"] == built["lexicon"] and record["imatch"]


def test_damaged_lexicon_is_a_usage_error(tmp_path: pathlib.Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.shlx"
    bad.write_bytes(b"not a lexicon at all, just some bytes here")
    assert main(["fingerprint", "--lexicon", str(bad), str(bad)]) == 2
    assert "shingles: not a shingles lexicon" in capsys.readouterr().err


def test_installed_command_reads_stdin() -> None:
    body = text(5)
    done = subprocess.run([sys.executable, "-m", "shingles", "fingerprint", "-"],
                          input=body.encode(), capture_output=True, check=True)
    [record] = records(done.stdout.decode())
    assert record["supershingles"] == [f"{s:016x}" for s in fingerprint(body).supershingles]
    assert record["backend"] in ("cython", "python")


def test_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["fingerprint", "--window"])
    assert exc.value.code == 2
