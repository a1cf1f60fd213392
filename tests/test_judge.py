"""The verdict rules on plain facts, with a controlled clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shingles.verdicts.judge import MailingFacts, SourceFacts, decayed, judge
from shingles.config import JudgeSettings

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
SETTINGS = JudgeSettings()


def facts(**kwargs: object) -> MailingFacts:
    base: dict[str, object] = {"size": 50, "networks": 1, "authenticated": True,
                               "honest_signs": ("list-unsubscribe",)}
    base.update(kwargs)
    return MailingFacts(**base)  # type: ignore[arg-type]


def test_single_message_is_personal() -> None:
    verdict = judge(None, None, NOW)
    assert verdict.verdict == "personal" and verdict.score == 0.0
    assert verdict.reasons[0].rule == "mailing-size"


def test_newsletter_from_one_network_with_honest_signs_is_legit() -> None:
    verdict = judge(facts(), None, NOW)
    assert verdict.verdict == "bulk-legit"
    assert {r.rule for r in verdict.reasons} == {"networks", "honest-signs"}
    assert verdict.rule == "honest-signs"


def test_identical_mail_from_many_networks_is_spam_with_its_figures() -> None:
    verdict = judge(facts(networks=300, authenticated=False, honest_signs=()), None, NOW)
    assert verdict.verdict == "bulk-spam" and verdict.score >= 0.8
    networks = next(r for r in verdict.reasons if r.rule == "networks")
    assert (networks.figure, networks.threshold) == (300, SETTINGS.spam_min_networks)


def test_failed_spf_and_complaints_push_towards_spam() -> None:
    middle = facts(networks=10, authenticated=False, honest_signs=())
    assert judge(middle, None, NOW).verdict == "hold"  # spreading, not yet spam
    failing = facts(networks=10, authenticated=False, honest_signs=(), spf_fail_share=1.0)
    assert judge(failing, None, NOW).score > judge(middle, None, NOW).score
    assert judge(facts(networks=14, authenticated=False, honest_signs=()), None,
                 NOW).verdict == "bulk-spam"
    complained = judge(facts(complaints=5, size=100), None, NOW)
    assert complained.verdict == "bulk-spam"
    assert any(r.rule == "complaints" for r in complained.reasons)
    assert judge(facts(traps=1), None, NOW).verdict == "bulk-spam"


def test_young_mailing_from_several_networks_is_held_until_a_deadline() -> None:
    verdict = judge(facts(size=2, networks=2, authenticated=False), None, NOW)
    assert verdict.verdict == "hold"
    assert verdict.hold_until == NOW + timedelta(minutes=SETTINGS.hold_minutes)
    # Past the deadline (rescan) a held message gets a final verdict.
    final = judge(facts(size=2, networks=2, authenticated=False), None, NOW, allow_hold=False)
    assert final.verdict == "personal"


def test_authenticated_senders_are_not_held() -> None:
    assert judge(facts(size=2, networks=2), None, NOW).verdict == "personal"


def test_a_mailing_without_evidence_is_neutral_bulk_never_legit() -> None:
    notices = judge(facts(networks=1, authenticated=False, honest_signs=()), None, NOW)
    assert notices.verdict == "bulk" and notices.score == 0.0
    assert notices.rule == notices.reasons[0].rule == "no-evidence"
    # A held mailing whose deadline passed without evidence is not called legitimate either.
    spreading = facts(networks=6, authenticated=False, honest_signs=())
    assert judge(spreading, None, NOW).verdict == "hold"
    assert judge(spreading, None, NOW, allow_hold=False).verdict == "bulk"


@pytest.mark.parametrize("kwargs", [
    {}, {"networks": 300, "authenticated": False, "honest_signs": ()},
    {"networks": 15, "authenticated": False, "honest_signs": (), "spf_fail_share": 1.0},
    {"networks": 6, "authenticated": False, "honest_signs": ()},
    {"networks": 1, "authenticated": False, "honest_signs": ()},
    {"size": 2}, {"traps": 1}, {"complaints": 5}, {"corrections": 1},
])
def test_the_first_reason_is_the_deciding_rule_with_figure_and_threshold(kwargs: dict) -> None:
    verdict = judge(facts(**kwargs), None, NOW)
    decided = verdict.reasons[0]
    assert verdict.rule == decided.rule
    if verdict.verdict == "bulk-spam" and decided.rule == "score":
        assert decided.figure >= decided.threshold == 0.5 and decided.figure == verdict.score
    if verdict.verdict == "bulk-legit":
        assert decided.rule in ("honest-signs", "corrections")


def test_feedback_decides_traps_over_corrections_over_complaints() -> None:
    assert judge(facts(complaints=1), None, NOW).rule == "complaints"
    assert judge(facts(complaints=1), None, NOW).verdict == "bulk-spam"
    assert judge(facts(size=2, complaints=1), None, NOW).verdict == "bulk-spam"
    assert judge(facts(complaints=1, corrections=1), None, NOW).verdict == "bulk-legit"
    assert judge(facts(traps=1, corrections=9), None, NOW).verdict == "bulk-spam"
    few = judge(facts(size=1000, complaints=1), None, NOW)  # 0.1% < complaint_share
    assert few.verdict == "bulk-legit" and few.rule == "honest-signs"


def test_young_mailing_growing_fast_is_held_but_a_slow_pair_is_personal() -> None:
    fast = facts(size=2, first_seen=NOW - timedelta(seconds=30), last_seen=NOW,
                 authenticated=False)
    slow = facts(size=2, first_seen=NOW - timedelta(days=2), last_seen=NOW,
                 authenticated=False)
    assert judge(fast, None, NOW).verdict == "hold"
    assert judge(slow, None, NOW).verdict == "personal"


def test_suspicious_zone() -> None:
    bad = SourceFacts("198.51.100.9", messages=40, spam_messages=30)
    fresh = SourceFacts("198.51.100.9", messages=3, spam_messages=3)
    assert judge(None, bad, NOW).verdict == "suspicious-source"
    assert judge(None, fresh, NOW).verdict == "personal"  # too little history to judge
    middle = facts(networks=10, authenticated=False, honest_signs=())
    assert judge(middle, bad, NOW).verdict == "suspicious-source"
    assert judge(facts(), bad, NOW).verdict == "bulk-legit"  # honest mailings stay legit


def test_counters_decay_by_half_life() -> None:
    assert decayed(100, timedelta(days=7), 7) == pytest.approx(50)
    assert decayed(100, timedelta(0), 7) == 100


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        JudgeSettings(legit_max_networks=30, spam_min_networks=20)
