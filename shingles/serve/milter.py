"""The milter front end (Postfix ``smtpd_milters``, Sendmail ``INPUT_MAIL_FILTER``).

Built on pymilter, the Python binding of Sendmail's own libmilter: the protocol
(negotiation, macros, the packet framing and its error cases) is the reference
implementation that Postfix is tested against, not a re-implementation of ours.
libmilter runs its own threads, one per SMTP connection; each collects the
connection IP, HELO, MAIL FROM, RCPT TO, headers and body, and at end-of-message
hands the message to the writer and waits for the committed verdict.

Actions per verdict come from ``[serve.actions]`` (ServeSettings.action):
accept (with X-Shingles-* headers when ``add_headers``), reject (550 5.7.1),
tempfail (451 4.7.1 with the hold time as the retry hint), quarantine
(Postfix's hold queue, with headers) or discard.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import Milter

from shingles.config import Config
from shingles.serve.envelope import Envelope
from shingles.serve.writer import Rejected
from shingles.verdicts.engine import Verdict

if TYPE_CHECKING:
    from shingles.serve.server import Server

__all__ = ["MilterFront", "reasons_text"]


def reasons_text(verdict: Verdict, limit: int = 3) -> str:
    """Return the verdict's reasons in short form: ``rule=figure/threshold, ...``."""
    parts = [f"{r.rule}={r.figure:g}/{r.threshold:g}" for r in verdict.reasons[:limit]]
    return ", ".join(parts) or "none"


class _Connection(Milter.Base):
    """One SMTP connection's state; libmilter calls it from that connection's thread."""

    server: Server

    def __init__(self) -> None:
        self.ip: str | None = None
        self.hostname: str | None = None
        self.helo: str | None = None
        self._reset()

    def _reset(self) -> None:
        self.sender: str | None = None
        self.recipients: list[str] = []
        self.parts: list[bytes] = []
        self.size = 0
        self.too_large = False

    @Milter.noreply
    def connect(self, hostname: str, family: Any, hostaddr: Any) -> int:
        # hostaddr: (ip, port) for inet, (ip, port, flow, scope) for inet6, a path for unix.
        self.ip = hostaddr[0] if isinstance(hostaddr, tuple) else None
        self.hostname = hostname if hostname and not hostname.startswith("[") else None
        return Milter.CONTINUE

    @Milter.noreply
    def hello(self, heloname: str) -> int:
        self.helo = heloname
        return Milter.CONTINUE

    @Milter.noreply
    def envfrom(self, mailfrom: str, *params: str) -> int:
        self._reset()  # a new transaction on the same connection
        self.sender = mailfrom
        return Milter.CONTINUE

    @Milter.noreply
    def envrcpt(self, to: str, *params: str) -> int:
        self.recipients.append(to)
        return Milter.CONTINUE

    @Milter.decode("bytes")
    @Milter.noreply
    def header(self, field: str, value: bytes) -> int:
        self._add(field.encode("ascii", "replace") + b": " + value.replace(b"\r\n", b"\n")
                  .replace(b"\n", b"\r\n") + b"\r\n")
        return Milter.CONTINUE

    @Milter.noreply
    def eoh(self) -> int:
        self._add(b"\r\n")
        return Milter.CONTINUE

    def body(self, chunk: bytes) -> int:
        self._add(chunk)
        return Milter.CONTINUE

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.server.config.serve.max_body_bytes:
            self.too_large = True
            self.parts = []
        elif not self.too_large:
            self.parts.append(data)

    def eom(self) -> int:
        server = self.server
        serve = server.config.serve
        if self.too_large:
            server.metrics.rejected.labels("too-large").inc()
            self.setreply("552", "5.3.4", f"message over the cap of {serve.max_body_bytes} bytes")
            return Milter.REJECT
        started = time.perf_counter()
        envelope = Envelope(ip=_ip_or_none(self.ip), helo=self.helo, hostname=self.hostname,
                            sender=self.sender, recipients=tuple(self.recipients),
                            queue_id=self.getsymval("i") or None)
        raw, self.parts = b"".join(self.parts), []
        future = server.writer.submit(raw, envelope, f"milter:{envelope.queue_id or '-'}")
        try:
            verdict = future.result(timeout=serve.request_timeout)
        except Rejected as exc:
            server.metrics.rejected.labels("not-mail").inc()
            self.addheader("X-Shingles-Verdict", "unreadable")
            server.judged_error("milter", envelope, str(exc))
            return Milter.ACCEPT
        except Exception as exc:  # noqa: BLE001 - a timeout or store failure: the MTA retries
            server.judged_error("milter", envelope, f"{type(exc).__name__}: {exc}")
            self.setreply("451", "4.3.0", "mail filter unavailable, try again later")
            return Milter.TEMPFAIL
        action = serve.action(verdict.verdict)
        server.judged("milter", envelope, verdict, action, time.perf_counter() - started)
        return self._act(action, verdict, server.config)

    def _act(self, action: str, verdict: Verdict, config: Config) -> int:
        serve = config.serve
        if action == "reject":
            self.setreply("550", "5.7.1", serve.reject_text.format(
                verdict=verdict.verdict, reasons=reasons_text(verdict)))
            return Milter.REJECT
        if action == "tempfail":
            self.setreply("451", "4.7.1", serve.tempfail_text.format(
                minutes=max(1, round(config.judge.hold_minutes)), verdict=verdict.verdict))
            return Milter.TEMPFAIL
        if action == "discard":
            return Milter.DISCARD
        if serve.add_headers:
            self.addheader("X-Shingles-Verdict", verdict.verdict)
            self.addheader("X-Shingles-Score", f"{verdict.score:.4f}")
            if verdict.mailing is not None:
                self.addheader("X-Shingles-Mailing",
                               f"{verdict.mailing} (size {verdict.mailing_size})")
            self.addheader("X-Shingles-Reasons", reasons_text(verdict))
        if action == "quarantine":
            self.quarantine(f"shingles: {verdict.verdict}")
        return Milter.ACCEPT

    def abort(self) -> int:
        self._reset()
        return Milter.CONTINUE

    def close(self) -> int:
        return Milter.CONTINUE


def _ip_or_none(text: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(text)) if text else None
    except ValueError:
        return None


class MilterFront:
    """Run libmilter's loop on a thread of its own, listening on socket."""

    def __init__(self, server: Server, socket: str) -> None:
        self.socket = socket
        _Connection.server = server
        self._thread: threading.Thread | None = None
        self.error: str | None = None  # why libmilter's loop ended on its own

    def start(self, on_exit: Callable[[], None]) -> None:
        Milter.factory = _Connection
        flags = Milter.ADDHDRS | Milter.QUARANTINE
        Milter.set_flags(flags)

        def run() -> None:
            try:
                # timeout: seconds libmilter waits on a silent MTA connection.
                Milter.runmilter("shingles", self.socket, timeout=600)
            except Exception as exc:  # noqa: BLE001 - reported by the server as it stops
                self.error = f"milter {self.socket}: {exc}"
            finally:
                on_exit()

        self._thread = threading.Thread(target=run, name="shingles-milter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting milter connections (libmilter's smfi_stop)."""
        import milter as _libmilter

        _libmilter.stop()
        if self._thread is not None:
            self._thread.join(10)
