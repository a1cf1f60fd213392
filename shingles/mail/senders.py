"""Sender facts from headers: Received hops, the source IP, SPF/DKIM/DMARC results.

The Received chain is read top down (newest first). The topmost header was
written by our own MTA; each hop whose sending host is in the trusted zone
(configured networks, reverse-DNS names, and private addresses unless turned
off) or is a configured forwarder vouches for the header below it. The first
hop whose sender is outside the zone gives the source IP: the host that handed
the message to us. Host names given in HELO are never trusted: anyone can say them.

Authentication results are believed only from Authentication-Results headers
whose authserv-id is configured and from Received-SPF headers, and of those
only the ones above the source hop (written inside the trusted zone).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
from collections.abc import Sequence

from datetime import datetime

import authres

from shingles._lean import lean as _lean
from shingles.config import SendersConfig, host_matches
from shingles.mail.headers import parse_date
from shingles.mail.records import Hop

__all__ = ["SenderFacts", "parse_received", "sender_facts"]

_RESULTS = {"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"}
_ALIASES = {"hardfail": "fail", "error": "temperror", "unknown": "permerror"}

_BY = re.compile(r"by[ \t\r\n]+([^\s;()\[\]]+)", re.IGNORECASE)
_HELO = re.compile(r"\(\s*(?:HELO|EHLO)\s+([^\s()]+)\s*\)|\bhelo=([^\s()]+)", re.IGNORECASE)


@functools.lru_cache(maxsize=8192)
def _ip(text: str) -> str | None:
    """Return text as a canonical IP address, or None if it is none."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def read_date(text: str) -> datetime | None:
    """Return headers.parse_date(text); the common form is read by the compiled reader."""
    if _lean is not None:
        found = _lean.common_date(text)
        if found is not None:
            return found
    return parse_date(text)


def parse_received(value: str) -> Hop:
    """Return the hop one unfolded Received value describes (unknown parts None).

    Handles the common forms: Postfix, Sendmail and Google "from HELO (RDNS [IP])
    by HOST", Exchange "from HELO (IP)", qmail "from HOST (HELO x) (IP)", Exim
    "from [IP] (helo=x)" and "from RDNS ([IP]:port helo=x)"; and the "with
    PROTOCOL" clause of any of them. A HELO address literal is never the IP. This is the definition: the compiled
    twin (shingles._mime.received_hop, through read_received) gives the same.
    """
    head, sep, when = value.rpartition(";")
    if not sep:
        head, when = value, ""
    by = None
    at = head.find(" by ")  # the usual spelling: a plain search beats a case-blind regex
    if at >= 0:
        by = _BY.match(head, at + 1)
    if by is None:
        for m in _BY.finditer(head):
            if m.start() == 0 or head[m.start() - 1] in " \t\n)":
                by = m
                break
    from_host = from_ip = helo = rdns = None
    if head[:4].lower() == "from" and head[4:5] in (" ", "\t", "\n"):
        part = head[5: by.start() if by else len(head)]
        from_host, from_ip, helo, rdns = _from_clause(part)
    # Positional: Hop(from_host, from_ip, by_host, time, helo, rdns, protocol), a hop per header.
    return Hop(from_host, from_ip, by.group(1).lower() if by else None,
               read_date(when.strip()) if when else None, helo or from_host, rdns,
               _protocol(head))


def read_received(value: str) -> Hop:
    """Return parse_received(value); ASCII values are read by the compiled twin."""
    if _lean is not None:
        hop = _lean.received_hop(value)
        if hop is not None:
            return hop
    return parse_received(value)


# RFC 5321 4.4: With = CFWS "WITH" FWS Protocol, the protocol an Atom ("ESMTPSA",
# RFC 3848), all case-blind. The keyword counts only outside comments (no more "("
# than ")" before it): Postfix puts "(using TLSv1.3 with cipher ...)" before the
# real clause. Exchange's "with Microsoft SMTP Server" gives "MICROSOFT": the
# grammar's atom, no guess at more. The look-behind (start, blank or ")" before the
# "w") comes after the first letter so that the regex engine skips ahead to a "w".
_WITH = re.compile(r"[Ww](?<![^\s)][Ww])[Ii][Tt][Hh]\s+([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)")


def _protocol(head: str) -> str | None:
    """Return the upper-cased atom after the first "with" keyword outside comments, or None."""
    m = _WITH.search(head)
    while m and head.count("(", 0, m.start()) > head.count(")", 0, m.start()):
        m = _WITH.search(head, m.end())
    return m.group(1).upper() if m else None


_FROM_CACHE: dict[str, tuple[str | None, str | None, str | None, str | None]] = {}


def _from_clause(part: str) -> tuple[str | None, str | None, str | None, str | None]:
    """Return (from host, IP, HELO, reverse DNS) of a Received header's "from" clause.

    The same relay writes the same clause into many messages, so the answers are
    kept for up to 4,096 clauses (then the cache starts again).
    """
    found = _FROM_CACHE.get(part)
    if found is None:
        found = _read_from_clause(part)
        if len(_FROM_CACHE) >= 4096:
            _FROM_CACHE.clear()
        _FROM_CACHE[part] = found
    return found


def _read_from_clause(part: str) -> tuple[str | None, str | None, str | None, str | None]:
    """Return what _from_clause returns, read afresh.

    The first word is what the client said in HELO (Postfix, Sendmail, Exchange,
    Google, qmail) or Exim's verified name or address: never the connecting IP
    while a comment names one. The IP is in the last comment that holds an
    address and is no "(HELO x)": the one the MTA wrote after everything the
    client said. Read from the end, so that a qmail HELO holding parentheses
    (qmail takes the whole line) cannot put a comment after it. Only Exim with no
    verified name writes the address first, with no address in the comment:
    "from [IP] (helo=x)".
    """
    from_host = literal = helo = None
    words = part.split(None, 1)
    if words:
        first = words[0].strip("()")
        if first.startswith("["):
            literal = _ip(first.strip("[]").removeprefix("IPv6:"))
        else:
            from_host = first.lower() or None
    from_ip, rdns = _connecting_ip(words[1] if len(words) > 1 else "")
    if from_ip is None:
        from_ip = literal
    if "elo" in part or "ELO" in part:
        h = _HELO.search(part)
        if h:
            helo = (h.group(1) or h.group(2)).strip("[]").lower()
    return from_host, from_ip, helo, rdns


def _connecting_ip(rest: str) -> tuple[str | None, str | None]:
    """Return (IP, reverse DNS) from the last comment in rest naming an address (see above)."""
    depth, end = 0, 0
    for i in range(len(rest) - 1, -1, -1):
        c = rest[i]
        if c == ")":
            if depth == 0:
                end = i
            depth += 1
        elif c == "(" and depth:
            depth -= 1
            if depth == 0:
                found = _comment_ip(rest[i + 1:end])
                if found[0] is not None:
                    return found
    return None, None


_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")


def _comment_ip(comment: str) -> tuple[str | None, str | None]:
    """Return (IP, reverse DNS) of one Received comment: "(rdns [IP])", "([IP]:port helo=x)",
    "(IP)", "(user@IP)"; (None, None) for "(HELO x)" or a comment naming no address."""
    words = comment.split()
    if not words or words[0].lower() in ("helo", "ehlo"):
        return None, None
    for k, word in enumerate(words):
        if word.startswith("["):
            close = word.find("]")
            ip = _ip(word[1:close].removeprefix("IPv6:")) if close > 0 else None
        else:
            ip = _ip(word.rpartition("@")[2])
        if ip is not None:
            name = words[0] if k == 1 and _HOST_NAME.fullmatch(words[0]) else None
            return ip, name.lower().rstrip(".") if name else None  # Google ends it with "."
    return None, None


@dataclasses.dataclass(frozen=True)
class SenderFacts:
    """What the trusted part of the headers says about the sender."""

    source_ip: str | None
    helo: str | None
    source_index: int | None  # index into hops of the source hop
    spf: str | None
    spf_domain: str | None
    dkim: str | None
    dkim_domains: tuple[str, ...]
    dmarc: str | None


def _in(ip: str, nets: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    addr = ipaddress.ip_address(ip)
    return any(addr.version == net.version and addr in net for net in nets)


# Internal address space. Not ipaddress's is_private: that also holds the
# documentation networks (192.0.2.0/24 ...), which are someone else's in tests and examples.
_INTERNAL = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
    "::1/128", "fc00::/7", "fe80::/10"))
# A stream has more distinct IPv4 addresses (and /16s) than a cache holds, but
# with every internal IPv4 network /16 or wider, one or two leading octets
# decide: the second only where a network narrower than a /8 starts.
assert all(n.prefixlen <= 16 for n in _INTERNAL if n.version == 4), "see _internal"
_SECOND_OCTET_DECIDES = frozenset(str(n.network_address).split(".")[0]
                                  for n in _INTERNAL if n.version == 4 and n.prefixlen > 8)


def _internal(ip: str) -> bool:
    if ":" not in ip and ip.count(".") == 3:
        first, _, rest = ip.partition(".")
        second = rest.partition(".")[0] if first in _SECOND_OCTET_DECIDES else "0"
        return _internal_v4_head(first, second)  # a cache of at most 1,024 keys: it hits
    return _internal_other(ip)


@functools.lru_cache(maxsize=1024)
def _internal_v4_head(first: str, second: str) -> bool:
    return _in(f"{first}.{second}.0.0", _INTERNAL)


@functools.lru_cache(maxsize=8192)
def _internal_other(ip: str) -> bool:
    return _in(ip, _INTERNAL)


def _trusted(hop: Hop, config: SendersConfig) -> bool:
    if hop.from_ip is None:
        return False
    if config.trust_private and _internal(hop.from_ip):
        return True
    if not config.trusted_networks and not config.trusted_hosts:
        return False
    return _in(hop.from_ip, config.trusted_networks) or host_matches(hop.rdns, config.trusted_hosts)


def _forwarder(hop: Hop, config: SendersConfig) -> bool:
    return hop.from_ip is not None and bool(config.forwarders or config.forwarder_hosts) and (
        _in(hop.from_ip, config.forwarders) or host_matches(hop.rdns, config.forwarder_hosts))


def source_hop(hops: Sequence[Hop], config: SendersConfig) -> int | None:
    """Return the index of the hop that handed the message to our first trusted host, or None."""
    for i, hop in enumerate(hops):
        if hop.from_ip is None:
            continue  # a local hand-over inside one trusted host
        if _trusted(hop, config) or _forwarder(hop, config):
            continue  # vouched for: the header below it was written by a host we believe
        return i
    return None


def _result(text: str) -> str | None:
    word = text.strip().lower()
    word = _ALIASES.get(word, word)
    return word if word in _RESULTS else None


_METHOD = re.compile(r"\b(spf|dkim|dmarc)\s*=\s*([A-Za-z]+)")
_PROP = re.compile(r"\b(smtp\.mailfrom|smtp\.helo|header\.d|header\.i|header\.from)\s*=\s*"
                   r"([^\s;]+)", re.IGNORECASE)


def _domain(value: str) -> str:
    return value.rpartition("@")[2].strip("<>\"").lower()


def _clauses(value: str) -> tuple[str, list[tuple[str, str | None, dict[str, str]]]]:
    """Return (authserv-id, [(method, result, {ptype.property: value})]) of one
    Authentication-Results value.

    RFC 8601's grammar (comments may hold ";", values may be quoted) is the
    maintained ``authres`` parser's job; a value it rejects (real mail carries
    non-conforming ones, e.g. ``smtp.mailfrom=<a@b>``) is read leniently, clause
    by clause.
    """
    try:
        header = authres.AuthenticationResultsHeader.parse_value(value)
    except Exception:  # authres raises its own SyntaxError and others on garbage
        header = None
    if header is not None and header.authserv_id:
        return header.authserv_id.lower(), [
            (str(r.method).lower(), _result(str(r.result)),
             {f"{p.type}.{p.name}".lower(): str(p.value) for p in r.properties})
            for r in header.results]
    authserv, _, rest = value.partition(";")
    ident = authserv.split()[0].lower() if authserv.split() else ""
    found = []
    for clause in rest.split(";"):
        m = _METHOD.search(clause)
        if m:
            found.append((m.group(1).lower(), _result(m.group(2)),
                          {k.lower(): v for k, v in _PROP.findall(clause)}))
    return ident, found


def _auth_results(values: Sequence[str], config: SendersConfig,
                  ) -> tuple[str | None, str | None, str | None, tuple[str, ...], str | None]:
    spf = spf_domain = dmarc = None
    dkims: list[str] = []
    dkim_domains: list[str] = []
    for value in values:
        if not config.authserv_ids:
            break
        ident, clauses = _clauses(value)
        if ident not in config.authserv_ids:
            continue
        for method, result, props in clauses:
            if method == "spf" and spf is None:
                spf = result
                where = props.get("smtp.mailfrom") or props.get("smtp.helo")
                spf_domain = _domain(where) if where else None
            elif method == "dkim" and result:
                dkims.append(result)
                d = props.get("header.d") or props.get("header.i")
                if result == "pass" and d:
                    dkim_domains.append(_domain(d))
            elif method == "dmarc" and dmarc is None:
                dmarc = result
    dkim = "pass" if "pass" in dkims else (dkims[0] if dkims else None)
    return spf, spf_domain, dkim, tuple(dict.fromkeys(dkim_domains)), dmarc


_ENVELOPE_FROM = re.compile(r"envelope-from\s*=\s*\"?<?([^\s;\">]+)", re.IGNORECASE)
_DOMAIN_OF = re.compile(r"domain of\s+([^\s;()]+)", re.IGNORECASE)


def sender_facts(hops: Sequence[Hop], auth_results: Sequence[tuple[int, str]],
                 received_spf: Sequence[tuple[int, str]], received_positions: Sequence[int],
                 config: SendersConfig) -> SenderFacts:
    """Return the sender facts of one message.

    Authentication-Results and Received-SPF count only above the source hop's
    Received header: written inside the trusted zone after the message came in
    (RFC 8601 section 5). A copy below it, even with our authserv-id, is what the
    sender wrote.

    Args:
        hops: The Received hops, topmost first.
        auth_results: (header position, unfolded value) of each Authentication-Results header.
        received_spf: (header position, unfolded value) of each Received-SPF header.
        received_positions: Header position of each Received header (same order as hops).
        config: The trusted zone, forwarders and authserv-ids.
    """
    index = source_hop(hops, config)
    source = hops[index] if index is not None else None
    limit = received_positions[index] if index is not None else 1 << 30
    spf, spf_domain, dkim, dkim_domains, dmarc = _auth_results(
        [value for position, value in auth_results if position < limit], config)
    if spf is None and received_spf:
        for position, value in received_spf:
            if position < limit:
                spf = _result(value.split(None, 1)[0]) if value.split() else None
                m = _ENVELOPE_FROM.search(value) or _DOMAIN_OF.search(value)
                if m:
                    spf_domain = _domain(m.group(1))
                break
    return SenderFacts(
        source_ip=source.from_ip if source else None,
        helo=source.helo if source else None,
        source_index=index,
        spf=spf, spf_domain=spf_domain, dkim=dkim, dkim_domains=dkim_domains, dmarc=dmarc)
