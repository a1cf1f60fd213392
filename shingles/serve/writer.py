"""The single writer: judges messages in groups, one store commit per group.

Front ends (HTTP handlers, milter threads) ``submit`` raw messages and get a
``concurrent.futures.Future``; one thread takes them off a queue, gathers a
group (until ``commit_messages`` are waiting or ``commit_ms`` passed since the
group's first), parses and judges the group in one store session and commits
it, and only then completes the futures. So an answer is never given for a
message that a crash could still lose: what a crash loses is exactly the open
group, whose senders got no answer (an MTA then retries, or tempfails on the
milter's default action).

The same thread runs the rescan clock: every ``rescan_seconds`` it judges the
held messages again (``Engine.rescan``), so a held message has its final verdict
once its deadline passed, without an external cron. Readers (explain, mailings,
metrics) use LMDB read transactions of their own and never wait for a group.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timezone
from typing import Any

from shingles.config import Config
from shingles.errors import MailParseError, ShinglesError
from shingles.mail.records import Mail
from shingles.serve.envelope import Envelope, judge_input
from shingles.store.reader import Store
from shingles.verdicts.engine import Engine, Verdict
from shingles.verdicts.judge import Reason

__all__ = ["Rejected", "Writer"]


class Rejected(ShinglesError, ValueError):
    """The message was refused before judging (no mail, over the size cap)."""


@dataclasses.dataclass
class _Job:
    raw: bytes
    envelope: Envelope
    source: str
    future: Future[Verdict]


_STOP = object()


class Writer:
    """Own the store's write side from one thread; see the module docstring.

    Args:
        store: The store, opened for writing by this process.
        config: The configuration (its [serve] section sets the group commit).
        on_group: Called in the writer thread after each commit with the group's
            size and the commit's seconds (metrics).
        on_rescan: Called with the verdicts a rescan changed.
    """

    def __init__(self, store: Store, config: Config, *,
                 on_group: Callable[[int, float], None] | None = None,
                 on_rescan: Callable[[list[Verdict]], None] | None = None,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.config = config
        self.engine = Engine(store, config)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._on_group = on_group
        self._on_rescan = on_rescan
        self._on_error = on_error
        self._thread = threading.Thread(target=self._run, name="shingles-writer", daemon=True)
        self._next_rescan = time.monotonic()
        self.groups = 0
        self._rescans_ok = True

    def start(self) -> None:
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
        self._queue.put(_Job(raw, envelope, source, future))
        return future

    def reload(self, config: Config) -> None:
        """Judge with config from the next group on (SIGHUP); connections stay open."""
        self._queue.put(config)

    def stop(self, timeout: float | None = None) -> None:
        """Judge and commit what is queued, then end the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # -- the thread -------------------------------------------------------

    def _run(self) -> None:
        while True:
            wait = max(0.0, self._next_rescan - time.monotonic())
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                self._rescan()
                continue
            if item is _STOP:
                return
            if isinstance(item, Config):
                self._apply(item)
                continue
            group, stop = self._gather(item)
            self._judge(group)
            if stop is not None:
                if stop is _STOP:
                    return
                self._apply(stop)
            if time.monotonic() >= self._next_rescan:
                self._rescan()

    def _gather(self, first: _Job) -> tuple[list[_Job], Any]:
        """Return a group led by first, and a control item met while gathering (or None)."""
        serve = self.config.serve
        group = [first]
        deadline = time.monotonic() + serve.commit_ms / 1000
        while len(group) < serve.commit_messages:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = self._queue.get(timeout=left)
                except queue.Empty:
                    break
            if not isinstance(item, _Job):
                return group, item
            group.append(item)
        return group, None

    def _apply(self, config: Config) -> None:
        self.config = config
        self.engine = Engine(self.store, config)

    def _judge(self, group: list[_Job]) -> None:
        mails: list[Mail] = []
        jobs: list[_Job] = []
        for job in group:
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                mails.append(judge_input(job.raw, job.envelope, self.config, job.source))
                jobs.append(job)
            except (MailParseError, ValueError) as exc:
                job.future.set_exception(Rejected(str(exc)))
            job.raw = b""  # the group may wait a while: free the bytes now
        settled = [self._settled(mail, job.source) for mail, job in zip(mails, jobs)]
        for job, verdict in zip(jobs, settled):
            if verdict is not None:
                job.future.set_result(verdict)
        mails = [mail for mail, verdict in zip(mails, settled) if verdict is None]
        jobs = [job for job, verdict in zip(jobs, settled) if verdict is None]
        if not jobs:
            return
        started = time.perf_counter()
        try:
            verdicts = list(self.engine.scan(mails))  # one session: one commit at its end
        except Exception:  # noqa: BLE001 - one bad message must not sink its group
            verdicts = self._one_by_one(mails, jobs)
        seconds = time.perf_counter() - started
        self.groups += 1
        if self._on_group is not None:
            self._on_group(len(jobs), seconds)
        for job, outcome in zip(jobs, verdicts):
            if isinstance(outcome, BaseException):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)  # type: ignore[arg-type]

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
                self._rescan()  # past its deadline: settle it now rather than at the next tick
                return self._settled(mail, source) if self._rescans_ok else None
        return _verdict(record, source)

    def _one_by_one(self, mails: list[Mail], jobs: list[_Job]) -> list[Any]:
        """Judge a failed group again a message at a time; return verdicts or exceptions."""
        out: list[Any] = []
        for mail, job in zip(mails, jobs):
            try:
                out.append(self.engine.scan_one(mail))
            except Exception as exc:  # noqa: BLE001 - reported to that message's client
                if self._on_error is not None:
                    self._on_error(f"{job.source}: {type(exc).__name__}: {exc}")
                out.append(exc)
        return out

    def _rescan(self) -> None:
        self._next_rescan = time.monotonic() + self.config.serve.rescan_seconds
        try:
            changed = self.engine.rescan()
            self._rescans_ok = True
        except Exception as exc:  # noqa: BLE001 - the clock goes on; the next tick retries
            self._rescans_ok = False
            if self._on_error is not None:
                self._on_error(f"rescan failed: {type(exc).__name__}: {exc}")
            return
        if changed and self._on_rescan is not None:
            self._on_rescan(changed)


def _verdict(record: dict[str, Any], source: str) -> Verdict:
    """Return the Verdict a stored verdict record describes, as seen from source."""
    until = record.get("hold_until")
    return Verdict(
        source=source, message_id=record["message_id"], verdict=record["verdict"],
        score=record["score"], reasons=tuple(Reason(**r) for r in record["reasons"]),
        mailing=record["mailing"], mailing_size=record["mailing_size"],
        source_ip=record["source_ip"], spf=record["spf"], spf_origin=record["spf_origin"],
        hold_until=datetime.fromisoformat(until) if until else None,
        previous=record.get("previous"))
