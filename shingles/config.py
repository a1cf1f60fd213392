"""One frozen configuration, in sections, loaded from a TOML file.

    [senders]
    trusted_networks = ["203.0.113.0/24", "2001:db8::/32"]  # our own MTAs
    trusted_hosts = ["mx.example.org", ".internal.example.org"]  # rDNS names; ".x" = subdomains
    trust_private = true          # loopback, RFC 1918, link-local count as ours
    forwarders = ["198.51.100.7", "fwd.example.net"]   # skipped one more hop back
    authserv_ids = ["mx.example.org"]  # only these Authentication-Results are believed

    [limits]
    max_message_bytes = 134217728

    [store]                       # a new store's matching, and how it keeps mail
    mode = "recall"               # "paper": the paper's exact rule, for reproduction
    retention_days = 30           # 0 keeps everything (archive replays)
    batch_size = 10000

    [judge]                       # verdict thresholds: see shingles.verdicts.judge.JudgeSettings
    spam_min_networks = 20
    legit_max_networks = 3
    trap_addresses = ["trap@example.org"]

    [spf]                         # live SPF when no trusted header gives a result
    live = false
    nameservers = ["127.0.0.1"]
    timeout = 3.0

    [social]                      # allowlists: see shingles.verdicts.social.SocialSettings
    local_domains = ["example.org"]

Later stages add their own sections (thresholds and the like) beside these.
Settings are changed with ``dataclasses.replace``, never in place.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import sys
from collections.abc import Mapping
from typing import Any, TypeVar

from typing import Literal

from shingles.errors import ConfigError
from shingles.scheme import NUM_PERM

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "DEFAULT_CONFIG", "DEFAULT_STORE", "MATCHING_KEYS", "Config", "ForwarderSettings",
    "JudgeSettings", "Limits", "Mode", "Network", "ReleaseSettings", "SendersConfig",
    "ServeSettings", "SocialSettings", "SparkSettings", "SpfSettings", "StoreSettings",
    "load_config",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Mode = Literal["paper", "recall"]


def _network(text: str) -> Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ConfigError(f"not an IP network: {text!r}") from exc


def _split_hosts(values: tuple[str, ...]) -> tuple[tuple[Network, ...], tuple[str, ...]]:
    """Return (networks, lower-case host names) from a list mixing the two."""
    nets, hosts = [], []
    for value in values:
        try:
            nets.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            hosts.append(value.lower().rstrip("."))
    return tuple(nets), tuple(hosts)


def host_matches(host: str | None, names: tuple[str, ...]) -> bool:
    """Return whether host equals a name, or lies under a name written ".domain"."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    for name in names:
        if name.startswith("."):
            if host.endswith(name) or host == name[1:]:
                return True
        elif host == name:
            return True
    return False


@dataclasses.dataclass(frozen=True)
class SendersConfig:
    """Who is "us" on the Received chain, and whose authentication results to believe.

    Attributes:
        trusted_networks: Networks of our own MTAs.
        trusted_hosts: Reverse-DNS names of our own MTAs (".example.org" matches subdomains).
        trust_private: Count loopback, private and link-local addresses as trusted.
        forwarders: Networks of hosts that forward mail to us (the walk looks one
            hop further back past them).
        forwarder_hosts: Reverse-DNS names of such forwarders.
        authserv_ids: authserv-ids whose Authentication-Results headers are read;
            empty means none are (anyone can write such a header).
    """

    trusted_networks: tuple[Network, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    trust_private: bool = True
    forwarders: tuple[Network, ...] = ()
    forwarder_hosts: tuple[str, ...] = ()
    authserv_ids: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Limits:
    """Caps that keep time and memory per message bounded on hostile input.

    Attributes:
        max_message_bytes: Larger messages become error records (the reader skips them).
        max_headers: Header fields read per part; the rest are dropped with a defect.
        max_parts: MIME parts visited per message; the rest are dropped with a defect.
        max_depth: Multipart nesting followed; deeper parts are dropped with a defect.
        max_html_bytes: HTML beyond this is not rendered (a defect says so): a
            browser-like parse of 1 MiB of hostile markup takes up to half a second.
        max_html_depth: HTML elements nested deeper are left out, their text kept:
            the HTML parser's time grows with the depth for each tag.
        max_text_bytes: Bytes of a text/plain part decoded; the rest is cut (a
            defect says so), so one huge line costs no more than this.
        max_seconds: Time budget for one message: past it, the parts not yet read
            are left out (a defect says so) and the record has the text read so far.
    """

    max_message_bytes: int = 128 << 20
    max_headers: int = 1000
    max_parts: int = 1000
    max_depth: int = 30
    max_html_bytes: int = 1 << 20
    max_html_depth: int = 64
    max_text_bytes: int = 2 << 20
    max_seconds: float = 2.0


@dataclasses.dataclass(frozen=True)
class StoreSettings:
    """How a store matches messages and keeps them.

    Attributes:
        mode: "paper": a message joins a mailing when they share a mega-shingle
            (2 of 6 super-shingles) or an I-Match signature, the paper's rule,
            which glues only near-identical copies. "recall": candidates share
            an LSH band of min-hashes and are confirmed when the share of equal
            min-hashes with one of the mailing's representatives reaches
            ``threshold``; copies with a few words changed are glued too.
        bands: LSH bands in recall mode.
        rows: Min-hashes per band in recall mode (bands x rows <= 84).
        threshold: Estimated resemblance a recall candidate needs.
        representatives: Min-hash vectors kept per mailing in recall mode.
        trace_threshold: In recall mode, the resemblance enough for a candidate
            mailing whose copies share the message's header trace (the sending
            software, shingles.mail.trace); None ignores traces. The trace only
            lowers the bar for a candidate the text named, it never names one.
        retention_days: Index keys, messages and mailings untouched for this
            long (by the store's clock) are dropped; 0 keeps everything.
        batch_size: Messages per transaction: a crash loses at most one batch.
            Each commit writes out about every index page (the keys are random),
            so larger batches pay less per message: bench/README.md has figures.
        map_size: Initial LMDB map size in bytes; it grows by itself.
        max_map_size: The map never grows past this; then StoreFullError.
        seed: The secret seed of a new store's fingerprint scheme. None (the
            default) makes a random one when the store is created, so nobody
            outside this installation can compute its fingerprints and craft
            chains of messages that glue two mailings together; set the same
            value on installations that share signatures. An existing store
            keeps the seed it was made with.
    """

    mode: Mode = "paper"
    bands: int = 21
    rows: int = 4
    threshold: float = 0.5
    representatives: int = 3
    trace_threshold: float | None = None
    retention_days: float = 30.0
    batch_size: int = 10_000
    map_size: int = 64 << 20
    max_map_size: int = 1 << 40
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.seed is not None and not 0 <= self.seed < 1 << 64:
            raise ValueError("seed must be an unsigned 64-bit integer")
        if self.mode not in ("paper", "recall"):
            raise ValueError(f"mode must be 'paper' or 'recall', got {self.mode!r}")
        if not (1 <= self.bands <= 255 and 1 <= self.rows and self.bands * self.rows <= NUM_PERM):
            raise ValueError(f"bands x rows must fit in {NUM_PERM} min-hashes "
                             f"(and bands <= 255), got {self.bands} x {self.rows}")
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        if not 1 <= self.representatives <= 64:
            raise ValueError("representatives must be 1..64")
        if self.trace_threshold is not None and not 0 < self.trace_threshold <= self.threshold:
            raise ValueError("trace_threshold must be in (0, threshold]")
        if self.retention_days < 0:
            raise ValueError("retention_days must be >= 0 (0 keeps everything)")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not 1 << 16 <= self.map_size <= self.max_map_size:
            raise ValueError("map_size must be at least 64 KiB and at most max_map_size")

    @property
    def matching(self) -> str:
        """Return the mode and every parameter that changes which messages match."""
        if self.mode == "paper":
            return "paper"
        trace = f" trace={self.trace_threshold:.4f}" if self.trace_threshold is not None else ""
        return (f"recall bands={self.bands}x{self.rows} threshold={self.threshold:.4f} "
                f"reps={self.representatives}{trace}")


@dataclasses.dataclass(frozen=True)
class SparkSettings:
    """How the archive job (shingles.spark) reads its input and what it writes.

    Attributes:
        partitions: Partitions messages are parsed and fingerprinted in; 0 takes
            four per core Spark offers.
        min_size: Mailings of fewer messages are left out of the ``mailings`` table
            (every message still gets its mailing id in ``messages``).
        verdicts: Judge each mailing's statistics (shingles.verdicts.judge).
        id_column: Column of a Parquet or JSON table that names each message.
        raw_column: Column of such a table that holds the raw message (bytes or text).
        max_rounds: Rounds of large-star/small-star before the job gives up; the
            algorithm needs O(log^2 n) of them, a handful in practice.
    """

    partitions: int = 0
    min_size: int = 2
    verdicts: bool = False
    id_column: str = "id"
    raw_column: str = "raw"
    max_rounds: int = 64

    def __post_init__(self) -> None:
        if self.partitions < 0:
            raise ValueError("partitions must be >= 0 (0: four per core)")
        if self.min_size < 1:
            raise ValueError("min_size must be at least 1")
        if self.max_rounds < 1:
            raise ValueError("max_rounds must be at least 1")


@dataclasses.dataclass(frozen=True)
class JudgeSettings:
    """Thresholds of the verdict rules (the [judge] section of the config file).

    shingles.verdicts.judge has the rules in order; what each threshold does there:

    Attributes:
        bulk_min_size: Copies before a mailing is judged as bulk; fewer are
            ``personal`` (or ``hold`` when they already spread or arrive fast).
        legit_max_networks: ``bulk-legit`` needs honest signs (authentication,
            list headers) and copies from at most this many /24 networks. It is
            also where the score's spread starts: 0.8 x (networks - this) /
            (spam_min_networks - this), plus 0.2 x the share failing SPF; a
            score of 0.5 or more without honest signs is ``bulk-spam``.
        spam_min_networks: Copies (of the message's sender identity) from this
            many /24 networks make ``bulk-spam`` whatever else is known.
        complaint_share: Complaints (``shingles report``) on at least this share
            of the copies make ``bulk-spam``, unless users' corrections are at
            least as many.
        hold_minutes: How long a held message waits for ``rescan``.
        hold_min_networks: An unauthenticated mailing without honest signs from
            this many networks is held (``hold``) instead of judged at once.
        hold_rate_per_hour: A young mailing growing this fast is held.
        suspicious_min_messages: Messages an IP must have sent before it can be suspicious.
        suspicious_spam_share: Share of an IP's messages in spam mailings that makes
            it suspicious (``suspicious-source``).
        suspicious_half_life_days: Half-life of an IP's counters: the zone forgets.
        trap_addresses: Spam-trap addresses: a message to one counts as a trap hit
            of its mailing at scan time (once per message), and trap hits make spam.
    """

    bulk_min_size: int = 3
    legit_max_networks: int = 3
    spam_min_networks: int = 20
    complaint_share: float = 0.01
    hold_minutes: float = 30.0
    hold_min_networks: int = 2
    hold_rate_per_hour: float = 60.0
    suspicious_min_messages: int = 10
    suspicious_spam_share: float = 0.5
    suspicious_half_life_days: float = 7.0
    trap_addresses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "trap_addresses",
                           tuple(sorted({a.strip().lower() for a in self.trap_addresses})))
        if not 1 <= self.legit_max_networks < self.spam_min_networks:
            raise ValueError("need 1 <= legit_max_networks < spam_min_networks")
        if self.bulk_min_size < 2:
            raise ValueError("bulk_min_size must be at least 2")
        if not 0 < self.suspicious_spam_share <= 1:
            raise ValueError("suspicious_spam_share must be in (0, 1]")
        if self.hold_minutes < 0 or self.suspicious_half_life_days <= 0:
            raise ValueError("hold_minutes must be >= 0 and the half-life positive")


@dataclasses.dataclass(frozen=True)
class SpfSettings:
    """Where and how long live SPF checks may ask DNS.

    Attributes:
        live: Evaluate SPF when no trusted header gives a result.
        nameservers: DNS servers to ask; empty means the system's (resolv.conf).
        port: Their port.
        timeout: Seconds for the whole check, all look-ups together.
    """

    live: bool = False
    nameservers: tuple[str, ...] = ()
    port: int = 53
    timeout: float = 3.0

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("spf timeout must be positive")
        for server in self.nameservers:
            ipaddress.ip_address(server)  # raises ValueError naming the bad address


@dataclasses.dataclass(frozen=True)
class SocialSettings:
    """The [social] section of the config file.

    Attributes:
        local_domains: Our users' domains; mail from them, entering from inside, is outgoing.
        half_life_days: Half-life of an edge's weight.
        expire_days: Edges with no message for this long are gone (unless pinned).
        new_recipients_per_day: New recipients an author may add per day; past it the
            author is flagged (a compromised account) and adds no more edges that day.
        trusted_min_authors: Distinct local authors writing to a domain before it is trusted.
        trusted_min_messages: Outgoing messages to a domain before it is trusted.
        second_degree_discount: Factor on the score of mail from a correspondent
            of a correspondent.
    """

    local_domains: tuple[str, ...] = ()
    half_life_days: float = 90.0
    expire_days: float = 365.0
    new_recipients_per_day: int = 200
    trusted_min_authors: int = 3
    trusted_min_messages: int = 20
    second_degree_discount: float = 0.5

    def __post_init__(self) -> None:
        if self.half_life_days <= 0 or self.expire_days <= 0:
            raise ValueError("half_life_days and expire_days must be positive")
        if self.new_recipients_per_day < 1 or self.trusted_min_authors < 2:
            raise ValueError("new_recipients_per_day >= 1 and trusted_min_authors >= 2 needed")
        if not 0 <= self.second_degree_discount <= 1:
            raise ValueError("second_degree_discount must be in [0, 1]")


#: What the milter may do with a message, per verdict (see ServeSettings.actions).
ACTIONS = ("accept", "reject", "tempfail", "quarantine", "discard")
#: The verdicts an action may be set for.
VERDICTS = ("personal", "bulk", "bulk-legit", "bulk-spam", "suspicious-source", "hold",
            "allowlisted")


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    """The [serve] section: ``shingles serve``, its listeners, group commit and actions.

    Attributes:
        http: HOST:PORT of the HTTP front end ("" for none); loopback by default.
        milter: The milter socket, ``inet:PORT@HOST`` or ``unix:/path`` ("" for none).
        commit_ms: A group commits at most this long after its first message.
        commit_messages: ... or as soon as it holds this many messages.
        answer: "at-once" (answer each message as soon as it is judged; a crash may
            lose the open group's records) or "after-commit" (answer once the group
            is durable; slower).
        max_body_bytes: Largest message taken over HTTP or milter; larger: 413 / 552.
        request_timeout: Seconds a client may take to send one request.
        rescan_seconds: How often the clock looks for held messages past their deadline.
        add_headers: Whether the milter adds X-Shingles-* headers to accepted mail.
        actions: Milter action per verdict, as (verdict, action) pairs; verdicts not
            named are accepted. Default: hold -> tempfail, so the sender retries after
            the hold deadline and meets the rescanned verdict.
        reject_text: Text of a 5xx reply ({verdict} and {reasons} are filled in).
        tempfail_text: Text of a 4xx reply ({minutes}: hold time, the retry hint).
        log_every: One log line on stderr per this many messages.
    """

    http: str = "127.0.0.1:11380"
    milter: str = ""
    commit_ms: float = 5.0
    commit_messages: int = 256
    answer: str = "at-once"
    max_body_bytes: int = 32 << 20
    request_timeout: float = 30.0
    rescan_seconds: float = 30.0
    add_headers: bool = True
    actions: tuple[tuple[str, str], ...] = (("hold", "tempfail"),)
    reject_text: str = "message refused as {verdict}: {reasons}"
    tempfail_text: str = "mailing under observation, try again in {minutes} minutes"
    log_every: int = 1

    def __post_init__(self) -> None:
        if self.commit_ms < 0 or self.commit_messages < 1 or self.max_body_bytes < 1:
            raise ValueError("commit_ms >= 0, commit_messages >= 1, max_body_bytes >= 1 needed")
        if self.answer not in ("at-once", "after-commit"):
            raise ValueError(f"answer must be at-once or after-commit, not {self.answer!r}")
        if self.request_timeout <= 0 or self.rescan_seconds <= 0 or self.log_every < 1:
            raise ValueError("request_timeout, rescan_seconds and log_every must be positive")
        for verdict, action in self.actions:
            if verdict not in VERDICTS or action not in ACTIONS:
                raise ValueError(f"actions: {verdict} = {action!r} is not a verdict and one "
                                 f"of {', '.join(ACTIONS)}")

    def action(self, verdict: str) -> str:
        """Return the milter action for a verdict ("accept" when none is set)."""
        return dict(self.actions).get(verdict, "accept")


#: The store settings of a configuration that names none: recall mode, the best
#: measured (bench/README.md); StoreSettings() itself keeps the paper's rule.
DEFAULT_STORE = StoreSettings(mode="recall")
#: [store] keys that decide which messages match: fixed when a store is made.
MATCHING_KEYS = frozenset({"mode", "bands", "rows", "threshold", "representatives",
                           "trace_threshold"})


@dataclasses.dataclass(frozen=True)
class ForwarderSettings:
    """The [forwarders] section: forwarders learned from the stream (verdicts/forwarders.py).

    Attributes:
        learn: Keep evidence per host as mail is scanned, and look past learned
            forwarders (confirmed by an operator, or classified with confidence)
            in the Received walk as past configured ones.
        min_messages: Messages a host must have handed us before it is judged.
        min_domains: Distinct sender domains the rules want of a forwarder.
        deeper_share: Share of its messages that must carry an outside hop below it.
        signed_share: Share with a sender's DKIM signature that still verifies, or ARC sets.
        spf_fail_share: Share whose SPF (for the sender's domain, at this host) fails.
        confident: Model probability from which a host is taken as a forwarder.
    """

    learn: bool = False
    min_messages: int = 5
    min_domains: int = 5
    deeper_share: float = 0.5
    signed_share: float = 0.3
    spf_fail_share: float = 0.3
    confident: float = 0.9

    def __post_init__(self) -> None:
        if self.min_messages < 1 or self.min_domains < 1:
            raise ValueError("min_messages and min_domains must be at least 1")
        for name in ("deeper_share", "signed_share", "spf_fail_share", "confident"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1]")


@dataclasses.dataclass(frozen=True)
class ReleaseSettings:
    """How ``shingles release-check`` decides (shingles/verdicts/release.py).

    Attributes:
        resamples: Bootstrap resamples of the old scores (old-vs-old distances).
        quantile: The new configuration passes when its distance from the old one
            is at most this quantile of the old-vs-old distances ...
        tolerance: ... or at most this (a floor: when legitimate mail all scores
            the same, every resample gives 0 and any change would fail).
        seed: Seed of the resampling, so a check is repeatable.
    """

    resamples: int = 200
    quantile: float = 0.99
    tolerance: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        if self.resamples < 10:
            raise ValueError("resamples must be at least 10")
        if not 0 < self.quantile <= 1:
            raise ValueError("quantile must be in (0, 1]")
        if self.tolerance < 0:
            raise ValueError("tolerance must be >= 0")


@dataclasses.dataclass(frozen=True)
class Config:
    """All settings of shingles, one frozen value with a section per stage.

    ``store_keys`` names the [store] settings the file gave: the matching ones
    apply to a new store, and an existing store keeps its own unless one is given.
    """

    senders: SendersConfig = SendersConfig()
    limits: Limits = Limits()
    judge: JudgeSettings = JudgeSettings()
    spf: SpfSettings = SpfSettings()
    social: SocialSettings = SocialSettings()
    forwarders: ForwarderSettings = ForwarderSettings()
    serve: ServeSettings = ServeSettings()
    store: StoreSettings = DEFAULT_STORE
    store_keys: frozenset[str] = frozenset()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """Return the config a TOML-shaped mapping describes; raise ConfigError if it is invalid."""
        unknown = set(data) - {"senders", "limits", "judge", "spf", "social", "store",
                               "forwarders", "serve"}
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(sorted(unknown))}")
        store = data.get("store", {})
        return cls(senders=_senders(data.get("senders", {})),
                   limits=_limits(data.get("limits", {})),
                   judge=_plain("judge", JudgeSettings, data.get("judge", {})),
                   spf=_plain("spf", SpfSettings, data.get("spf", {})),
                   social=_plain("social", SocialSettings, data.get("social", {})),
                   forwarders=_plain("forwarders", ForwarderSettings,
                                     data.get("forwarders", {})),
                   serve=_serve(data.get("serve", {})),
                   store=_store({"mode": DEFAULT_STORE.mode, **store}),
                   store_keys=frozenset(store))

    def to_json(self) -> dict[str, Any]:
        """Return every setting as TOML-shaped, JSON-ready data (``--print-config``)."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            if field.name == "store_keys":
                continue
            section = {}
            for key, value in dataclasses.asdict(getattr(self, field.name)).items():
                if isinstance(value, (tuple, list)):
                    value = [str(v) for v in value]
                section[key] = value
            out[field.name] = section
        return out


def _store(data: Mapping[str, Any]) -> StoreSettings:
    """Return the [store] section; its seed may be written in hex (TOML integers are signed)."""
    seed = data.get("seed")
    rest = {key: value for key, value in data.items() if key not in ("seed", "trace_threshold")}
    settings = _plain("store", StoreSettings, rest)
    trace = data.get("trace_threshold")  # None by default, so _plain cannot type-check it
    if trace is not None:
        if isinstance(trace, bool) or not isinstance(trace, (int, float)):
            raise ConfigError(f"[store] trace_threshold must be a number, not {trace!r}")
        try:
            settings = dataclasses.replace(settings, trace_threshold=float(trace))
        except ValueError as exc:
            raise ConfigError(f"[store] {exc}") from None
    if seed is None:
        return settings
    try:
        value = int(seed, 0) if isinstance(seed, str) else seed
        return dataclasses.replace(settings, seed=value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[store] seed must be an unsigned 64-bit integer, not {seed!r}") from exc


def _strings(section: str, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"[{section}] {key} must be a list of strings")
    return tuple(value)


def _check_keys(section: str, data: Mapping[str, Any], allowed: set[str]) -> None:
    if not isinstance(data, Mapping):
        raise ConfigError(f"[{section}] must be a table")
    unknown = set(data) - allowed
    if unknown:
        raise ConfigError(f"unknown setting(s) in [{section}]: {', '.join(sorted(unknown))}")


def _senders(data: Mapping[str, Any]) -> SendersConfig:
    keys = {"trusted_networks", "trusted_hosts", "trust_private", "forwarders", "authserv_ids"}
    _check_keys("senders", data, keys)
    trust_private = data.get("trust_private", True)
    if not isinstance(trust_private, bool):
        raise ConfigError("[senders] trust_private must be true or false")
    fwd_nets, fwd_hosts = _split_hosts(_strings("senders", "forwarders", data.get("forwarders", [])))
    return SendersConfig(
        trusted_networks=tuple(_network(v) for v in _strings(
            "senders", "trusted_networks", data.get("trusted_networks", []))),
        trusted_hosts=tuple(h.lower().rstrip(".") for h in _strings(
            "senders", "trusted_hosts", data.get("trusted_hosts", []))),
        trust_private=trust_private,
        forwarders=fwd_nets,
        forwarder_hosts=fwd_hosts,
        authserv_ids=tuple(v.lower() for v in _strings(
            "senders", "authserv_ids", data.get("authserv_ids", []))),
    )


def _limits(data: Mapping[str, Any]) -> Limits:
    fields = {f.name for f in dataclasses.fields(Limits)}
    _check_keys("limits", data, fields)
    for key, value in data.items():
        if key == "max_seconds":
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigError("[limits] max_seconds must be a positive number")
        elif not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"[limits] {key} must be a positive integer")
    return Limits(**data)


_T = TypeVar("_T")


def _plain(section: str, kind: type[_T], data: Mapping[str, Any]) -> _T:
    """Return a settings dataclass from a section of plain values typed like its defaults."""
    defaults = kind()
    _check_keys(section, data, {f.name for f in dataclasses.fields(kind)})  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in data.items():
        default = getattr(defaults, key)
        if isinstance(default, tuple):
            value = _strings(section, key, value)
        elif isinstance(default, bool) != isinstance(value, bool) or not isinstance(
                value, (int, float) if isinstance(default, float) else type(default)):
            raise ConfigError(f"[{section}] {key} must be of type {type(default).__name__}, "
                              f"not {value!r}")
        values[key] = value
    try:
        return kind(**values)
    except ValueError as exc:
        raise ConfigError(f"[{section}] {exc}") from None


def _serve(data: Mapping[str, Any]) -> ServeSettings:
    """Return the [serve] section; its [serve.actions] table maps verdicts to actions."""
    _check_keys("serve", data, {f.name for f in dataclasses.fields(ServeSettings)})
    plain = {key: value for key, value in data.items() if key != "actions"}
    settings = _plain("serve", ServeSettings, plain)
    actions = data.get("actions")
    if actions is None:
        return settings
    _check_keys("serve.actions", actions, set(VERDICTS))
    if not all(isinstance(v, str) for v in actions.values()):
        raise ConfigError("[serve.actions] values must be strings")
    try:
        # Named verdicts replace the defaults; the rest keep theirs.
        merged = {**dict(settings.actions), **actions}
        return dataclasses.replace(settings, actions=tuple(sorted(merged.items())))
    except ValueError as exc:
        raise ConfigError(f"[serve] {exc}") from None


def load_config(path: str | None) -> Config:
    """Return the config in the TOML file at path (None: the defaults); raise ConfigError."""
    if path is None:
        return DEFAULT_CONFIG
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Config.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


DEFAULT_CONFIG = Config()
