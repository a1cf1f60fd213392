"""Wiring of the stages for library users: parsed mail -> fingerprint -> store.

Reading and parsing are ``shingles.mail.read``'s job; this module takes its
stream of ``Mail`` and ``MailError`` records, so the same loop serves files,
stdin and a caller's own source.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, Protocol

from shingles._backend import BackendName
from shingles.config import DEFAULT_CONFIG, Config, SendersConfig
from shingles.errors import SchemeMismatchError
from shingles.mail.read import Input, read
from shingles.fingerprint import fingerprint
from shingles.mail.identity import authenticates
from shingles.verdicts.judge import (
    Judgement,
    MailingFacts,
    Reason,
    SourceFacts,
    VerdictName,
    decayed,
    judge,
)
from shingles.lexicon import Lexicon
from shingles.store.layout import Database
from shingles.verdicts.layout import (
    pack_held,
    pack_verdict,
    pack_zone,
    unpack_held,
    unpack_verdict,
    unpack_zone,
)
from shingles.scheme import Scheme
from shingles.mail.senders import source_hop
from shingles.verdicts import forwarders, social
from shingles.verdicts.forwarders import Forwarders
from shingles.verdicts.social import SocialGraph
from shingles.verdicts.spf import SpfChecker
from shingles.store.keys import message_key
from shingles.store.reader import Store
from shingles.store.views import IngestSummary, Mailing, MailLike
from shingles.store.writer import Session

#: Messages taken through each stage of ingest at a time (see ingest). On the bench
#: stream, whole path in the window-full half: ~200 us a message one at a time,
#: ~185 at 64, ~150-160 from 512 to 4,096 (bench/README.md).
_CHUNK = 512

__all__ = ["DATABASES", "FORMAT_VERSION", "Engine", "ErrorRecord", "IngestReport", "Verdict",
           "ingest", "mailing_json"]

#: The engine's databases in the store, swept by the store's retention (the u32
#: hour after each record's version byte): suspicious-zone counters per source IP,
#: held messages, verdicts. The social graph's follow.
DATABASES = (Database("zone", hour_at=1, decode=unpack_zone),
             Database("held", hour_at=1, decode=unpack_held),
             Database("verdicts", hour_at=1, decode=unpack_verdict), *social.DATABASES,
             *forwarders.DATABASES)

__all__ = ["FORMAT_VERSION", "Engine", "ErrorRecord", "IngestReport", "Verdict", "ingest",
           "mailing_json"]

#: Version of the JSON records (verdicts, mailings, explanations): docs/json.md.
#: It changes when a field changes meaning or goes; new fields do not change it.
FORMAT_VERSION = 2


class ErrorRecord(Protocol):
    """What ingest needs of a reader's error record (``shingles.mail.records.MailError``)."""

    @property
    def source(self) -> str: ...

    @property
    def error(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


@dataclasses.dataclass(frozen=True)
class IngestReport:
    """What one ingest run did.

    Attributes:
        summary: The store session's counts (messages, added, duplicates, ...).
        errors: Inputs or messages the reader could not read or parse.
        seconds: Wall-clock time of the run.
    """

    summary: IngestSummary
    errors: int
    seconds: float

    def to_json(self) -> dict[str, object]:
        """Return the report as JSON-ready data."""
        rate = self.summary.messages / self.seconds if self.seconds else 0.0
        return {**dataclasses.asdict(self.summary), "errors": self.errors,
                "seconds": round(self.seconds, 3), "messages_per_second": round(rate, 1)}


def ingest(store: Store, records: Iterable[MailLike | ErrorRecord], *,
           scheme: Scheme | None = None, lexicon: Lexicon | None = None,
           backend: BackendName = "auto",
           on_error: Callable[[ErrorRecord], None] | None = None,
           on_message: Callable[[], None] | None = None) -> IngestReport:
    """Return what filing every readable message of records into store did.

    Records with an ``error`` attribute (the reader's error records) go to
    on_error and are counted; the rest are fingerprinted and added in one
    store session, which commits every batch and at the end. Records are taken
    _CHUNK at a time, so records (a reader) runs up to that many ahead of the
    store; on_message is called as each one is filed.

    Raises:
        SchemeMismatchError: if scheme or lexicon is not the store's.
        StoreFullError: if the store's map may not grow any further.
    """
    started = time.perf_counter()
    scheme = _scheme_of(store, scheme)
    _check_lexicon(store, lexicon)
    errors = 0
    with store.session() as session:
        # Messages go through each stage a chunk at a time: parsing,
        # fingerprinting and filing each fill the CPU caches with their own code
        # and data, and one message at a time through all three evicts them in
        # turn. Filing order and batches are the same either way.
        stream = iter(records)
        while chunk := list(itertools.islice(stream, _CHUNK)):
            fps = [None if hasattr(record, "error") else
                   fingerprint(record.text, scheme, lexicon, backend=backend)
                   for record in chunk]
            for record, fp in zip(chunk, fps):
                if fp is None:
                    errors += 1
                    if on_error is not None:
                        on_error(record)  # type: ignore[arg-type]
                else:
                    session.add(record, fp)  # type: ignore[arg-type]
                if on_message is not None:
                    on_message()
    return IngestReport(session.summary, errors, time.perf_counter() - started)


# ---------------------------------------------------------------- verdicts


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The judgement on one message, with everything that decided it.

    Attributes:
        source: Where the message was read.
        message_id: Its Message-ID.
        verdict: personal, bulk, bulk-legit, bulk-spam, suspicious-source, hold or
            allowlisted.
        score: 0 (surely wanted) to 1 (surely spam).
        reasons: The rules that counted, with their figures and thresholds; the
            first is the rule that decided.
        rule: The rule that decided (the first reason's).
        mailing: The mailing id, or None when the message has no signature.
        mailing_size: Copies in the mailing, this one included.
        source_ip: The IP that handed the message to our first trusted hop.
        spf: The SPF result used, and spf_origin where it came from: "header"
            (a trusted Authentication-Results or Received-SPF), "live" (checked
            now), or "none".
        hold_until: For "hold": when to rescan at the latest.
        previous: For rescans: the verdict this one replaces.
    """

    source: str
    message_id: str | None
    verdict: VerdictName
    score: float
    reasons: tuple[Reason, ...]
    mailing: int | None
    mailing_size: int
    source_ip: str | None
    spf: str | None
    spf_origin: str
    hold_until: datetime | None = None
    previous: str | None = None
    rule: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the verdict as JSON-ready data (times in ISO 8601), format versioned."""
        # Field by field, not dataclasses.asdict: its deep copy of every value was a
        # fifth of `shingles scan`, which writes each verdict twice (store and stdout).
        out: dict[str, Any] = {"format": FORMAT_VERSION}
        for name in _VERDICT_FIELDS:
            out[name] = getattr(self, name)
        out["reasons"] = [reason.to_json() for reason in self.reasons]
        out["hold_until"] = self.hold_until.isoformat() if self.hold_until else None
        return out


_VERDICT_FIELDS = tuple(field.name for field in dataclasses.fields(Verdict))

# LMDB keys stop at 511 bytes: a longer Message-ID is hashed (explain hashes it alike).
_MAX_ID_KEY = 400


def _verdict_key(message_id: str | None, key: bytes) -> bytes:
    """Return the verdicts-database key: the Message-ID when there is one (explain asks by it)."""
    if not message_id:
        return b"key:" + key
    ident = message_id.strip().lower().encode("utf-8", "surrogatepass")
    if len(ident) > _MAX_ID_KEY:
        return b"idh:" + hashlib.blake2b(ident, digest_size=16).digest()
    return b"id:" + ident


def _stored_verdict(record: dict[str, Any], source: str) -> Verdict:
    """Return the Verdict a verdicts-database record holds, read now from source."""
    hold_until = record.get("hold_until")
    return Verdict(
        source=source, message_id=record["message_id"], verdict=record["verdict"],
        score=record["score"], reasons=tuple(Reason(**r) for r in record["reasons"]),
        mailing=record["mailing"], mailing_size=record["mailing_size"],
        source_ip=record["source_ip"], spf=record["spf"], spf_origin=record["spf_origin"],
        hold_until=datetime.fromisoformat(hold_until) if hold_until else None,
        previous=record.get("previous"), rule=record.get("rule", ""))


#: Feedback records live in the verdicts database under this prefix (swept by
#: retention with it): one per report or trap hit, so a replay counts once.
FEEDBACK = b"fb:"


def corrections_key(mailing: int) -> bytes:
    """Return the key of a mailing's count of users' corrections ("wanted")."""
    return FEEDBACK + b"ham-count:" + str(mailing).encode()


class Engine:
    """Judge messages as they are filed: parse -> fingerprint -> store -> verdict.

    Args:
        store: The store mailings accumulate in (opened for writing to scan).
        config: Trusted zone, thresholds, live SPF; ``shingles.config.load_config``.
        lexicon: I-Match lexicon, or None.
    """

    def __init__(self, store: Store, config: Config = DEFAULT_CONFIG, *,
                 scheme: Scheme | None = None, lexicon: Lexicon | None = None,
                 backend: BackendName = "auto") -> None:
        self.store = store
        self.config = config
        self.lexicon = lexicon
        self.backend = backend
        self.scheme = _scheme_of(store, scheme)
        self.social = SocialGraph(config.social)
        store.attach(DATABASES)
        #: The store session's counts of the last scan (expired ones included).
        self.last_summary: IngestSummary | None = None
        self._session: Session | None = None  # of the running scan
        self._traps = frozenset(config.judge.trap_addresses)
        self.spf = SpfChecker(config.spf)
        self.forwarders = Forwarders(config.forwarders)
        self._learned: frozenset[str] = frozenset()  # learned forwarders, taken as a scan starts

    def read(self, inputs: Input | Iterable[Input]) -> Iterator[MailLike | ErrorRecord]:
        """Return the messages of inputs, parsed with this engine's configuration."""
        return read(inputs, self.config)

    def scan(self, records: Iterable[MailLike | ErrorRecord] | Input,
             ) -> Iterator[Verdict | ErrorRecord]:
        """Yield a Verdict per message (error records pass through), in one store session.

        records: parsed messages, or what ``read`` takes (a path, "-", a binary
        stream), which is then read with this engine's configuration. Records that
        ``shingles.mail.read.read`` parsed with another configuration are refused
        (ValueError): the trusted zone decides the source IP and the authentication.

        Batches commit as the store's settings say, and at the end; a verdict is
        yielded before its batch commits, so stop reading and the open batch is lost
        (its messages are judged again when the stream is scanned again). A
        KeyboardInterrupt while waiting for the next record ends the scan with
        what was judged committed, then propagates. A message already judged (same
        Message-ID and text) is not judged or counted again: its stored verdict is
        yielded, so a rerun or a resumed run ends as one run does.
        """
        if isinstance(records, str) or hasattr(records, "read") \
                or hasattr(records, "__fspath__"):
            records = self.read(records)  # type: ignore[arg-type]
        _check_lexicon(self.store, self.lexicon)
        parsed_with = getattr(records, "config", None)
        if parsed_with is not None and (parsed_with.senders, parsed_with.limits) != (
                self.config.senders, self.config.limits):
            raise ValueError("these messages were read with another configuration than the "
                             "engine's: pass the paths to Engine.scan, or use Engine.read")
        return self._scan(records)

    def _scan(self, records: Iterable[MailLike | ErrorRecord]) -> Iterator[Verdict | ErrorRecord]:
        # Trusted domains' networks count as ours when finding a message's source;
        # taken once per scan from what is committed.
        trusted = self.social.trusted_networks(self.store) if self.config.social.local_domains else ()
        senders = (dataclasses.replace(
            self.config.senders, trusted_networks=self.config.senders.trusted_networks
            + tuple(ipaddress.ip_network(n) for n in trusted)) if trusted else None)
        if self.config.forwarders.learn:  # learned forwarders are looked past as configured ones
            self._learned = frozenset(self.forwarders.learned(self.store))
            if self._learned:
                senders = Forwarders.extend(senders or self.config.senders, self._learned)
        interrupted = False
        session = self._session = self.store.session()
        with session:
            stream = iter(records)
            while True:
                try:
                    record = next(stream)
                except StopIteration:
                    break
                except KeyboardInterrupt:  # commit what was judged, then stop
                    interrupted = True
                    break
                if hasattr(record, "error"):
                    yield record  # type: ignore[misc]
                else:
                    yield self._scan_one(session, record, senders)
        self._session = None
        self.last_summary = session.summary
        if interrupted:
            raise KeyboardInterrupt

    def commit(self) -> None:
        """Commit what the running scan judged so far (a filter does when its input
        falls idle, so readers see every verdict printed); nothing when none runs.

        Call it between messages: from the records iterator, or between verdicts.
        """
        if self._session is not None:
            self._session.commit()

    def scan_one(self, mail: MailLike) -> Verdict:
        """Return the verdict on one message, committed to the store at once."""
        # Run the generator to its end: abandoning it would roll the session back.
        [verdict] = list(self.scan([mail]))
        return verdict  # type: ignore[return-value]

    def _scan_one(self, session: Session, mail: MailLike,
                  senders: SendersConfig | None = None) -> Verdict:
        notes: list[Reason] = []
        delivered = mail  # as it reached us: what a forwarder's evidence is about
        walked = senders or self.config.senders
        passed: tuple[str, ...] = ()
        if walked.forwarders or walked.forwarder_hosts:  # say which forwarders were looked past
            passed = Forwarders.passed(getattr(mail, "hops", ()), walked)
            notes += [Forwarders.reason(ip, ip in self._learned) for ip in passed]
        if senders is not None and mail.source_ip and dataclasses.is_dataclass(mail):
            index = source_hop(getattr(mail, "hops", ()), senders)
            ip = mail.hops[index].from_ip if index is not None else None
            if ip != mail.source_ip:
                if mail.source_ip not in passed:
                    notes.append(Reason("trusted-domain-hop", 1, 1,
                                        f"{mail.source_ip} belongs to a trusted domain: the "
                                        f"source is the hop before it ({ip or 'none'})"))
                mail = dataclasses.replace(mail, source_ip=ip)
        key = message_key(mail)
        verdict_key = _verdict_key(mail.message_id, key)
        judged = session.get("verdicts", verdict_key)
        if judged is not None:
            record = unpack_verdict(bytes(judged))
            if record.get("key") == key.hex():
                # Judged before (a rerun, a resumed run, a second delivery): counted
                # once, so the zone counters and held records end as one run leaves them.
                return _stored_verdict(record, mail.source)
        if session.forgotten(mail):
            return self._forgotten(session, mail)
        if self.config.forwarders.learn:  # once a message, as every count above
            self.forwarders.observe(session, delivered, self.config.senders)
        spf, spf_domain, origin = mail.spf, getattr(mail, "spf_domain", None), "header"
        if spf is None:
            origin = "none"
            if self.config.spf.live:
                check = self.spf.check(mail.source_ip, mail.envelope_sender,
                                       getattr(mail, "helo", None))
                spf, spf_domain, origin = check.result, check.domain, "live"
                if dataclasses.is_dataclass(mail):
                    mail = dataclasses.replace(mail, spf=spf, spf_domain=spf_domain)
        fp = fingerprint(mail.text, self.scheme, self.lexicon, backend=self.backend)
        mailing = session.add(mail, fp)
        view = session.mailing(mailing) if mailing is not None else None
        authenticated = authenticates(spf, spf_domain, mail.dkim,
                                      getattr(mail, "dkim_domains", ()), mail.from_domain)
        trap = self._trap_hit(session, mail, key, view)
        if trap is not None and view is not None:
            view = session.mailing(view.id)
        facts = _facts(view, authenticated, mail.bulk_signs, _corrections(session, view))\
            if view else None
        now = session.now
        zone_key = mail.source_ip.encode() if mail.source_ip else None
        source = self._zone(session, zone_key, now) if zone_key else None
        judgement = judge(facts, source, now, self.config.judge)
        if trap is not None and view is None:  # no mailing to count it on: this copy is spam
            judgement = Judgement("bulk-spam", 1.0, (trap, *judgement.reasons), rule=trap.rule)
        if self.config.social.local_domains:
            judgement = self._social(session, mail, now, judgement, notes)
        elif notes:  # the deciding rule's reason stays first, as with the social graph's
            judgement = dataclasses.replace(judgement, reasons=(*judgement.reasons, *notes))
        if zone_key is not None:
            self._count_zone(session, zone_key, source, now, judgement.verdict == "bulk-spam")
        verdict = Verdict(
            source=mail.source, message_id=mail.message_id, verdict=judgement.verdict,
            score=judgement.score, reasons=judgement.reasons, mailing=view.id if view else None,
            mailing_size=view.size if view else 1, source_ip=mail.source_ip, spf=spf,
            spf_origin=origin, hold_until=judgement.hold_until,
            rule=judgement.reasons[0].rule if judgement.reasons else judgement.rule)
        hour = int(now.timestamp()) // 3600
        if judgement.hold_until is not None and view is not None:
            held = {"source": mail.source, "message_id": mail.message_id,
                    "ip": mail.source_ip, "spf": spf, "spf_origin": origin,
                    "authenticated": authenticated, "honest_signs": sorted(mail.bulk_signs)}
            session.put("held", key, pack_held(hour, int(judgement.hold_until.timestamp()),
                                               view.id, held))
        record = {**verdict.to_json(), "key": key.hex(),
                  "matched": [list(match) for match in session.last_matches]}
        session.put("verdicts", verdict_key, pack_verdict(hour, record))
        return verdict

    def _forgotten(self, session: Session, mail: MailLike) -> Verdict:
        """Return the verdict on a message judged before whose records retention has
        expired since (its tombstone says so): judged again from what the store still
        knows of its source, and counted nowhere, so a rerun or a resumed run within
        a window of the expiry ends as one run does."""
        now = session.now
        zone_key = mail.source_ip.encode() if mail.source_ip else None
        source = self._zone(session, zone_key, now) if zone_key else None
        judgement = judge(None, source, now, self.config.judge)
        note = Reason("forgotten", 1, 1, "judged before, and its records have expired "
                      "since (retention_days): judged again, counted nowhere")
        return Verdict(
            source=mail.source, message_id=mail.message_id, verdict=judgement.verdict,
            score=judgement.score, reasons=(*judgement.reasons, note), mailing=None,
            mailing_size=1, source_ip=mail.source_ip, spf=mail.spf, spf_origin="header"
            if mail.spf is not None else "none", hold_until=None,
            rule=judgement.reasons[0].rule if judgement.reasons else judgement.rule)

    def _trap_hit(self, session: Session, mail: MailLike, key: bytes,
                  view: Mailing | None) -> Reason | None:
        """Count a message to a trap address once as a trap hit of its mailing."""
        if not self._traps:
            return None
        traps = sorted(self._traps.intersection(r.lower() for r in mail.recipients))
        if not traps:
            return None
        mark = FEEDBACK + b"trap:" + key
        if view is not None and session.get("verdicts", mark) is None:
            session.bump(view.id, traps=1)
            session.put("verdicts", mark, pack_verdict(int(session.now.timestamp()) // 3600,
                                                       {"trap": traps[0]}))
        return Reason("traps", 1, 1, f"sent to the spam trap {traps[0]} ([judge] "
                                     "trap_addresses)")

    def _social(self, session: Session, mail: MailLike, now: datetime, judgement: Judgement,
                notes: list[Reason]) -> Judgement:
        """Record outgoing mail's edges, learn verified networks, apply the allowlists."""
        social = self.social
        # The deciding rule's reason stays first; notes follow the judgement's own.
        if social.is_outgoing(mail):
            notes += social.record_outgoing(session, mail, now)
            return dataclasses.replace(judgement, reasons=(*judgement.reasons, *notes))
        social.learn_networks(session, mail, now)
        allowance = social.allowance(session, mail, now)
        reasons = (*judgement.reasons, *notes)
        if allowance is None:
            return dataclasses.replace(judgement, reasons=reasons)
        if allowance.level == "direct":
            return Judgement("allowlisted", 0.0, (allowance.reason, *reasons),
                             rule=allowance.reason.rule)
        if allowance.level == "second-degree":
            score = round(judgement.score * self.config.social.second_degree_discount, 4)
            if judgement.verdict == "suspicious-source":  # the allowance decides
                return Judgement("personal", score, (allowance.reason, *reasons),
                                 rule=allowance.reason.rule)
            return dataclasses.replace(judgement, score=score,
                                       reasons=(*judgement.reasons, allowance.reason, *notes))
        return dataclasses.replace(judgement, reasons=(*reasons, allowance.reason))

    def _zone(self, session: Session, key: bytes, now: datetime) -> SourceFacts | None:
        raw = session.get("zone", key)
        if raw is None:
            return None
        hour, messages, spam = unpack_zone(bytes(raw))
        age = now - datetime.fromtimestamp(hour * 3600, timezone.utc)
        half_life = self.config.judge.suspicious_half_life_days
        return SourceFacts(key.decode(), decayed(messages, age, half_life),
                           decayed(spam, age, half_life))

    def _count_zone(self, session: Session, key: bytes, source: SourceFacts | None,
                    now: datetime, spam: bool) -> None:
        messages = (source.messages if source else 0.0) + 1
        spam_messages = (source.spam_messages if source else 0.0) + (1 if spam else 0)
        session.put("zone", key, pack_zone(int(now.timestamp()) // 3600, messages,
                                           spam_messages))

    def rescan(self, now: datetime | None = None) -> list[Verdict]:
        """Judge held messages again; return the verdicts that changed (``previous`` set).

        A held message is judged again when its deadline has passed or its mailing
        has grown since; past the deadline it gets a final verdict (never "hold").
        """
        changed = []
        with self.store.session() as session:
            when = now or datetime.now(timezone.utc)
            for key, value in self.store.records("held"):
                _, deadline, mailing, held = unpack_held(value)
                view = session.mailing(mailing)
                due = when.timestamp() >= deadline
                facts = (_facts(view, held["authenticated"], held["honest_signs"],
                                _corrections(session, view)) if view else None)
                source = self._zone(session, held["ip"].encode(), when) if held["ip"] else None
                judgement = judge(facts, source, when, self.config.judge, allow_hold=not due)
                if judgement.verdict == "hold":
                    continue
                session.delete("held", key)
                verdict = Verdict(
                    source=held["source"], message_id=held["message_id"],
                    verdict=judgement.verdict, score=judgement.score,
                    reasons=judgement.reasons, mailing=view.id if view else None,
                    mailing_size=view.size if view else 1, source_ip=held["ip"],
                    spf=held["spf"], spf_origin=held["spf_origin"], previous="hold",
                    rule=judgement.rule)
                hour = int(when.timestamp()) // 3600
                session.put("verdicts", _verdict_key(held["message_id"], key),
                            pack_verdict(hour, {**verdict.to_json(), "key": key.hex(),
                                                "matched": []}))
                changed.append(verdict)
        return changed

    def stored_verdict(self, message_id: str) -> dict[str, Any] | None:
        """Return the committed verdict record of a Message-ID (Verdict.to_json() plus
        "matched"), or None if no scanned message has it."""
        raw = self.store.record("verdicts", _verdict_key(message_id, b""))
        return unpack_verdict(raw) if raw is not None else None

    def find(self, message: str) -> tuple[bytes, dict[str, Any]]:
        """Return (verdicts key, stored verdict record) of a scanned message.

        message: its Message-ID, with or without the angle brackets, or its
        ``source`` as the verdict printed it (which also finds messages without a
        Message-ID; that look-up reads every verdict).

        Raises:
            KeyError: if no scanned message has that Message-ID or source.
        """
        text = message.strip()
        bare = text[1:-1] if text.startswith("<") and text.endswith(">") else text
        for candidate in dict.fromkeys((f"<{bare}>", bare)):
            key = _verdict_key(candidate, b"")
            raw = self.store.record("verdicts", key)
            if raw is not None:
                return key, unpack_verdict(raw)
        for prefix in (b"id:", b"idh:", b"key:"):
            for key, raw in self.store.records("verdicts", prefix):
                record = unpack_verdict(raw)
                if record.get("source") == text:
                    return key, record
        raise KeyError(f"no scanned message has Message-ID or source {message}")

    def explain(self, message: str) -> dict[str, Any]:
        """Return why a message got its verdict: the verdict and its reasons, the keys
        that matched earlier mailings, the mailing's statistics and its first messages.

        message: as ``find`` takes it.

        Raises:
            KeyError: if no scanned message has that Message-ID or source.
        """
        _, record = self.find(message)
        record.pop("key", None)
        matched = record.pop("matched", [])
        out: dict[str, Any] = {"format": FORMAT_VERSION, "verdict": record}
        if record.get("mailing") is not None:
            try:
                mailing = self.store.mailing(record["mailing"])
            except KeyError:  # expired since (retention_days)
                out["mailing"] = None
            else:
                out["mailing"] = mailing_json(self.store, mailing)
                out["messages"] = [dataclasses.asdict(ref) for ref in
                                   itertools.islice(self.store.messages(mailing.id), 20)]
        out["matched"] = [{"signature": _signature_name(name, position), "mailing": mailing_id}
                          for name, position, mailing_id in matched]
        if record.get("mailing") is not None:
            out["merges"] = self.store.merges(record["mailing"])
        return out


def mailing_json(store: Store, mailing: Mailing) -> dict[str, Any]:
    """Return a mailing record: its statistics, ``copies_seen`` (every copy ever
    filed, which ``size`` also counts) and ``members_kept`` (those retention has
    not yet dropped), and the corrections users reported."""
    store.attach(DATABASES)
    raw = store.record("verdicts", corrections_key(mailing.id))
    return {"format": FORMAT_VERSION, **mailing.to_json(), "copies_seen": mailing.size,
            "members_kept": sum(1 for _ in store.messages(mailing.id)),
            "corrections": int(unpack_verdict(raw)["corrections"]) if raw else 0}


def _signature_name(name: str, position: int) -> str:
    if name == "mega":
        i, j = _PAIRS[position]
        return f"mega-shingle {position} (super-shingles {i} and {j})"
    if name == "imatch":
        return "I-Match main lexicon" if position == 0 else f"I-Match sub-lexicon {position}"
    return f"LSH band {position}"


_PAIRS = [(i, j) for i in range(6) for j in range(i + 1, 6)]


def _corrections(session: Session, view: Mailing | None) -> int:
    if view is None:
        return 0
    raw = session.get("verdicts", corrections_key(view.id))
    return int(unpack_verdict(bytes(raw))["corrections"]) if raw is not None else 0


def _facts(view: Mailing, authenticated: bool, signs: Iterable[str],
           corrections: int = 0) -> MailingFacts:
    spf = dict(view.spf)
    failed = spf.get("fail", 0) + spf.get("softfail", 0)
    return MailingFacts(
        size=view.size,
        networks=view.authenticated_networks if authenticated else view.other_networks,
        authenticated=authenticated, honest_signs=tuple(sorted(signs)),
        spf_fail_share=failed / view.size if view.size else 0.0,
        complaints=view.complaints, traps=view.traps, corrections=corrections,
        first_seen=view.first_seen, last_seen=view.last_seen)


def _check_lexicon(store: Store, lexicon: Lexicon | None) -> None:
    """Refuse to file into a store made with a lexicon without it: its I-Match
    signatures would silently be missing from every later message."""
    if lexicon is None and store.lexicon_id is not None:
        raise SchemeMismatchError(f"{store.path} was made with lexicon {store.lexicon_id!r}: "
                                  "pass that lexicon (--lexicon FILE)")


def _scheme_of(store: Store, scheme: Scheme | None) -> Scheme:
    """Return the scheme to fingerprint with: the given one, or the one the store records."""
    chosen = scheme or Scheme.from_id(store.scheme_id)
    if chosen.id != store.scheme_id:
        raise SchemeMismatchError(f"the store was made with {store.scheme_id!r}, not "
                                  f"{chosen.id!r}: pass the store's Scheme to Engine")
    return chosen
