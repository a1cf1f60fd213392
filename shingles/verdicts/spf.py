"""Live SPF evaluation (RFC 7208) with pyspf, asking the DNS servers we are told to.

Used only when a message carries no SPF result from a trusted header and the
configuration turns live checks on. Any DNS trouble (timeout, no server,
garbage) gives "temperror", never an exception: a verdict must not depend on
whether the resolver is up.

pyspf is the reference SPF implementation in Python; it looks names up through
its module-level ``DNSLookup`` function, which we point at a dnspython resolver
chosen per call (a context variable), so tests and deployments can name their
own servers instead of /etc/resolv.conf.
"""

from __future__ import annotations

import collections
import contextvars
import dataclasses
import ipaddress
import logging
import time
from typing import Any

from shingles.config import SpfSettings

__all__ = ["SpfCheck", "SpfChecker", "check_spf", "SPF_RESULTS"]

SPF_RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
_log = logging.getLogger(__name__)

@dataclasses.dataclass(frozen=True)
class SpfCheck:
    """The outcome of one SPF evaluation.

    Attributes:
        result: One of SPF_RESULTS.
        domain: The domain whose policy was evaluated (envelope sender, else HELO).
        explanation: pyspf's words, or why the check could not run.
    """

    result: str
    domain: str | None
    explanation: str


_resolver: contextvars.ContextVar[Any] = contextvars.ContextVar("shingles_spf_resolver")


def _lookup(name: str, qtype: str, strict: bool = True, timeout: float = 20) -> list[Any]:
    """Answer pyspf's look-ups with the resolver of the current check."""
    import dns.exception
    import dns.resolver
    import spf

    resolver = _resolver.get()
    try:
        answers = resolver.resolve(name, qtype, lifetime=min(timeout, resolver.lifetime))
    except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        raise spf.TempError(f"DNS {exc}") from exc
    except dns.exception.DNSException as exc:
        raise spf.TempError(f"DNS {type(exc).__name__}: {exc}") from exc
    found: list[Any] = []
    for rdata in answers:
        if qtype in ("A", "AAAA"):
            found.append(((name, qtype), rdata.address))
        elif qtype == "MX":
            found.append(((name, qtype), (rdata.preference, rdata.exchange)))
        elif qtype == "PTR":
            found.append(((name, qtype), rdata.target.to_text(True)))
        elif qtype in ("TXT", "SPF"):
            found.append(((name, qtype), rdata.strings))
    return found


def _resolver_for(settings: SpfSettings) -> Any:
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=not settings.nameservers)
    if settings.nameservers:
        resolver.nameservers = list(settings.nameservers)
        resolver.port = settings.port
    resolver.lifetime = settings.timeout
    resolver.timeout = settings.timeout
    return resolver


def check_spf(ip: str | None, sender: str | None, helo: str | None,
              settings: SpfSettings) -> SpfCheck:
    """Return the SPF result for a message from ip with envelope sender and HELO.

    With no envelope sender (bounces) the HELO identity is checked, as RFC 7208
    section 2.3 says. Never raises for DNS or input trouble: that is "temperror"
    (DNS) or "none" (nothing to check).
    """
    mailfrom = sender or (f"postmaster@{helo}" if helo else None)
    domain = mailfrom.rpartition("@")[2].lower() if mailfrom else None
    if not ip or not domain:
        return SpfCheck("none", domain, "no source IP or no sender domain to check")
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return SpfCheck("none", domain, f"not an IP address: {ip!r}")
    try:
        import spf
    except ImportError:  # pragma: no cover - pyspf is a declared dependency
        return SpfCheck("temperror", domain, "pyspf is not installed")
    spf.DNSLookup = _lookup
    token = _resolver.set(_resolver_for(settings))
    try:
        result, explanation = spf.check2(i=ip, s=mailfrom, h=helo or domain,
                                         timeout=settings.timeout, querytime=settings.timeout)
    except Exception as exc:  # pyspf raises odd things on odd input; a verdict must go on
        return SpfCheck("temperror", domain, f"{type(exc).__name__}: {exc}")
    finally:
        _resolver.reset(token)
    result = str(result).lower()
    return SpfCheck(result if result in SPF_RESULTS else "permerror", domain, str(explanation))


#: Words in pyspf's explanation when the resolver itself did not answer.
_UNREACHABLE = ("Timeout", "timed out", "NoNameservers", "no nameservers",
                "All nameservers failed")


class SpfChecker:
    """check_spf with memory: one answer per (ip, domain, HELO) and a resolver that
    stopped answering is not asked again for ``retry_seconds``.

    A live check against an unreachable resolver waits the whole timeout; without
    this, every message of a stream would. While the resolver is down the result
    is "temperror" at once, and a warning is logged once per outage.
    """

    def __init__(self, settings: SpfSettings, *, cache_size: int = 65_536,
                 retry_seconds: float = 60.0) -> None:
        self.settings = settings
        self.retry_seconds = retry_seconds
        self._cache: collections.OrderedDict[tuple[str | None, ...], SpfCheck] = \
            collections.OrderedDict()
        self._cache_size = cache_size
        self._down_until = 0.0
        self._warned = False
        self.lookups = 0  # checks that asked DNS (for tests and summaries)

    def check(self, ip: str | None, sender: str | None, helo: str | None) -> SpfCheck:
        """Return the SPF result, from memory when this (ip, sender, HELO) was checked."""
        key = (ip, (sender or "").lower() or None, (helo or "").lower() or None)
        known = self._cache.get(key)
        if known is not None:
            self._cache.move_to_end(key)
            return known
        if time.monotonic() < self._down_until:
            mailfrom = sender or (f"postmaster@{helo}" if helo else None)
            return SpfCheck("temperror", mailfrom.rpartition("@")[2].lower() if mailfrom
                            else None, "the DNS resolver did not answer recently; not asked")
        self.lookups += 1
        result = check_spf(ip, sender, helo, self.settings)
        if result.result == "temperror" and any(w in result.explanation for w in _UNREACHABLE):
            self._down_until = time.monotonic() + self.retry_seconds
            if not self._warned:
                self._warned = True
                servers = ", ".join(self.settings.nameservers) or "the system's resolvers"
                _log.warning("shingles: live SPF: %s did not answer (%s); SPF is temperror "
                             "without asking for the next %.0f s", servers,
                             result.explanation, self.retry_seconds)
            return result  # not cached: the resolver may come back
        self._warned = False
        self._cache[key] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result
