"""The single writer: judges messages in groups, one store commit per group.

``shingles serve`` runs it in a process of its own (``writer_process``), fed
straight from a pipe; in-process, ``start`` runs it in a thread fed by
``submit``, ``call``, ``reload`` and ``stop``. Either way one thread takes the
raw messages in and judges them in groups: a group is one store commit, taking
what arrives from its first message until ``commit_ms`` later or
``commit_messages`` messages. Groups follow
each other in one store session, which ends when the rescan clock is due or a
report, reload or stop comes (they write in sessions of their own). A session
takes the trusted domains' networks and the learned forwarders as it starts, so
what the social graph learns counts from the next session, within
``rescan_seconds``.

What a crash loses is exactly the open group. With ``answer = "at-once"`` (the
default) each message is answered as soon as it is judged, so a crash may lose
the store's record of up to one group of answered messages (their verdicts
stand; the mailing counts miss them). With ``answer = "after-commit"`` the
answers wait for the commit: nothing answered is ever lost, at the price of
commit_ms plus an fsync in every answer's latency.

The same thread runs the rescan clock: every ``rescan_seconds`` it judges the
held messages again (``Engine.rescan``), so a held message has its final verdict
once its deadline passed, without an external cron. Readers (explain, mailings,
metrics) use LMDB read transactions of their own and never wait for a group.
"""

from __future__ import annotations

import collections
import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import datetime, timezone
from typing import Any, Protocol

from shingles.config import Config
from shingles.errors import MailParseError, ShinglesError
from shingles.mail.records import Mail
from shingles.serve.envelope import Envelope, judge_input
from shingles.store.reader import Store
from shingles.verdicts.engine import Engine, Verdict
from shingles.verdicts.judge import Reason

__all__ = ["STOP", "Call", "Inbox", "Job", "Rejected", "Writer"]


class Rejected(ShinglesError, ValueError):
    """The message was refused before judging (no mail, over the size cap)."""


@dataclasses.dataclass
class Job:
    """A message to judge; its future gets the verdict."""

    raw: bytes
    envelope: Envelope
    source: str
    future: Future[Verdict]


@dataclasses.dataclass
class Call:
    """Work that writes to the store outside the judging path (feedback reports)."""

    work: Callable[[Engine], Any]
    future: Future[Any]


#: The inbox item that ends the writer (after what came before it).
STOP = object()


class Inbox(Protocol):
    """Where the writer takes its items (Job, Call, Config, STOP) from: a
    queue.Queue, or the pipe of the writer's process."""

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Return the next item; raise queue.Empty when none comes in time."""

    def get_nowait(self) -> Any:
        """Return the next item if there is one; else raise queue.Empty."""


class Writer:
    """Own the store's write side from one thread; see the module docstring.

    Args:
        store: The store, opened for writing by this process.
        config: The configuration (its [serve] section sets the group commit).
        inbox: Where the items come from (default: a queue that submit, call,
            reload and stop fill).
        on_group: Called in the writer thread after each commit with the group's
            size and the commit's seconds (metrics).
        on_rescan: Called with the verdicts a rescan changed.
    """

    def __init__(self, store: Store, config: Config, *, inbox: Inbox | None = None,
                 on_group: Callable[[int, float], None] | None = None,
                 on_rescan: Callable[[list[Verdict]], None] | None = None,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.config = config
        self.engine = Engine(store, config)
        self._queue: Any = queue.Queue() if inbox is None else inbox
        self._on_group = on_group
        self._on_rescan = on_rescan
        self._on_error = on_error
        self._thread = threading.Thread(target=self.run, name="shingles-writer", daemon=True)
        self._next_rescan = time.monotonic()
        self.groups = 0

    def start(self) -> None:
        """Run the writer in a thread of its own, fed by submit, call, reload and stop."""
        self._thread.start()

    def depth(self) -> int:
        """Return how many messages wait for the writer."""
        return self._queue.qsize()

    def submit(self, raw: bytes, envelope: Envelope, source: str) -> Future[Verdict]:
        """Return a future of the message's verdict, set once its group is committed.

        The future raises Rejected for a message that is no mail, or any store
        error (StoreFullError) that kept its group from committing.
        """
        future: Future[Verdict] = Future()
        self._queue.put(Job(raw, envelope, source, future))
        return future

    def call(self, work: Callable[[Engine], Any]) -> Future[Any]:
        """Return a future of work(engine) run on the writer thread, between groups."""
        future: Future[Any] = Future()
        self._queue.put(Call(work, future))
        return future

    def reload(self, config: Config) -> None:
        """Judge with config from the next group on (SIGHUP); connections stay open."""
        self._queue.put(config)

    def stop(self, timeout: float | None = None) -> None:
        """Judge and commit what is queued, then end the thread."""
        self._queue.put(STOP)
        self._thread.join(timeout)

    # -- the loop ---------------------------------------------------------

    def run(self) -> None:
        """Judge what the inbox brings until STOP (in the calling thread)."""
        while True:
            wait = max(0.0, self._next_rescan - time.monotonic())
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                self._rescan()
                continue
            if isinstance(item, Job):
                item = self._session(item)  # the control item that ended it, or None
            if item is STOP:
                return
            if isinstance(item, Config):
                self._apply(item)
            if isinstance(item, Call):
                try:
                    item.future.set_result(item.work(self.engine))
                except Exception as exc:  # noqa: BLE001 - the caller reports it
                    item.future.set_exception(exc)
            if time.monotonic() >= self._next_rescan:
                self._rescan()

    def _session(self, first: Job) -> Any:
        """Judge jobs in one store session led by first, a group (one commit) at a time;
        return the control item (stop, new config, call) that ended it, or None.

        A group takes what arrives until commit_ms after its first message or
        commit_messages messages, then commits. The session stays open from group to
        group until the rescan is due or a control item comes (rescans, reloads and
        reports write in sessions of their own): what a session costs to open and
        close is paid once for many groups, not once a group. With answer =
        "at-once" each future is set as soon as its verdict is known; with
        "after-commit" once its group committed.
        """
        serve = self.config.serve
        at_once = serve.answer == "at-once"
        pending: collections.deque[tuple[Job, Mail]] = collections.deque()  # no verdict yet
        judged: list[tuple[Job, Mail, Verdict]] = []  # in the open group
        ended: list[Any] = [None]

        def mails() -> Iterator[Mail]:
            job: Job | None = first
            while job is not None:
                deadline = time.monotonic() + serve.commit_ms / 1000
                started = time.perf_counter()
                taken = 0
                while job is not None:
                    taken += 1
                    mail = self._prepare(job)
                    if mail is not None:
                        pending.append((job, mail))
                        yield mail
                    if taken >= serve.commit_messages:
                        break
                    job = self._next(deadline, ended)
                # The open group's last verdict is out: commit it (a StoreFullError
                # ends the scan, and the group is judged again below).
                self.engine.commit()
                if not at_once:
                    for done, _, verdict in judged:
                        done.future.set_result(verdict)
                count = len(judged)
                judged.clear()
                self.groups += 1
                if self._on_group is not None:
                    self._on_group(count, time.perf_counter() - started)
                if ended[0] is not None:
                    return
                job = self._next(self._next_rescan, ended)  # the next group's first

        try:
            for verdict in self.engine.scan(mails()):
                job, mail = pending.popleft()
                if at_once:
                    job.future.set_result(verdict)  # type: ignore[arg-type]
                judged.append((job, mail, verdict))  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - the open group rolled back: judge it one by one
            # Answered at once, a rolled-back message is lost as in a crash; the
            # others are judged again, each in a session of its own.
            for job, mail in [(job, mail) for job, mail, _ in judged] + list(pending):
                self._one(job, mail)
        return ended[0]

    def _apply(self, config: Config) -> None:
        self.config = config
        self.engine = Engine(self.store, config)

    def _next(self, deadline: float, ended: list[Any]) -> Job | None:
        """Return the next job if one comes before deadline, else None; a control item
        ends the group and is kept in ended[0]."""
        try:
            item = self._queue.get_nowait()
        except queue.Empty:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                return None
        if isinstance(item, Job):
            return item
        ended[0] = item
        return None

    def _prepare(self, job: Job) -> Mail | None:
        """Return the job's Mail to judge, or None when its future is already set
        (no mail, cancelled, or a retry answered from its stored verdict)."""
        if not job.future.set_running_or_notify_cancel():
            return None
        try:
            mail = judge_input(job.raw, job.envelope, self.config, job.source)
        except (MailParseError, ValueError) as exc:
            job.future.set_exception(Rejected(str(exc)))
            return None
        settled = self._settled(mail, job.source)
        if settled is not None:
            job.future.set_result(settled)
            return None
        return mail

    def _one(self, job: Job, mail: Mail) -> None:
        """Judge one message of a failed group in a session of its own."""
        if job.future.done():
            return
        try:
            job.future.set_result(self.engine.scan_one(mail))
        except Exception as exc:  # noqa: BLE001 - reported to that message's client
            if self._on_error is not None:
                self._on_error(f"{job.source}: {type(exc).__name__}: {exc}")
            job.future.set_exception(exc)

    def _settled(self, mail: Mail, source: str) -> Verdict | None:
        """Return the verdict a message already has when it comes again while held or
        after its rescan (an MTA retrying a tempfail), else None (judge it afresh).

        Judging a held message's retry afresh would hold it again with a later
        deadline, for ever; the retry must meet the held or rescanned verdict.
        """
        if not mail.message_id:
            return None
        record = self.engine.stored_verdict(mail.message_id)
        if record is None or "hold" not in (record["verdict"], record.get("previous")):
            return None
        if record["verdict"] == "hold":
            until = datetime.fromisoformat(record["hold_until"]) if record["hold_until"] else None
            if until is not None and until <= datetime.now(timezone.utc):
                # Past its deadline: still held until the clock's rescan, which comes
                # right after this group (not inside it: one write session at a time).
                self._next_rescan = time.monotonic()
        return _verdict(record, source)

    def _rescan(self) -> None:
        self._next_rescan = time.monotonic() + self.config.serve.rescan_seconds
        try:
            changed = self.engine.rescan()
        except Exception as exc:  # noqa: BLE001 - the clock goes on; the next tick retries
            if self._on_error is not None:
                self._on_error(f"rescan failed: {type(exc).__name__}: {exc}")
            return
        if changed and self._on_rescan is not None:
            self._on_rescan(changed)


def _verdict(record: dict[str, Any], source: str) -> Verdict:
    """Return the Verdict a stored verdict record (Verdict.to_json()) describes, as seen
    from source."""
    until = record.get("hold_until")
    values = {f.name: record[f.name] for f in dataclasses.fields(Verdict) if f.name in record}
    values.update(source=source, hold_until=datetime.fromisoformat(until) if until else None,
                  reasons=tuple(Reason(**r) for r in record["reasons"]))
    return Verdict(**values)
