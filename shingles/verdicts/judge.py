"""Verdicts: the mass-mailing heuristics of SEED-NOTES section 3, as explainable rules.

Pure policy: it takes facts gathered by the engine (the message's mailing as
seen from the message's own sender identity, the source IP's history) and
returns a verdict with the figures that decided it. No I/O here, so every rule
is tested with plain values and a controlled clock.

The rules, in the order they are tried; the first reason of every verdict is the
rule that decided it, with its figure and threshold (``Judgement.rule`` names it):
0. Feedback (``shingles report``, trap addresses): a copy that reached a spam trap
   (``traps``), or complaints on at least ``complaint_share`` of the copies
   (``complaints``), make ``bulk-spam``; users' corrections at least as many as
   the complaints make ``bulk-legit`` (``corrections``). Trap hits always win.
1. Young mailing (fewer than ``bulk_min_size`` copies): ``personal``, unless the
   source IP is in the suspicious zone (``suspicious-source``), or unauthenticated
   copies already came from several networks or arrive fast (``hold``, to be
   rescanned once more is known; authenticated senders are accountable and never
   held).
2. Mailing from ``spam_min_networks`` or more networks of its identity: ``bulk-spam``.
3. Mailing from at most ``legit_max_networks`` networks with honest signs
   (authenticated sender, list headers): ``bulk-legit``. Nothing else gives it.
4. A source in the suspicious zone: ``suspicious-source``.
5. Score ``SPAM_SCORE`` (0.5) or more: ``bulk-spam``. The score is 0.8 x the spread
   past ``legit_max_networks`` towards ``spam_min_networks``, plus 0.2 x the share
   of copies that failed SPF.
6. An unauthenticated mailing without honest signs from ``hold_min_networks`` or
   more networks, not yet far enough to be spam: ``hold`` until the deadline.
7. Anything else (e.g. notices from one network without list headers, or a held
   mailing whose deadline passed without more evidence): ``bulk``, the neutral
   verdict: a mailing, and nothing says whether it is wanted (rule ``no-evidence``).

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
           "SPAM_SCORE", "VERDICTS", "judge", "decayed"]

VerdictName = Literal["personal", "bulk", "bulk-legit", "bulk-spam", "suspicious-source",
                      "hold", "allowlisted"]
VERDICTS: tuple[VerdictName, ...] = ("personal", "bulk", "bulk-legit", "bulk-spam",
                                     "suspicious-source", "hold", "allowlisted")




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
        complaints: Complaints against the mailing (``shingles report --spam/--arf``).
        traps: Spam-trap hits of the mailing (copies to ``trap_addresses``).
        corrections: Users' reports that the mailing is wanted (``--ham``).
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
    corrections: int = 0
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
        return {"rule": self.rule, "figure": self.figure, "threshold": self.threshold,
                "says": self.says}


@dataclasses.dataclass(frozen=True)
class Judgement:
    """A verdict, its score in [0, 1] (1 = surely spam), its reasons and the deciding rule."""

    verdict: VerdictName
    score: float
    reasons: tuple[Reason, ...]
    hold_until: datetime | None = None
    rule: str = ""


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
    The deciding rule is always among the reasons, and ``Judgement.rule`` names it.
    """
    s = settings
    suspicious = _suspicious(source, s)
    feedback = _feedback(mailing, s) if mailing is not None else None
    if feedback is not None:
        return feedback
    if mailing is None or mailing.size < s.bulk_min_size:
        size = mailing.size if mailing else 1
        reasons = [Reason("mailing-size", size, s.bulk_min_size,
                          f"{size} cop{'y' if size == 1 else 'ies'}, fewer than "
                          f"{s.bulk_min_size}: not (yet) a mailing")]
        if suspicious:
            return _decided("suspicious-source", 0.6, (suspicious, *reasons))
        if allow_hold and mailing is not None and mailing.size >= 2 \
                and not mailing.authenticated:
            hold = _hold_reason(mailing, s)
            if hold is not None:
                return _decided("hold", 0.5, (hold, *reasons),
                                hold_until=now + timedelta(minutes=s.hold_minutes))
        return _decided("personal", 0.0, tuple(reasons))

    reasons = []
    spread = (mailing.networks - s.legit_max_networks) / (s.spam_min_networks
                                                          - s.legit_max_networks)
    score = min(max(spread, 0.0), 1.0) * 0.8
    who = "authenticated" if mailing.authenticated else "unauthenticated"
    networks = Reason("networks", mailing.networks, s.spam_min_networks,
                      f"{who} copies came from {mailing.networks} /24 networks; "
                      f"{s.spam_min_networks} or more make a mailing spam")
    reasons.append(networks)
    if mailing.spf_fail_share > 0:
        score += 0.2 * mailing.spf_fail_share
        reasons.append(Reason("spf-fail", round(mailing.spf_fail_share, 4), 0.0,
                              f"{mailing.spf_fail_share:.0%} of copies failed SPF"))
    score = round(min(score, 1.0), 4)
    if mailing.networks >= s.spam_min_networks:
        return _decided("bulk-spam", max(score, 0.8), (networks, *reasons[1:]))
    honest = _honest(mailing)
    if mailing.networks <= s.legit_max_networks and honest:
        reasons.append(Reason("honest-signs", len(honest), 1,
                              "honest bulk signs: " + ", ".join(honest) + f", and from at "
                              f"most {s.legit_max_networks} networks"))
        return _decided("bulk-legit", score, (reasons[-1], *reasons[:-1]))
    if suspicious:
        return _decided("suspicious-source", max(score, 0.6), (suspicious, *reasons))
    if score >= SPAM_SCORE:
        rule = Reason("score", score, SPAM_SCORE,
                      f"score {score:.2f} = 0.8 x the spread of {mailing.networks} networks "
                      f"past {s.legit_max_networks} towards {s.spam_min_networks} + 0.2 x "
                      f"{mailing.spf_fail_share:.0%} failed SPF; {SPAM_SCORE} or more is spam")
        return _decided("bulk-spam", score, (rule, *reasons))
    if allow_hold and not honest and mailing.networks >= s.hold_min_networks:
        rule = Reason("spreading", mailing.networks, s.hold_min_networks,
                      f"no honest bulk signs and from {mailing.networks} networks (at least "
                      f"{s.hold_min_networks}): held for more evidence")
        return _decided("hold", max(score, 0.3), (rule, *reasons),
                        hold_until=now + timedelta(minutes=s.hold_minutes))
    rule = Reason("no-evidence", score, SPAM_SCORE,
                  "a mailing; nothing says whether it is wanted (no honest bulk signs or "
                  f"authentication within {s.legit_max_networks} networks, score "
                  f"{score:.2f} below {SPAM_SCORE})")
    return _decided("bulk", score, (rule, *reasons))


#: Score from which a mailing without honest signs is spam (judge rule 5).
SPAM_SCORE = 0.5


def _decided(verdict: VerdictName, score: float, reasons: tuple[Reason, ...],
             hold_until: datetime | None = None) -> Judgement:
    """Return a Judgement whose first reason is the rule that decided it."""
    return Judgement(verdict, round(score, 4), reasons, hold_until, rule=reasons[0].rule)


def _honest(mailing: MailingFacts) -> tuple[str, ...]:
    return (("authenticated",) if mailing.authenticated else ()) + mailing.honest_signs


def _feedback(mailing: MailingFacts, s: JudgeSettings) -> Judgement | None:
    """Return the verdict feedback decides: trap hits and complaints make spam, unless
    users' corrections outnumber the complaints (never the trap hits)."""
    if mailing.traps:
        return _decided("bulk-spam", 1.0, (Reason(
            "traps", mailing.traps, 1,
            f"{mailing.traps} cop{'y' if mailing.traps == 1 else 'ies'} reached a spam trap"),))
    if mailing.corrections and mailing.corrections >= mailing.complaints:
        return _decided("bulk-legit", 0.0, (Reason(
            "corrections", mailing.corrections, max(mailing.complaints, 1),
            f"{mailing.corrections} user report(s) say this mailing is wanted, against "
            f"{mailing.complaints} complaint(s)"),))
    share = mailing.complaints / max(mailing.size, 1)
    if mailing.complaints and share >= s.complaint_share:
        return _decided("bulk-spam", 0.9, (Reason(
            "complaints", round(share, 4), s.complaint_share,
            f"{mailing.complaints} complaint(s) on {mailing.size} copies "
            f"({share:.1%}, at least {s.complaint_share:.1%} makes spam)"),))
    return None


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
