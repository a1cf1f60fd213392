"""Forwarders learned from the stream: evidence per host, expert rules, a small model, feedback.

Servers that forward mail (universities, aliases, list servers, "forward to my
Gmail") hand us mail they got from someone else: their IP breaks SPF and adds a
network to a mailing's spread. An operator cannot list them all, so the stream
tells: per sending host (the first hop outside our zone) the store keeps

- how many of its messages carry a further outside hop below it,
- how many distinct sender domains its mail comes from,
- how many carry the original sender's DKIM signature that still verifies
  (a trusted ``dkim=pass``) or ARC sets (ARC-Seal),
- how many fail SPF for their sender's domain (the domain never named this host).

Expert rules (ForwarderSettings) label a host a forwarder when all four hold
and "not a forwarder" when it clearly sends its own mail (no outside hop below
it, or one or two domains); a logistic regression (scikit-learn, the ``learn``
extra) is trained on these labels, the operator's answers overriding them, and
classifies every host with enough mail. Where rules and model disagree the host
is listed for review (``shingles forwarders --review``); ``--confirm`` and
``--reject`` store the operator's label, which wins and trains the next round.

A host confirmed, labelled by the rules without the model objecting, or left
undecided by the rules but classified with probability ``confident`` or more, is
looked past in the Received walk exactly as a configured forwarder
(SendersConfig.forwarders extended when a scan starts).

Records in the "forwarders" database: ``e:`` + IP -> evidence (version byte,
``<IIII`` messages, outside-hop-below, signed, SPF-fail, then up to
MAX_DOMAINS u32 hashes of distinct sender domains); ``l:`` + IP -> the
operator's label (version byte + "confirm" or "reject").
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import struct
from collections.abc import Iterable
from typing import Any, Literal

import xxhash

from shingles.config import ForwarderSettings, SendersConfig
from shingles.errors import StoreFormatError
from shingles.mail.senders import external_below, forwarders_passed, source_hop
from shingles.store.layout import RECORD_VERSION, Database
from shingles.verdicts.judge import Reason

__all__ = ["DATABASE", "DATABASES", "Host", "Forwarders", "features", "rule_label"]

#: The database this module keeps (listed in the store's databases).
DATABASE = "forwarders"
#: Distinct sender domains remembered per host: past this "many" is many enough.
MAX_DOMAINS = 64
_EVIDENCE = struct.Struct("<BIIII")
_DOMAIN = struct.Struct("<I")
Label = Literal["confirm", "reject"]


def _check_record(data: bytes) -> None:
    """Raise StoreFormatError unless data is an evidence or a label record."""
    if data[:1] != bytes([RECORD_VERSION]):
        raise StoreFormatError("forwarders record of unknown version")
    if data[1:] in (b"confirm", b"reject"):
        return
    if len(data) < _EVIDENCE.size or (len(data) - _EVIDENCE.size) % _DOMAIN.size:
        raise StoreFormatError("forwarders evidence record of the wrong length")


#: The module's database in the store (not swept: hosts are few and evidence builds up).
DATABASES = (Database(DATABASE, decode=_check_record),)
FEATURES = ("outside hop below", "sender domains", "signed (DKIM/ARC)", "SPF fails")


@dataclasses.dataclass(frozen=True)
class Host:
    """What the stream says about one sending host, and what is concluded.

    Attributes:
        ip: The host's address.
        messages: Messages it handed us.
        deeper: Of these, with an outside Received hop below it.
        domains: Distinct sender domains (at most MAX_DOMAINS counted).
        signed: With a verifying DKIM signature of the sender or ARC sets.
        spf_fail: Failing SPF for the sender's domain.
        rule: The expert rules' label: True forwarder, False not, None undecided.
        operator: The operator's label, or None.
        probability: The model's probability of a forwarder (None: no model).
        forwarder: The conclusion: looked past in the Received walk.
        why: Why it is (or, by the operator, is not) a forwarder: "confirmed",
            "rejected", "rules+model", "rules" (no model yet), "model" (rules
            undecided, model confident); "" for the rest.
    """

    ip: str
    messages: int
    deeper: int
    domains: int
    signed: int
    spf_fail: int
    rule: bool | None = None
    operator: Label | None = None
    probability: float | None = None
    forwarder: bool = False
    why: str = ""

    @property
    def disagreement(self) -> bool:
        """Return whether rules and model (or operator) disagree on this host."""
        if self.operator is not None:
            return False
        if self.rule is None or self.probability is None:
            return False
        return self.rule != (self.probability >= 0.5)

    def to_json(self) -> dict[str, Any]:
        """Return the host as JSON-ready data."""
        out = dataclasses.asdict(self)
        out["features"] = dict(zip(FEATURES, (round(f, 4) for f in features(self))))
        out["disagreement"] = self.disagreement
        return out


def features(host: Host) -> tuple[float, float, float, float]:
    """Return the model's features of a host, each in [0, 1]."""
    n = max(host.messages, 1)
    return (host.deeper / n, math.log1p(host.domains) / math.log1p(MAX_DOMAINS),
            host.signed / n, host.spf_fail / n)


def rule_label(host: Host, settings: ForwarderSettings) -> bool | None:
    """Return the expert rules' label of a host: True, False, or None (undecided, or too new)."""
    if host.messages < settings.min_messages:
        return None
    n = host.messages
    if host.deeper / n < 0.2 or host.domains <= 2:
        return False  # it sends its own mail
    if (host.deeper / n >= settings.deeper_share and host.domains >= settings.min_domains
            and host.signed / n >= settings.signed_share
            and host.spf_fail / n >= settings.spf_fail_share):
        return True
    return None


def _pack(counts: tuple[int, int, int, int], domains: list[int]) -> bytes:
    return _EVIDENCE.pack(RECORD_VERSION, *counts) + b"".join(_DOMAIN.pack(d) for d in domains)


def _unpack(ip: str, raw: bytes) -> tuple[Host, list[int]]:
    version, messages, deeper, signed, spf_fail = _EVIDENCE.unpack_from(raw)
    if version != RECORD_VERSION:
        raise StoreFormatError(f"forwarder evidence record version {version} is unknown")
    domains = [d for (d,) in _DOMAIN.iter_unpack(raw[_EVIDENCE.size:])]
    return Host(ip, messages, deeper, len(domains), signed, spf_fail), domains


def _sender_domain(mail: Any) -> str | None:
    sender = getattr(mail, "envelope_sender", None)
    if sender and "@" in sender:
        return str(sender.rpartition("@")[2].lower())
    domain = getattr(mail, "from_domain", None)
    return domain.lower() if domain else None


class Forwarders:
    """Evidence, rules, model and operator labels of learned forwarders.

    Args:
        settings: The [forwarders] section of the config.
    """

    def __init__(self, settings: ForwarderSettings = ForwarderSettings()) -> None:
        self.settings = settings

    # -- evidence, while scanning --------------------------------------------

    def observe(self, session: Any, mail: Any, senders: SendersConfig) -> None:
        """Add one message's evidence to the record of the host that handed it to us."""
        hops = getattr(mail, "hops", ())
        # The host itself, configured forwarders or not: evidence is about who handed it over.
        plain = dataclasses.replace(senders, forwarders=(), forwarder_hosts=())
        index = source_hop(hops, plain)
        if index is None:
            return
        ip = hops[index].from_ip
        key = b"e:" + ip.encode()
        raw = session.get(DATABASE, key)
        if raw is not None:
            host, domains = _unpack(ip, bytes(raw))
        else:
            host, domains = Host(ip, 0, 0, 0, 0, 0), []
        domain = _sender_domain(mail)
        if domain is not None and len(domains) < MAX_DOMAINS:
            hashed = xxhash.xxh32_intdigest(domain.encode())
            if hashed not in domains:
                domains.append(hashed)
        names = getattr(mail, "header_names", ())
        signed = mail.dkim == "pass" or "arc-seal" in names
        spf_fail = mail.spf in ("fail", "softfail")
        counts = (host.messages + 1, host.deeper + external_below(hops, index, plain),
                  host.signed + signed, host.spf_fail + spf_fail)
        session.put(DATABASE, key, _pack(counts, domains))

    # -- labels -------------------------------------------------------------

    def label(self, session: Any, ip: str, label: Label | None) -> None:
        """Store the operator's label of a host (None removes it); raise ValueError if no IP."""
        address = str(ipaddress.ip_address(ip))
        if label is None:
            session.delete(DATABASE, b"l:" + address.encode())
        else:
            session.put(DATABASE, b"l:" + address.encode(),
                        bytes([RECORD_VERSION]) + label.encode())

    # -- judging --------------------------------------------------------------

    def hosts(self, store: Any) -> list[Host]:
        """Return every host with evidence, classified, most messages first."""
        store.attach(DATABASES)
        labels: dict[str, Label] = {}
        for key, value in store.records(DATABASE, b"l:"):
            labels[bytes(key[2:]).decode()] = bytes(value[1:]).decode()  # type: ignore[assignment]
        found = [_unpack(bytes(key[2:]).decode(), bytes(value))[0]
                 for key, value in store.records(DATABASE, b"e:")]
        return self.classify(found, labels)

    def classify(self, hosts: Iterable[Host], labels: dict[str, Label] | None = None
                 ) -> list[Host]:
        """Return hosts with rule labels, operator labels, model probability and conclusion."""
        labels = labels or {}
        s = self.settings
        hosts = [dataclasses.replace(h, rule=rule_label(h, s), operator=labels.get(h.ip))
                 for h in hosts]
        probability = self._model(hosts)
        out = []
        for h in hosts:
            p = probability(h) if h.messages >= s.min_messages else None
            if h.operator is not None:
                forwarder, why = h.operator == "confirm", (
                    "confirmed" if h.operator == "confirm" else "rejected")
            elif h.rule is True:  # the rules say so, and the model (if any) does not object
                forwarder, why = p is None or p >= 0.5, "rules" if p is None else "rules+model"
            elif h.rule is None and p is not None:  # undecided rules: the model, if sure
                forwarder, why = p >= s.confident, "model"
            else:
                forwarder, why = False, ""
            out.append(dataclasses.replace(h, probability=None if p is None else round(p, 4),
                                           forwarder=forwarder, why=why if forwarder or
                                           h.operator else ""))
        return sorted(out, key=lambda h: (-h.messages, h.ip))

    def _model(self, hosts: list[Host]) -> Any:
        """Return host -> probability from a logistic regression on the labels, or -> None."""
        train = [(features(h), h.operator == "confirm" if h.operator else h.rule,
                  5.0 if h.operator else 1.0)
                 for h in hosts if h.operator is not None or h.rule is not None]
        if len({label for _, label, _ in train}) < 2:
            return lambda host: None  # one class only: nothing to learn yet
        try:
            from sklearn.linear_model import LogisticRegression
        except ImportError:
            return lambda host: None  # the rules alone decide (pip install 'shingles[learn]')
        model = LogisticRegression(C=10.0)
        model.fit([x for x, _, _ in train], [int(bool(y)) for _, y, _ in train],
                  sample_weight=[w for _, _, w in train])
        return lambda host: float(model.predict_proba([features(host)])[0][1])

    def learned(self, store: Any) -> tuple[str, ...]:
        """Return the IPs of the hosts concluded to be forwarders."""
        return tuple(h.ip for h in self.hosts(store) if h.forwarder)

    # -- the Received walk ------------------------------------------------------

    @staticmethod
    def extend(senders: SendersConfig, ips: Iterable[str]) -> SendersConfig:
        """Return senders with ips added to its forwarders (as /32 or /128 networks)."""
        more = tuple(ipaddress.ip_network(ip) for ip in ips)
        return dataclasses.replace(senders, forwarders=senders.forwarders + more) if more \
            else senders

    @staticmethod
    def passed(hops: Any, senders: SendersConfig) -> tuple[str, ...]:
        """Return the IPs of the forwarder hops the Received walk looks past, topmost first."""
        return tuple(hops[i].from_ip for i in forwarders_passed(hops, senders))

    @staticmethod
    def reason(ip: str, learned: bool) -> Reason:
        """Return the verdict reason saying that forwarder ip was looked past."""
        how = "learned" if learned else "configured"
        return Reason("forwarder-skipped", 1, 0,
                      f"looked past {how} forwarder {ip}: the source is the hop before it")
