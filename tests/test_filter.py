"""`shingles scan` as a Unix filter: stdout holds only JSON Lines (a terminal on stderr
too), stdin is judged message by message, signals commit what was judged."""

from __future__ import annotations

import json
import os
import pathlib
import pty
import re
import select
import signal
import subprocess
import sys
import time
from typing import IO, Any

import pytest

from shingles.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample.mbox"
CONFIG = ROOT / "examples" / "shingles.toml"
SHINGLES = [sys.executable, "-m", "shingles"]


def sample_messages() -> list[bytes]:
    """Return the sample's messages, each with its "From " line and closing blank line."""
    data = SAMPLE.read_bytes()
    starts = [m.start() for m in re.finditer(rb"^From ", data, re.M)]
    return [data[a:b] for a, b in zip(starts, [*starts[1:], len(data)])]


def message_id(raw: bytes) -> str:
    found = re.search(rb"^Message-ID: (\S+)", raw, re.M | re.I)
    assert found
    return found.group(1).decode()


def read_line(stream: IO[bytes], seconds: float = 30.0) -> dict[str, Any]:
    """Return the next JSON line of a child's stdout, failing after seconds."""
    ready, _, _ = select.select([stream], [], [], seconds)
    assert ready, "no verdict came out in time"
    line = stream.readline()
    assert line, "stdout closed"
    return json.loads(line)


def test_stdout_holds_every_json_line_with_a_terminal_on_stderr(tmp_path: pathlib.Path) -> None:
    # The progress display runs on a terminal; by default rich also captures stdout.
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([*SHINGLES, "scan", "--store", str(tmp_path / "store"),
                               "--config", str(CONFIG), str(SAMPLE)],
                              stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL,
                              timeout=120)
    finally:
        os.close(follower)
        screen = b""
        while select.select([leader], [], [], 0)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        os.close(leader)
    assert done.returncode == 0
    lines = done.stdout.decode().splitlines()
    assert len(lines) == len(sample_messages()) == 33
    assert all(json.loads(line)["verdict"] for line in lines)
    assert b"33 messages judged" in screen and b'"verdict"' not in screen


def test_stdin_is_judged_one_message_at_a_time(tmp_path: pathlib.Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    child = subprocess.Popen([*SHINGLES, "scan", "--store", store,
                              "--config", str(CONFIG), "-"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    try:
        for raw in sample_messages()[:6]:
            child.stdin.write(raw)
            child.stdin.flush()  # the pipe stays open: the verdict must come out now
            verdict = read_line(child.stdout)
            assert verdict["message_id"] == message_id(raw)
        # While it waits for more, what it judged is committed: explain sees it.
        deadline = time.monotonic() + 30
        while main(["explain", "--store", store, verdict["message_id"]]) != 0:
            assert time.monotonic() < deadline, "the waiting filter never committed"
            time.sleep(0.1)
        child.stdin.close()
        assert child.wait(60) == 0
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_commits_what_was_judged_and_exits_cleanly(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], signum: int) -> None:
    store = str(tmp_path / "store")
    child = subprocess.Popen([*SHINGLES, "scan", "--store", store, "--batch", "1000", "-"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    try:
        judged = []
        for raw in sample_messages()[:3]:
            child.stdin.write(raw)
            child.stdin.flush()
            judged.append(read_line(child.stdout)["message_id"])
        child.send_signal(signum)
        assert child.wait(60) == 128 + signum
        err = child.stderr.read().decode()
    finally:
        child.kill()
        child.wait()
    assert "Traceback" not in err and "3 messages judged" in err
    for mid in judged:  # committed: explain finds every one
        assert main(["explain", "--store", store, mid]) == 0
    capsys.readouterr()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert re.match(r"shingles \d+\.\d+", capsys.readouterr().out)
