"""Forwarders learned from the stream: rules, model, operator feedback, the Received walk."""

from __future__ import annotations

import ipaddress
import json
import pathlib
from typing import Any

import pytest

from shingles.cli import main
from shingles.config import Config, ForwarderSettings, SendersConfig
from shingles.mail.parse import parse
from shingles.mail.records import Mail
from shingles.store.reader import Store
from shingles.verdicts.engine import Engine, Verdict
from shingles.verdicts.forwarders import Forwarders, Host, rule_label

MX = "mx.test.example"
CONFIG = Config(senders=SendersConfig(authserv_ids=(MX,)),
                forwarders=ForwarderSettings(learn=True))
FORWARDER = "45.10.20.30"  # a university's alias server: re-sends its users' mail
PROVIDER = "81.7.7.7"  # a provider's outbound MTA: its own users' mail
RELAY = "62.4.4.4"  # a smart host relaying for a few customers: no DKIM, SPF passes


def message(n: int, ip: str, domain: str, *, config: Config = CONFIG, **how: Any) -> Mail:
    """Return a parsed message handed to our MX by ip (see raw)."""
    return parse(raw(n, ip, domain, **how), f"test:{n}", config)


def raw(n: int, ip: str, domain: str, *, below: str | None = None, spf: str = "pass",
        dkim: bool = False, arc: bool = False) -> bytes:
    """Return a message handed to our MX by ip, from below when it relays."""
    date = f"Mon, 2 Mar 2026 10:{n % 60:02d}:00 +0000"
    # Our MX's results sit above its Received header, where MTAs put them (and only
    # there are they believed).
    auth = f"Authentication-Results: {MX};\n\tspf={spf} smtp.mailfrom={domain}"
    head = [auth + (f";\n\tdkim=pass header.d={domain}" if dkim else ""),
            f"Received: from h{ip} (h{ip} [{ip}])\n\tby {MX} with ESMTP; {date}"]
    if below:
        head.append(f"Received: from origin ([{below}])\n\tby h{ip} with ESMTP; {date}")
    if arc:
        head.append(f"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=h{ip}; s=arc; b=abc")
    head += [f"Return-Path: <x{n}@{domain}>", f"From: x{n}@{domain}", "To: u@example.org",
             f"Subject: note {n}", f"Date: {date}", f"Message-ID: <m{n}.{ip}@{domain}>"]
    return ("\n".join(head) + f"\n\nnote number {n} about things\n").encode()


def stream() -> list[Mail]:
    """Return mail from a forwarder (many domains, outside hops below, DKIM, SPF fails),
    a provider (its own domain) and a relay (hops below, no DKIM, SPF passes)."""
    out = []
    for n in range(30):
        out.append(message(n, FORWARDER, f"sender{n % 12}.example", below=f"24.{n}.1.1",
                           spf="fail", dkim=n % 3 != 0, arc=n % 2 == 0))
        out.append(message(100 + n, PROVIDER, "provider.example"))
        if n < 12:
            out.append(message(200 + n, RELAY, f"shop{n % 6}.example", below=f"41.{n}.2.2"))
    return out


def _hosts(store: Store, settings: ForwarderSettings = CONFIG.forwarders) -> dict[str, Host]:
    return {h.ip: h for h in Forwarders(settings).hosts(store)}


def _scan(store: Store, mails: list[Mail], config: Config = CONFIG) -> list[Verdict]:
    return [v for v in Engine(store, config).scan(mails) if isinstance(v, Verdict)]


def test_rules_label_a_forwarder_and_a_host_sending_its_own_mail(tmp_path: pathlib.Path) -> None:
    with Store(tmp_path / "s") as store:
        _scan(store, stream())
        hosts = _hosts(store)
    forwarder, provider, relay = hosts[FORWARDER], hosts[PROVIDER], hosts[RELAY]
    assert (forwarder.messages, forwarder.deeper, forwarder.domains) == (30, 30, 12)
    assert forwarder.signed == 25 and forwarder.spf_fail == 30  # DKIM or ARC on 25 of 30
    assert forwarder.rule is True and forwarder.forwarder
    assert provider.rule is False and not provider.forwarder and provider.domains == 1
    assert relay.rule is None and not relay.forwarder  # relays, but no sign of forwarding
    assert "24.0.1.1" not in hosts  # origin hosts behind a forwarder are not senders here


def test_learned_forwarders_are_looked_past_and_reasons_say_so(tmp_path: pathlib.Path) -> None:
    later = message(999, FORWARDER, "sender1.example", below="24.99.1.1", spf="fail", dkim=True)
    with Store(tmp_path / "s") as store:
        first = _scan(store, [*stream(), later])
        assert first[-1].source_ip == FORWARDER  # nothing learned when the scan began
        [verdict] = _scan(store, [message(998, FORWARDER, "sender2.example", below="24.98.1.1",
                                          spf="fail", dkim=True)])
    assert verdict.source_ip == "24.98.1.1"
    says = [r.says for r in verdict.reasons if r.rule == "forwarder-skipped"]
    assert says and "learned forwarder 45.10.20.30" in says[0]


def test_configured_forwarders_are_named_in_the_reasons_too(tmp_path: pathlib.Path) -> None:
    config = Config(senders=SendersConfig(authserv_ids=(MX,), forwarders=(
        ipaddress.ip_network(f"{FORWARDER}/32"),)))
    mail = message(1, FORWARDER, "a.example", config=config, below="24.1.1.1")
    assert mail.source_ip == "24.1.1.1"  # the parser's walk looked past it already
    with Store(tmp_path / "s") as store:
        [verdict] = _scan(store, [mail], config)
    assert verdict.source_ip == "24.1.1.1"
    assert any(r.rule == "forwarder-skipped" and "configured forwarder 45.10.20.30" in r.says
               for r in verdict.reasons)


def test_operator_feedback_changes_the_next_classification(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("sklearn")
    model = Forwarders(CONFIG.forwarders)
    with Store(tmp_path / "s") as store:
        _scan(store, stream())
        before = _hosts(store)
        with store.session() as session:
            model.label(session, FORWARDER, "reject")
            model.label(session, RELAY, "confirm")
        after = _hosts(store)
    assert before[FORWARDER].forwarder and not after[FORWARDER].forwarder
    assert after[FORWARDER].why == "rejected"
    assert not before[RELAY].forwarder and after[RELAY].forwarder
    # The labels train the next model too: the rejected host looks less like a forwarder.
    assert after[FORWARDER].probability < before[FORWARDER].probability  # type: ignore[operator]


def test_confirming_one_relay_teaches_the_model_about_similar_ones() -> None:
    pytest.importorskip("sklearn")
    hosts = [Host(f"24.0.0.{i}", 50, 50, 30, 40, 45) for i in range(5)]  # forwarders
    hosts += [Host(f"41.0.0.{i}", 50, 0, 1, 0, 0) for i in range(5)]  # their own mail
    # Relays of an alias service: outside hops below, several domains, but no DKIM
    # and SPF passing (the domains list it): the rules cannot tell.
    hosts += [Host(f"62.0.0.{i}", 40, 38, 8, 2, 1) for i in range(4)]
    model = Forwarders(ForwarderSettings())
    before = {h.ip: h for h in model.classify(hosts)}
    after = {h.ip: h for h in model.classify(hosts, {"62.0.0.0": "confirm"})}
    assert before["24.0.0.1"].forwarder and not before["41.0.0.1"].forwarder
    assert all(before[f"62.0.0.{i}"].rule is None and not before[f"62.0.0.{i}"].forwarder
               for i in range(4))
    # The one label is the operator's; the other three relays change by the model alone.
    assert after["62.0.0.0"].why == "confirmed"
    assert all(after[f"62.0.0.{i}"].forwarder and after[f"62.0.0.{i}"].why == "model"
               for i in range(1, 4))
    assert after["41.0.0.1"].forwarder is False


def test_disagreement_is_between_rules_and_model_unless_the_operator_spoke() -> None:
    host = Host("24.0.0.1", 50, 50, 30, 40, 45, rule=True, probability=0.3)
    assert host.disagreement
    assert not Host("24.0.0.1", 50, 50, 30, 40, 45, rule=True, probability=0.7).disagreement
    assert not Host("24.0.0.1", 50, 50, 30, 40, 45, rule=True, probability=0.3,
                    operator="reject").disagreement
    assert rule_label(Host("24.0.0.1", 4, 4, 4, 4, 4), ForwarderSettings()) is None  # too new


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_forwarders_command(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s"
    with Store(store) as opened:
        _scan(opened, stream())
    assert main(["forwarders", "--store", str(store), "--json"]) == 0
    listed = {h["ip"]: h for h in _lines(capsys.readouterr().out)}
    assert listed[FORWARDER]["forwarder"] and not listed[PROVIDER]["forwarder"]
    assert set(listed[FORWARDER]["features"]) == {"outside hop below", "sender domains",
                                                   "signed (DKIM/ARC)", "SPF fails"}
    assert main(["forwarders", "--store", str(store), "--reject", FORWARDER, "--json"]) == 0
    listed = {h["ip"]: h for h in _lines(capsys.readouterr().out)}
    assert listed[FORWARDER]["operator"] == "reject" and not listed[FORWARDER]["forwarder"]
    assert main(["forwarders", "--store", str(store), "--review"]) == 0
    assert "hosts to review" in capsys.readouterr().err
    assert main(["forwarders", "--store", str(store), "--confirm", "not-an-ip"]) == 2
    assert "does not appear to be an IPv4 or IPv6 address" in capsys.readouterr().err
