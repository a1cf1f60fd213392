"""Verdicts: the mass-mailing heuristics of SEED-NOTES section 3, as explainable rules.

Pure policy: it takes facts gathered by the engine (the message's mailing as
seen from the message's own sender identity, the source IP's history) and
returns a verdict with the figures that decided it. No I/O here, so every rule
is tested with plain values and a controlled clock.

The rules, in the order they are tried:
1. Young mailing (fewer than ``bulk_min_size`` copies): ``personal``, unless the
   source IP is in the suspicious zone (``suspicious-source``), or unauthenticated
   copies already came from several networks or arrive fast (``hold``, to be
   rescanned once more is known; authenticated senders are accountable and never
   held).
2. Mailing from too many networks of its identity (``spam_min_networks``), or
   with complaints / spam-trap hits: ``bulk-spam``; failed SPF adds to the score.
3. Mailing from one or a few networks (``legit_max_networks``) with honest signs
   (authenticated sender, list headers): ``bulk-legit``.
4. A source in the suspicious zone: ``suspicious-source``.
5. Score 0.5 or more (the spread past ``legit_max_networks``, failed SPF): ``bulk-spam``.
6. An unauthenticated mailing without honest signs spreading over several
   networks, not yet far enough to be spam: ``hold`` until the deadline.
7. Anything else (e.g. notices from one network without list headers): ``bulk-legit``.

"Networks of its identity": copies that authenticate for the sending domain
(SPF pass or an aligned DKIM pass) are counted apart from the rest, so forged
copies of a genuine newsletter sent from hundreds of IPs make the forged copies
spam without touching the genuine ones (poisoning resistance).
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta
from typing import Any, Literal

from shingles.config import JudgeSettings

__all__ = ["MailingFacts", "Reason", "SourceFacts", "Judgement",
           "VERDICTS", "judge", "decayed"]

VerdictName = Literal["personal", "bulk-legit", "bulk-spam", "suspicious-source", "hold",
                      "allowlisted"]
VERDICTS: tuple[VerdictName, ...] = ("personal", "bulk-legit", "bulk-spam", "suspicious-source",
                                     "hold", "allowlisted")




@dataclasses.dataclass(frozen=True)
class MailingFacts:
    """What is known of the message's mailing, including the message itself.

    Attributes:
        size: Copies in the mailing.
        networks: Distinct /24 networks among copies of the message's identity
            (authenticated copies when it authenticates, the others when not).
        authenticated: Whether this message authenticates for its sending domain.
        honest_signs: Honest-bulk signs this message carries (list headers ...).
        spf_fail_share: Share of the mailing's copies with SPF fail or softfail.
        complaints: Complaints against the mailing.
        traps: Spam-trap hits of the mailing.
        first_seen: Time of the mailing's first copy.
        last_seen: Time of its latest copy.
    """

    size: int
    networks: int
    authenticated: bool
    honest_signs: tuple[str, ...] = ()
    spf_fail_share: float = 0.0
    complaints: int = 0
    traps: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None


@dataclasses.dataclass(frozen=True)
class SourceFacts:
    """The source IP's decayed history: all its messages, and those in spam mailings."""

    ip: str
    messages: float
    spam_messages: float


@dataclasses.dataclass(frozen=True)
class Reason:
    """One figure that counted: which rule, the figure, its threshold, what it means."""

    rule: str
    figure: float
    threshold: float
    says: str

    def to_json(self) -> dict[str, Any]:
        """Return the reason as JSON-ready data."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Judgement:
    """A verdict, its score in [0, 1] (1 = surely spam) and its reasons."""

    verdict: VerdictName
    score: float
    reasons: tuple[Reason, ...]
    hold_until: datetime | None = None


def decayed(value: float, age: timedelta, half_life_days: float) -> float:
    """Return value after age has passed with the given half-life."""
    days = max(age.total_seconds(), 0.0) / 86400
    return value * math.pow(0.5, days / half_life_days)


def _suspicious(source: SourceFacts | None, s: JudgeSettings) -> Reason | None:
    if source is None or source.messages < s.suspicious_min_messages:
        return None
    share = source.spam_messages / source.messages
    if share < s.suspicious_spam_share:
        return None
    return Reason("suspicious-zone", round(share, 4), s.suspicious_spam_share,
                  f"{share:.0%} of {source.messages:.0f} recent messages from {source.ip} "
                  "were in spam mailings")


def judge(mailing: MailingFacts | None, source: SourceFacts | None, now: datetime,
          settings: JudgeSettings = JudgeSettings(), *, allow_hold: bool = True) -> Judgement:
    """Return the verdict on one message; see the module docstring for the rules.

    allow_hold=False gives the final verdict of a held message whose deadline passed.
    """
    s = settings
    suspicious = _suspicious(source, s)
    if mailing is None or mailing.size < s.bulk_min_size:
        size = mailing.size if mailing else 1
        reasons = [Reason("mailing-size", size, s.bulk_min_size,
                          f"{size} cop{'y' if size == 1 else 'ies'}: not (yet) a mailing")]
        if suspicious:
            return Judgement("suspicious-source", 0.6, (suspicious, *reasons))
        if allow_hold and mailing is not None and mailing.size >= 2 \
                and not mailing.authenticated:
            hold = _hold_reason(mailing, s)
            if hold is not None:
                return Judgement("hold", 0.5, (hold, *reasons),
                                 hold_until=now + timedelta(minutes=s.hold_minutes))
        return Judgement("personal", 0.0, tuple(reasons))

    reasons = []
    spread = (mailing.networks - s.legit_max_networks) / (s.spam_min_networks
                                                          - s.legit_max_networks)
    score = min(max(spread, 0.0), 1.0) * 0.8
    who = "authenticated" if mailing.authenticated else "unauthenticated"
    reasons.append(Reason("networks", mailing.networks, s.spam_min_networks,
                          f"{who} copies came from {mailing.networks} /24 networks"))
    if mailing.spf_fail_share > 0:
        score += 0.2 * mailing.spf_fail_share
        reasons.append(Reason("spf-fail", round(mailing.spf_fail_share, 4), 0.0,
                              f"{mailing.spf_fail_share:.0%} of copies failed SPF"))
    complaint_share = mailing.complaints / mailing.size
    if mailing.traps or complaint_share >= s.complaint_share:
        score = max(score, 0.9)
        reasons.append(Reason("complaints", round(complaint_share, 4), s.complaint_share,
                              f"{mailing.complaints} complaints, {mailing.traps} spam-trap hits"))
    score = min(score, 1.0)
    if mailing.networks >= s.spam_min_networks or score >= 0.9:
        return Judgement("bulk-spam", max(score, 0.8), tuple(reasons))
    honest = (("authenticated",) if mailing.authenticated else ()) + mailing.honest_signs
    if mailing.networks <= s.legit_max_networks and honest:
        reasons.append(Reason("honest-signs", len(honest), 1,
                              "honest bulk signs: " + ", ".join(honest)))
        return Judgement("bulk-legit", round(score, 4), tuple(reasons))
    if suspicious:
        return Judgement("suspicious-source", max(score, 0.6), (suspicious, *reasons))
    if score >= 0.5:
        return Judgement("bulk-spam", round(score, 4), tuple(reasons))
    if allow_hold and not honest and mailing.networks >= s.hold_min_networks:
        reasons.append(Reason("spreading", mailing.networks, s.hold_min_networks,
                              "no honest bulk signs and spreading: held for more evidence"))
        return Judgement("hold", max(round(score, 4), 0.3), tuple(reasons),
                         hold_until=now + timedelta(minutes=s.hold_minutes))
    return Judgement("bulk-legit", round(score, 4), tuple(reasons))


def _hold_reason(mailing: MailingFacts, s: JudgeSettings) -> Reason | None:
    if mailing.networks >= s.hold_min_networks:
        return Reason("young-spread", mailing.networks, s.hold_min_networks,
                      f"a young mailing already from {mailing.networks} networks")
    if mailing.first_seen and mailing.last_seen:
        hours = max((mailing.last_seen - mailing.first_seen).total_seconds() / 3600, 1 / 60)
        rate = (mailing.size - 1) / hours
        if rate >= s.hold_rate_per_hour:
            return Reason("young-rate", round(rate, 1), s.hold_rate_per_hour,
                          f"a young mailing growing by {rate:.0f} copies an hour")
    return None
