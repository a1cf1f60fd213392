"""One frozen configuration, in sections, loaded from a TOML file.

    [senders]
    trusted_networks = ["203.0.113.0/24", "2001:db8::/32"]  # our own MTAs
    trusted_hosts = ["mx.example.org", ".internal.example.org"]  # rDNS names; ".x" = subdomains
    trust_private = true          # loopback, RFC 1918, link-local count as ours
    forwarders = ["198.51.100.7", "fwd.example.net"]   # skipped one more hop back
    authserv_ids = ["mx.example.org"]  # only these Authentication-Results are believed

    [limits]
    max_message_bytes = 134217728

    [judge]                       # verdict thresholds: see shingles.judge.JudgeSettings
    spam_min_networks = 20
    legit_max_networks = 3

    [spf]                         # live SPF when no trusted header gives a result
    live = false
    nameservers = ["127.0.0.1"]
    timeout = 3.0

    [social]                      # allowlists: see shingles.social.SocialSettings
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

from shingles.errors import ConfigError
from shingles.judge import JudgeSettings
from shingles.social import SocialSettings
from shingles.spf import SpfSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["DEFAULT_CONFIG", "Config", "Limits", "Network", "SendersConfig", "load_config"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
        max_html_bytes: HTML beyond this is not rendered (a defect says so).
    """

    max_message_bytes: int = 128 << 20
    max_headers: int = 1000
    max_parts: int = 1000
    max_depth: int = 30
    max_html_bytes: int = 4 << 20


@dataclasses.dataclass(frozen=True)
class Config:
    """All settings of shingles, one frozen value with a section per stage."""

    senders: SendersConfig = SendersConfig()
    limits: Limits = Limits()
    judge: JudgeSettings = JudgeSettings()
    spf: SpfSettings = SpfSettings()
    social: SocialSettings = SocialSettings()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """Return the config a TOML-shaped mapping describes; raise ConfigError if it is invalid."""
        unknown = set(data) - {"senders", "limits", "judge", "spf", "social"}
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(sorted(unknown))}")
        return cls(senders=_senders(data.get("senders", {})),
                   limits=_limits(data.get("limits", {})),
                   judge=_plain("judge", JudgeSettings, data.get("judge", {})),
                   spf=_plain("spf", SpfSettings, data.get("spf", {})),
                   social=_plain("social", SocialSettings, data.get("social", {})))


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
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
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
