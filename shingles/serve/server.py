"""``shingles serve``: the process that owns a store and judges mail for its front ends.

One line per message (or per ``log_every`` messages) goes to stderr, as
``key=value`` pairs (logfmt)::

    shingles-serve: ts=2026-12-07T03:20:01Z front=milter queue_id=4Qx1 ip=203.0.113.9
      message_id=<a@b> verdict=bulk-spam score=0.66 mailing=12 size=30 action=reject ms=3.1

(one line; ``-`` for an unknown value). Other lines start ``shingles-serve:``
too and say ``event=...`` (listening, reload, rescan, stop, error).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import signal
import sys
import threading
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from shingles.config import Config, StoreSettings, load_config
from shingles.serve.envelope import Envelope
from shingles.serve.metrics import Metrics
from shingles.serve.owner import clear_owner, write_owner
from shingles.serve.writer_process import WriterGone, WriterProcess
from shingles.store.reader import Store
from shingles.verdicts.engine import Engine, Verdict

__all__ = ["Server", "parse_listen"]


def parse_listen(text: str) -> tuple[str, int]:
    """Return (host, port) of "HOST:PORT" ("[::1]:PORT" for IPv6); raise ValueError."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"not HOST:PORT: {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _value(value: object) -> str:
    text = "-" if value is None or value == "" else str(value)
    # logfmt: a value with blanks or quotes is written as a JSON string.
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ' "=\n\r\t') else text


#: Per-message lines wait here and go out every _FLUSH_SECONDS (and with any other
#: line): a write per message released the GIL to the busy writer thread, and
#: getting it back cost more than judging the message.
_pending: list[str] = []
_pending_lock = threading.Lock()
_FLUSH_SECONDS = 0.2


def log_later(**fields: object) -> None:
    """Queue one logfmt line for stderr; it goes out within _FLUSH_SECONDS."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    pairs = " ".join(f"{key}={_value(value)}" for key, value in fields.items())
    with _pending_lock:
        _pending.append(f"shingles-serve: ts={stamp} {pairs}\n")


def log(**fields: object) -> None:
    """Write one logfmt line to stderr now (with any queued before it)."""
    log_later(**fields)
    flush_log()


def flush_log() -> None:
    """Write the buffered log lines to stderr."""
    with _pending_lock:
        text = "".join(_pending)
        _pending.clear()
    if text:
        sys.stderr.write(text)
        sys.stderr.flush()


class Server:
    """The running server: store, writer, metrics and front ends.

    Args:
        store_path: The store directory (the writer's process, a child of this one,
            becomes its only writer).
        config: The configuration; config_path is read again on SIGHUP.
    """

    def __init__(self, store_path: str, config: Config, config_path: str | None = None,
                 settings: StoreSettings | None = None) -> None:
        self.config_path = config_path
        self.metrics = Metrics(store_path, lambda: self.writer.depth())
        self.writer = WriterProcess(store_path, config, settings, on_group=self.metrics.group,
                                    on_rescan=self._rescanned,
                                    on_error=lambda text: log(event="error", error=text))
        # StoreLockedError and the like: the child could not take the store.
        self.writer.start()
        try:
            # The readers' view (explain, mailings): LMDB read transactions of their
            # own, never waiting for a group.
            self.store = Store(store_path, readonly=True)
            self.reader = Engine(self.store, config)
        except BaseException:
            self.writer.stop()
            raise
        self._config = config
        self._judged = 0
        self._count_lock = threading.Lock()
        self.http_address: tuple[str, int] | None = None
        self.milter: Any = None

    @property
    def config(self) -> Config:
        """The config the front ends use now (the writer takes a reload at its next group)."""
        return self._config

    def judged(self, front: str, envelope: Envelope, verdict: Verdict, action: str,
               seconds: float) -> None:
        """Count and log one decided message."""
        self.metrics.messages.labels(verdict.verdict, front).inc()
        self.metrics.latency.labels(front).observe(seconds)
        with self._count_lock:
            self._judged += 1
            due = self._judged % self.config.serve.log_every == 0
        if due:
            log_later(front=front, queue_id=envelope.queue_id, ip=envelope.ip,
                message_id=verdict.message_id, verdict=verdict.verdict, score=verdict.score,
                mailing=verdict.mailing, size=verdict.mailing_size, action=action,
                ms=round(seconds * 1000, 1))

    def judged_error(self, front: str, envelope: Envelope, error: str) -> None:
        """Log a message that got no verdict."""
        log(front=front, queue_id=envelope.queue_id, ip=envelope.ip, error=error)

    def _rescanned(self, changed: list[Verdict]) -> None:
        for verdict in changed:
            self.metrics.rescanned.labels(verdict.verdict).inc()
            log(front="rescan", message_id=verdict.message_id, verdict=verdict.verdict,
                score=verdict.score, mailing=verdict.mailing, size=verdict.mailing_size,
                previous=verdict.previous)

    def reload(self) -> None:
        """Read the config file again (SIGHUP); keep the old one if it is broken."""
        try:
            config = load_config(self.config_path)
        except (ValueError, OSError) as exc:
            log(event="reload", error=f"kept the old config: {exc}")
            return
        self._config = config  # before the log line: a client that saw it sees the config
        self.reader = Engine(self.store, config)
        self.writer.reload(config)
        log(event="reload", config=self.config_path)

    def run(self, http: str | None, milter: str | None) -> None:
        """Serve until SIGTERM or SIGINT; then commit what is queued and return."""
        _raise_file_limit()
        # A milter thread whose verdict came needs the interpreter lock for a moment;
        # at the default 5 ms switch interval it would wait that long behind a busy
        # event loop.
        sys.setswitchinterval(0.0005)
        try:
            asyncio.run(self._main(http, milter))
        finally:
            self.writer.detach()  # milter threads still wait for answers
            if self.milter is not None:  # no new milter messages, then commit the queue
                self.milter.stop()
            self.writer.stop()
            clear_owner(self.store.path)
            self.store.close()
            log(event="stop", groups=self.writer.groups)
        if self.milter is not None and self.milter.error:
            raise OSError(self.milter.error)
        if self.writer.failed:
            raise WriterGone("the writer process ended while serving; see the log above")

    async def _main(self, http: str | None, milter: str | None) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.writer.on_exit = stop.set  # called on the loop's thread
        self.writer.listen(loop)
        runner = None
        listening: dict[str, str] = {}
        if http:
            from shingles.serve.http import make_app

            host, port = parse_listen(http)
            # lingering_time=0: after a 413 the rest of a body is not drained.
            runner = web.AppRunner(make_app(self), access_log=None, keepalive_timeout=75,
                                   lingering_time=0, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, host, port, backlog=4096, reuse_address=True)
            await site.start()
            self.http_address = tuple(runner.addresses[0][:2])
            listening["http"] = f"{self.http_address[0]}:{self.http_address[1]}"
        if milter:
            from shingles.serve.milter import MilterFront

            self.milter = MilterFront(self, milter)
            self.milter.start(on_exit=lambda: loop.call_soon_threadsafe(stop.set))
            listening["milter"] = milter
        write_owner(self.store.path, f"http://{listening['http']}" if "http" in listening else None)
        # What start-up built lives as long as the process: out of the collector's
        # sight, a full collection walks only what serving made (~20 ms a collection
        # with start-up's objects in).
        gc.freeze()
        log(event="listening", pid=os.getpid(), **listening)

        def flush_often() -> None:
            flush_log()
            loop.call_later(_FLUSH_SECONDS, flush_often)

        flush_often()
        await stop.wait()
        log(event="stopping")
        if runner is not None:
            await runner.cleanup()


def _raise_file_limit() -> None:
    """Let the process hold as many connections as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve(store: str, config_path: str | None, http: str | None, milter: str | None,
          settings: StoreSettings | None = None) -> None:
    """Run a server on store with the config file, listeners (None: the config's) and
    store settings (None: the store's own, or the defaults for a new one)."""
    config = load_config(config_path)
    server = Server(store, config, config_path, settings)
    server.run(config.serve.http if http is None else http,
               config.serve.milter if milter is None else milter)
