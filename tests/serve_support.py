"""Start and drive a real ``shingles serve`` process for the serve tests."""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

SAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "sample.mbox"


def sample_messages() -> list[bytes]:
    """Return the bundled sample mbox's messages as raw bytes (no "From " lines)."""
    out = []
    for chunk in re.split(rb"(?m)^From .*\n", SAMPLE.read_bytes()):
        if chunk.strip():
            out.append(chunk)
    return out


class Served:
    """A ``shingles serve`` subprocess; its stderr is collected in ``log``."""

    def __init__(self, store: pathlib.Path, config: pathlib.Path | None = None,
                 http: str = "127.0.0.1:0", milter: str = "") -> None:
        args = [sys.executable, "-m", "shingles", "serve", "--store", str(store),
                "--http", http, "--milter", milter]
        if config is not None:
            args += ["--config", str(config)]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        self._listening = threading.Event()
        self.port = 0
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._listening.wait(60):
            self.kill()
            raise RuntimeError("server did not start:\n" + "\n".join(self.log))

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))
            if "event=listening" in line:
                found = re.search(r"http=[^ ]*:(\d+)", line)
                self.port = int(found.group(1)) if found else 0
                self._listening.set()
        self._listening.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | list[tuple[str, str]] | None = None,
                timeout: float = 30) -> tuple[int, Any]:
        """Return (status, parsed JSON or text) of one request."""
        req = urllib.request.Request(self.url + path, data=body, method=method)
        for name, value in (headers.items() if isinstance(headers, dict) else headers or []):
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                status, raw, kind = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, raw, kind = exc.code, exc.read(), exc.headers
        if "json" in kind.get("Content-Type", ""):
            return status, json.loads(raw)
        return status, raw.decode()

    def scan(self, raw: bytes, **envelope: str) -> tuple[int, Any]:
        return self.request("POST", "/v1/scan", raw, envelope)

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def wait_until(check: Any, timeout: float = 30, step: float = 0.1) -> Any:
    """Return check()'s first true value within timeout seconds, else the last one."""
    end = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < end:
        time.sleep(step)
        value = check()
    return value
