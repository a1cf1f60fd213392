"""Allowlists from the social graph: threads, forged senders, second degree, trusted domains,
compromised accounts, decay and expiry with a controlled clock."""

from __future__ import annotations

import json
import pathlib
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from shingles.cli import main
from shingles.config import Config, SendersConfig
from shingles.verdicts.engine import Engine, Verdict
from shingles.mail.records import Mail
from shingles.mail.read import read
from shingles.mail.parse import parse
from shingles.config import SocialSettings
from shingles.store.reader import Store

SOCIAL = SocialSettings(local_domains=("ours.example",), new_recipients_per_day=50,
                        trusted_min_authors=3, trusted_min_messages=6)
CONFIG = Config(senders=SendersConfig(authserv_ids=("mx.ours.example",)), social=SOCIAL)
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
TEXT = ("Thanks for the draft, I went through the numbers again and the budget part looks "
        "right to me now, apart from the travel line which we should check with finance "
        "before Thursday. Talk soon.")


def mail(n: int, sender: str, to: list[str], when: datetime, *, ip: str | None,
         spf: bool = False, text: str = TEXT, via: str | None = None) -> Mail:
    """A message; ip=None means written inside (our submission host on a private address)."""
    hops = []
    if ip is None:
        hops.append(f"Received: from webmail.ours.example ([10.0.0.5]) by mx.ours.example; "
                    f"{format_datetime(when)}")
    elif via is None:
        hops.append(f"Received: from relay.sender.example ([{ip}]) by mx.ours.example; "
                    f"{format_datetime(when)}")
    else:  # ip handed it to via, a relay of a trusted domain, which handed it to us
        hops.append(f"Received: from relay.partner.example ([{via}]) by mx.ours.example; "
                    f"{format_datetime(when)}")
        hops.append(f"Received: from origin.example ([{ip}]) by relay.partner.example; "
                    f"{format_datetime(when)}")
    headers = hops + [f"From: {sender}", f"To: {', '.join(to)}", f"Date: {format_datetime(when)}",
                      f"Message-ID: <m{n}@test>", f"Return-Path: <{sender}>"]
    if spf:
        headers.insert(0, f"Authentication-Results: mx.ours.example; spf=pass "
                          f"smtp.mailfrom={sender}")
    return parse(("\n".join(headers) + "\n\n" + text + "\n").encode(), f"t:{n}", CONFIG)


def scan(engine: Engine, *mails: Mail) -> list[Verdict]:
    return [v for v in engine.scan(mails) if isinstance(v, Verdict)]


@pytest.fixture
def engine(tmp_path: pathlib.Path) -> Engine:
    return Engine(Store(tmp_path / "store"), CONFIG)


def test_reply_from_a_verified_correspondent_is_allowlisted(engine: Engine) -> None:
    out = mail(1, "alice@ours.example", ["bob@partner.example"], T0, ip=None)
    assert engine.social.is_outgoing(out)
    reply = mail(2, "bob@partner.example", ["alice@ours.example"], T0 + timedelta(hours=2),
                 ip="198.51.100.20", spf=True)
    first, second = scan(engine, out, reply)
    assert second.verdict == "allowlisted" and second.score == 0.0
    reason = second.reasons[0]
    assert reason.rule == "allowlist-direct" and "alice@ours.example wrote to" in reason.says


def test_forged_correspondent_from_an_unverified_source_is_not_allowlisted(
        engine: Engine) -> None:
    scan(engine, mail(1, "alice@ours.example", ["bob@partner.example"], T0, ip=None))
    [forged] = scan(engine, mail(2, "bob@partner.example", ["alice@ours.example"],
                                 T0 + timedelta(hours=1), ip="203.0.113.66"))
    assert forged.verdict != "allowlisted"
    assert any(r.rule == "allowlist-unverified" and "not verified" in r.says
               for r in forged.reasons)


def test_known_networks_of_a_domain_verify_without_spf(engine: Engine) -> None:
    scan(engine, mail(1, "alice@ours.example", ["bob@partner.example"], T0, ip=None),
         mail(2, "carol@partner.example", ["zed@ours.example"], T0, ip="198.51.100.20",
              spf=True))  # teaches partner.example's network 198.51.100.0/24
    [reply] = scan(engine, mail(3, "bob@partner.example", ["alice@ours.example"],
                                T0 + timedelta(hours=1), ip="198.51.100.77"))
    assert reply.verdict == "allowlisted"
    assert "known networks" in reply.reasons[0].says


def test_correspondent_of_a_correspondent_lowers_the_score(engine: Engine) -> None:
    scan(engine, mail(1, "alice@ours.example", ["carol@ours.example"], T0, ip=None),
         mail(2, "carol@ours.example", ["dave@far.example"], T0, ip=None))
    [verdict] = scan(engine, mail(3, "dave@far.example", ["alice@ours.example"],
                                  T0 + timedelta(hours=1), ip="192.0.2.44", spf=True))
    assert verdict.verdict != "allowlisted"
    # A note beside the deciding rule (which stays first): the score is lowered.
    [second] = [r for r in verdict.reasons if r.rule == "allowlist-second-degree"]
    assert "carol@ours.example" in second.says and verdict.rule == verdict.reasons[0].rule


def test_compromised_account_is_capped_flagged_and_cannot_make_a_domain_trusted(
        engine: Engine) -> None:
    blast = [mail(i, "mallory@ours.example", [f"victim{i}@spam-target.example"],
                  T0 + timedelta(minutes=i), ip=None) for i in range(120)]
    verdicts = scan(engine, *blast)
    capped = [v for v in verdicts if any(r.rule == "new-recipients-cap" for r in v.reasons)]
    assert capped and capped[0].message_id == "<m50@test>"  # the 51st new address
    assert engine.store.record("flagged", b"mallory@ours.example") is not None
    assert len(engine.social.allowlist(engine.store, "mallory@ours.example", T0)) == 50
    domains = {d.domain: d for d in engine.social.trusted_domains(engine.store)}
    assert not domains["spam-target.example"].trusted
    assert domains["spam-target.example"].authors == 1


def test_trusted_domain_joins_the_trusted_zone(engine: Engine) -> None:
    # Three local users write to partner.example six times; partner's relays are verified.
    writes = [mail(i, f"user{i % 3}@ours.example", [f"p{i}@partner.example"],
                   T0 + timedelta(minutes=i), ip=None) for i in range(6)]
    learn = mail(99, "news@partner.example", ["user0@ours.example"], T0, ip="198.51.100.9",
                 spf=True)
    scan(engine, *writes, learn)
    [trusted] = [d for d in engine.social.trusted_domains(engine.store) if d.trusted]
    assert trusted.domain == "partner.example" and trusted.networks == ("198.51.100.0/24",)
    # Mail relayed by partner.example's network: the source is the hop before it.
    [relayed] = scan(engine, mail(100, "x@elsewhere.example", ["user1@ours.example"],
                                  T0 + timedelta(hours=2), ip="203.0.113.8",
                                  via="198.51.100.9"))
    assert relayed.source_ip == "203.0.113.8"
    assert "trusted-domain-hop" in [r.rule for r in relayed.reasons[1:]]


def test_decay_expiry_and_pins_with_a_controlled_clock(engine: Engine) -> None:
    scan(engine, mail(1, "alice@ours.example", ["bob@partner.example", "old@partner.example"],
                      T0, ip=None))
    graph = engine.social
    fresh = {e.correspondent: e for e in graph.allowlist(engine.store, "alice@ours.example", T0)}
    later = {e.correspondent: e for e in graph.allowlist(
        engine.store, "alice@ours.example", T0 + timedelta(days=SOCIAL.half_life_days))}
    assert fresh["bob@partner.example"].weight == pytest.approx(1.0)
    assert later["bob@partner.example"].weight == pytest.approx(0.5)
    with engine.store.session() as session:
        graph.pin(session, "alice@ours.example", "old@partner.example", T0)
    gone = T0 + timedelta(days=SOCIAL.expire_days + 1)
    assert [e.correspondent for e in graph.allowlist(engine.store, "alice@ours.example", gone)
            ] == ["old@partner.example"]  # bob expired; the pinned one stays
    with engine.store.session() as session:
        assert graph.expire(session, engine.store, gone) == 1
    [late] = scan(engine, mail(2, "bob@partner.example", ["alice@ours.example"], gone,
                               ip="198.51.100.20", spf=True))
    assert late.verdict != "allowlisted"


def test_cli_lists_allowlists_and_trusted_domains(tmp_path: pathlib.Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "shingles.toml"
    config.write_text('[senders]\nauthserv_ids = ["mx.ours.example"]\n'
                      '[social]\nlocal_domains = ["ours.example"]\n'
                      'trusted_min_authors = 2\ntrusted_min_messages = 2\n')
    box = tmp_path / "box.mbox"
    raw = []  # two local users write to bob, as an mbox the CLI reads
    for n, sender in ((1, "alice@ours.example"), (2, "zoe@ours.example")):
        raw.append(f"From {sender} Mon Jan  5 09:00:00 2026\n"
                   f"Received: from webmail ([10.0.0.5]) by mx.ours.example; "
                   f"{format_datetime(T0)}\nFrom: {sender}\nTo: bob@partner.example\n"
                   f"Message-ID: <c{n}@test>\nDate: {format_datetime(T0)}\n\n{TEXT}\n\n")
    box.write_text("".join(raw))
    store = str(tmp_path / "store")
    assert main(["scan", "--store", store, "--config", str(config), str(box)]) == 0
    capsys.readouterr()
    assert main(["allowlist", "--store", store, "--config", str(config), "--json",
                 "--now", T0.isoformat(), "alice@ours.example"]) == 0
    [entry] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert entry["correspondent"] == "bob@partner.example" and entry["messages"] == 1
    assert main(["allowlist", "--store", store, "--config", str(config), "--json",
                 "--remove", "bob@partner.example", "alice@ours.example"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["trusted-domains", "--store", store, "--config", str(config), "--json"]) == 0
    [domain] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert domain["domain"] == "partner.example" and domain["trusted"]
    assert "2 local authors" in domain["why"]


def test_threads_from_the_corpus(corpus: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """Real replies: the original's author becomes a local user, the reply comes back."""
    ham = [m for m in read(corpus / "ham.mbox.gz") if isinstance(m, Mail)]
    by_id = {m.message_id: m for m in ham if m.message_id}
    threads = [(by_id[m.in_reply_to], m) for m in ham
               if m.in_reply_to in by_id and m.from_addr and by_id[m.in_reply_to].from_addr
               and m.from_addr != by_id[m.in_reply_to].from_addr][:25]
    assert len(threads) == 25
    engine = Engine(Store(tmp_path / "store"), CONFIG)
    stream: list[Mail] = []
    for n, (original, reply) in enumerate(threads):
        when = T0 + timedelta(hours=n)
        local = f"user{n}@ours.example"
        outside = (reply.from_addr or "").lower()
        stream.append(mail(2 * n, local, [outside], when, ip=None, text=original.text or TEXT))
        stream.append(mail(2 * n + 1, outside, [local], when + timedelta(minutes=30),
                           ip=f"198.51.{n}.7", spf=True, text=reply.text or TEXT))
    verdicts = {v.message_id: v for v in scan(engine, *stream)}
    replies = [verdicts[f"<m{2 * n + 1}@test>"] for n in range(len(threads))]
    assert all(v.verdict == "allowlisted" for v in replies)


@pytest.mark.parametrize("header", [
    "Auto-Submitted: auto-replied", "Auto-Submitted: auto-generated; owner-email=x@ours.example",
    "X-Autoreply: yes", "X-Autorespond: on", "Precedence: auto_reply", "Precedence: bulk",
    "Precedence: junk", "Precedence: list", "Return-Path: <>",
    "Content-Type: multipart/report; report-type=delivery-status; boundary=x",
])
def test_automatic_mail_builds_no_edges(engine: Engine, header: str) -> None:
    # An out-of-office reply from a user to a spammer must not allowlist the spammer.
    auto = mail(1, "alice@ours.example", ["spammer@bad.example"], T0, ip=None)
    raw = f"{header}\n".encode() + b"".join(
        line + b"\n" for line in _raw_lines(auto) if not (
            header.startswith("Return-Path") and line.startswith(b"Return-Path")))
    auto = parse(raw, "t:1", CONFIG)
    assert auto.automatic
    [verdict] = scan(engine, auto)
    assert any(r.rule == "automatic-mail" for r in verdict.reasons)
    assert engine.social.allowlist(engine.store, "alice@ours.example", T0) == []
    spam = [mail(i, "spammer@bad.example", ["alice@ours.example"], T0 + timedelta(hours=i),
                 ip=f"198.51.{i}.7", spf=True) for i in range(2, 6)]
    assert all(v.verdict != "allowlisted" for v in scan(engine, *spam))


def test_bounces_from_mailer_daemon_build_no_edges(engine: Engine) -> None:
    bounce = mail(1, "MAILER-DAEMON@ours.example", ["spammer@bad.example"], T0, ip=None)
    assert bounce.automatic == "from MAILER-DAEMON"
    scan(engine, bounce)
    assert engine.social.allowlist(engine.store, "mailer-daemon@ours.example", T0) == []


def test_auto_submitted_no_is_a_person_writing(engine: Engine) -> None:
    out = mail(1, "alice@ours.example", ["bob@partner.example"], T0, ip=None)
    raw = b"Auto-Submitted: no\n" + b"".join(line + b"\n" for line in _raw_lines(out))
    assert parse(raw, "t:1", CONFIG).automatic is None


def _raw_lines(m: Mail) -> list[bytes]:
    """The header lines and body of a message made by mail(), rebuilt (it keeps no raw)."""
    lines = [f"Received: from webmail.ours.example ([10.0.0.5]) by mx.ours.example; "
             f"{format_datetime(T0)}", f"From: {m.from_addr}", f"To: {', '.join(m.recipients)}",
             f"Date: {format_datetime(T0)}", f"Message-ID: {m.message_id}",
             f"Return-Path: <{m.from_addr}>", "", m.text]
    return [line.encode() for line in lines]


def test_a_flagged_account_adds_no_edges_and_vouches_for_nobody_until_cleared(
        engine: Engine, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Before the blast mallory wrote to bob, and carol wrote to mallory.
    scan(engine, mail(1, "mallory@ours.example", ["bob@partner.example"], T0, ip=None),
         mail(2, "carol@ours.example", ["mallory@ours.example"], T0, ip=None))
    blast = [mail(10 + i, "mallory@ours.example", [f"victim{i}@spam-target.example"],
                  T0 + timedelta(minutes=i), ip=None) for i in range(60)]
    scan(engine, *blast)
    assert engine.social.flag(engine.store, "mallory@ours.example") is not None
    # Next day: no new edges, and bob's reply (direct) and his mail to carol (second
    # degree, through mallory) are no longer allowlisted.
    later = T0 + timedelta(days=1)
    [out] = scan(engine, mail(100, "mallory@ours.example", ["new@elsewhere.example"], later,
                              ip=None))
    assert any(r.rule == "flagged-account" for r in out.reasons)
    names = [e.correspondent for e in engine.social.allowlist(engine.store,
                                                              "mallory@ours.example", later)]
    assert "new@elsewhere.example" not in names
    reply, second = scan(
        engine, mail(101, "bob@partner.example", ["mallory@ours.example"], later, ip="198.51.100.20",
                     spf=True),
        mail(102, "bob@partner.example", ["carol@ours.example"], later, ip="198.51.100.20",
             spf=True, text=TEXT + " Second."))
    assert reply.verdict != "allowlisted"
    assert not any(r.rule.startswith("allowlist") for r in second.reasons)
    store_dir = str(engine.store.path)
    engine.store.close()
    # `allowlist` shows the flag; --clear-flag lifts it.
    assert main(["allowlist", "--store", store_dir, "mallory@ours.example"]) == 0
    assert "FLAGGED" in capsys.readouterr().out
    assert main(["allowlist", "--store", store_dir, "--clear-flag", "mallory@ours.example"]) == 0
    assert "FLAGGED" not in capsys.readouterr().out
    cleared = Engine(Store(store_dir), CONFIG)
    [reply] = scan(cleared, mail(103, "bob@partner.example", ["mallory@ours.example"],
                                 later + timedelta(hours=1), ip="198.51.100.20", spf=True,
                                 text=TEXT + " Third."))
    assert reply.verdict == "allowlisted"


def test_addresses_too_long_for_keys_are_left_out(engine: Engine) -> None:
    long_local = "x" * 600 + "@ours.example"
    out = mail(1, long_local, ["bob@partner.example", "y" * 600 + "@partner.example"], T0,
               ip=None)
    ok = mail(2, "alice@ours.example", ["z" * 600 + "@partner.example", "bob@partner.example"],
              T0, ip=None)
    verdicts = scan(engine, out, ok)
    assert len(verdicts) == 2
    assert [e.correspondent for e in engine.social.allowlist(engine.store, "alice@ours.example",
                                                             T0)] == ["bob@partner.example"]
    assert engine.social.allowlist(engine.store, long_local, T0) == []
