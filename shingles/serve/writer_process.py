"""The writer in a process of its own, and the handle the front ends hold.

``shingles serve`` runs its front ends (HTTP, milter, the readers, metrics) in
one process and the single writer (``shingles.serve.writer.Writer``) in a child,
so that each runs Python on a core of its own instead of taking turns on one
interpreter lock: on 2 cores with 8 HTTP clients the split judged 1.6 to 1.8
times as many messages a second as one process did (bench/README.md, "The
writer's process").

One pipe carries pickled tuples::

    front -> child   ("job", key, raw, envelope, source)  ("call", key, function, args)
                     ("config", config)  ("stop",)
    child -> front   ("ready",)  ("failed", error)  ("done", key, result)
                     ("error", key, error)  ("group", messages, seconds)
                     ("rescan", verdicts)  ("log", text)

The child has one thread, which reads the pipe and judges. It dies with the
front (``PR_SET_PDEATHSIG``): a kill -9 of the server is a crash of both and
loses what the writer's docstring says a crash loses.
The child ignores the terminal's signals; the front decides when it stops
(``stop``: the queue is judged and committed first).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import multiprocessing
import os
import pickle
import queue
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

from shingles.config import Config, StoreSettings
from shingles.errors import ShinglesError
from shingles.serve.envelope import Envelope
from shingles.verdicts.engine import Verdict

__all__ = ["WriterGone", "WriterProcess"]

_PR_SET_PDEATHSIG = 1


class WriterGone(ShinglesError):
    """The writer process ended while the server ran (its error is in the log)."""


class WriterProcess:
    """Start and talk to the writer's process; the same calls as Writer's.

    Args:
        store_path: The store the child opens as its only writer.
        config: The configuration the child judges with.
        settings: Store settings for the child's Store (None: the store's own).
        on_group, on_rescan, on_error: As Writer's, called in this process (on the
            event loop's thread, see listen).
        on_exit: Called once if the child ends while the server runs.
    """

    def __init__(self, store_path: str, config: Config, settings: StoreSettings | None, *,
                 on_group: Callable[[int, float], None] | None = None,
                 on_rescan: Callable[[list[Verdict]], None] | None = None,
                 on_error: Callable[[str], None] | None = None,
                 on_exit: Callable[[], None] | None = None) -> None:
        self._args = (store_path, settings, config)
        self._on_group = on_group
        self._on_rescan = on_rescan
        self._on_error = on_error
        self.on_exit = on_exit
        self._waiting: dict[int, Future[Any]] = {}
        self._lock = threading.Lock()  # the pipe's sending end and _waiting
        self._next_key = 0
        self._stopping = False
        self.gone = False
        #: The child ended while the server ran (not by stop).
        self.failed = False
        self.groups = 0
        self._conn: Connection | None = None
        self._proc: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pump: threading.Thread | None = None  # reads the answers once the loop ends

    def start(self) -> None:
        """Start the child and wait until it owns the store; raise what it raised
        opening it (StoreLockedError, StoreFormatError, ...)."""
        context = multiprocessing.get_context("spawn")  # no LMDB handle or thread crosses
        self._conn, child_end = context.Pipe()
        self._proc = context.Process(target=_child, args=(child_end, os.getpid(), *self._args),
                                     name="shingles-writer")
        self._proc.start()
        child_end.close()
        try:
            first = pickle.loads(self._conn.recv_bytes())
        except EOFError:
            self._proc.join()
            raise WriterGone(f"the writer process ended at start (exit {self._proc.exitcode})"
                             ) from None
        if first[0] == "failed":
            self._proc.join()
            raise first[1]

    def listen(self, loop: asyncio.AbstractEventLoop) -> None:
        """Take the child's answers on loop's thread as they come (no thread of their
        own, so no hand-off of the interpreter lock per answer). Futures are set
        there; milter threads waiting on theirs wake as usual."""
        assert self._conn is not None
        loop.add_reader(self._conn.fileno(), self._drain)
        self._loop = loop

    def depth(self) -> int:
        """Return how many messages and calls wait for their answer."""
        return len(self._waiting)

    def submit(self, raw: bytes, envelope: Envelope, source: str) -> Future[Verdict]:
        """Return a future of the message's verdict (see Writer.submit)."""
        return self._ask("job", raw, envelope, source)

    def call(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        """Return a future of function(engine, *args) run by the writer between groups;
        function must be importable by name (it is pickled)."""
        return self._ask("call", function, args)

    def reload(self, config: Config) -> None:
        """Judge with config from the writer's next group on."""
        self._send(("config", config))

    def detach(self) -> None:
        """Take the answers in a thread of their own from now on (the event loop is
        ending: milter threads still wait for theirs while the server stops)."""
        if self._pump is not None or self._conn is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._conn.fileno())
        self._pump = threading.Thread(target=self._read_to_end, name="shingles-writer-pipe",
                                      daemon=True)
        self._pump.start()

    def stop(self, timeout: float | None = None) -> None:
        """Have the child judge and commit what it holds, answer it, and end."""
        self._stopping = True
        if self._proc is None:
            return
        self.detach()
        try:
            self._send(("stop",))
        except OSError:
            pass  # gone already
        if self._pump is not None:
            self._pump.join(timeout)
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()

    # -- this side of the pipe ------------------------------------------------

    def _ask(self, kind: str, *payload: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self.gone:
                future.set_exception(WriterGone("the writer process has ended"))
                return future
            key = self._next_key
            self._next_key += 1
            self._waiting[key] = future
            try:
                self._write((kind, key, *payload))
            except OSError as exc:
                del self._waiting[key]
                future.set_exception(WriterGone(f"the writer process has ended: {exc}"))
        return future

    def _send(self, item: tuple[Any, ...]) -> None:
        with self._lock:
            self._write(item)

    def _write(self, item: tuple[Any, ...]) -> None:
        """Send item down the pipe; the caller holds the lock."""
        assert self._conn is not None
        self._conn.send_bytes(pickle.dumps(item, pickle.HIGHEST_PROTOCOL))

    def _drain(self) -> None:
        """Handle what the child has sent (on the loop's thread); on its end, fail
        what waits."""
        assert self._conn is not None
        while not self.gone:
            try:
                if not self._conn.poll():
                    return
                item = pickle.loads(self._conn.recv_bytes())
            except (EOFError, OSError):
                self._ended()
                return
            self._handle(item)

    def _read_to_end(self) -> None:
        assert self._conn is not None
        while True:
            try:
                item = pickle.loads(self._conn.recv_bytes())
            except (EOFError, OSError):
                self._ended()
                return
            self._handle(item)

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind in ("done", "error"):
            with self._lock:
                future = self._waiting.pop(item[1])
            if kind == "done":
                future.set_result(item[2])
            else:
                future.set_exception(item[2])
        elif kind == "group":
            self.groups += 1
            if self._on_group is not None:
                self._on_group(item[1], item[2])
        elif kind == "rescan" and self._on_rescan is not None:
            self._on_rescan(item[1])
        elif kind == "log" and self._on_error is not None:
            self._on_error(item[1])

    def _ended(self) -> None:
        if self._pump is None and self._loop is not None and self._conn is not None:
            self._loop.remove_reader(self._conn.fileno())
        with self._lock:
            self.gone = True
            waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            future.set_exception(WriterGone("the writer process has ended"))
        if not self._stopping:
            self.failed = True
            if self.on_exit is not None:
                self.on_exit()


# -- the child ---------------------------------------------------------------


def _child(conn: Connection, parent: int, store_path: str, settings: StoreSettings | None,
           config: Config) -> None:
    from shingles.serve.writer import Writer
    from shingles.store.reader import Store

    _die_with_parent(parent)
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)

    def send(item: tuple[Any, ...]) -> None:
        try:
            conn.send_bytes(_dumps(item))
        except OSError:
            pass  # the front has gone: the inbox reads its end next and stops

    try:
        store = Store(store_path, settings=settings)
        # One thread reads the pipe and judges: no lock handed to and fro per message.
        writer = Writer(store, config, inbox=_PipeInbox(conn, send),
                        on_group=lambda n, s: send(("group", n, s)),
                        on_rescan=lambda changed: send(("rescan", changed)),
                        on_error=lambda text: send(("log", text)))
    except Exception as exc:  # noqa: BLE001 - the front raises it as its own
        send(("failed", exc))
        return
    gc.freeze()  # as the front does: start-up's objects out of the collector's walks
    send(("ready",))
    try:
        writer.run()
    finally:
        store.close()


class _PipeInbox:
    """The writer's inbox read straight off the pipe; answers go back as futures end."""

    def __init__(self, conn: Connection, send: Callable[[tuple[Any, ...]], None]) -> None:
        self._conn = conn
        self._send = send

    def get_nowait(self) -> Any:
        return self.get(timeout=0)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        from shingles.serve.writer import STOP, Call, Job

        if not self._conn.poll(timeout if block else 0):
            raise queue.Empty
        try:
            item = pickle.loads(self._conn.recv_bytes())
        except (EOFError, OSError):
            return STOP  # the front has gone: commit what was judged and end
        kind = item[0]
        if kind == "config":
            return item[1]
        if kind not in ("job", "call"):
            return STOP
        future: Future[Any] = Future()
        future.add_done_callback(partial(_answer, self._send, item[1]))
        if kind == "job":
            return Job(item[2], item[3], item[4], future)
        return Call(partial(_apply, item[2], item[3]), future)


def _apply(function: Callable[..., Any], args: tuple[Any, ...], engine: Any) -> Any:
    return function(engine, *args)


def _answer(send: Callable[[tuple[Any, ...]], None], key: int, future: Future[Any]) -> None:
    error = future.exception()
    send(("done", key, future.result()) if error is None else ("error", key, error))


def _dumps(item: tuple[Any, ...]) -> bytes:
    """Return item pickled; an error that will not pickle goes as its text."""
    try:
        return pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - any object may refuse to pickle
        if item[0] in ("error", "failed"):
            error = item[-1]
            return pickle.dumps((*item[:-1], ShinglesError(f"{type(error).__name__}: {error}")),
                                pickle.HIGHEST_PROTOCOL)
        raise


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when the front (pid parent) ends (Linux;
    elsewhere the child still ends when the pipe closes)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the front died before prctl took
        os._exit(1)
