"""``shingles serve`` as a milter behind a real Postfix, mail sent with smtplib."""

from __future__ import annotations

import os
import pathlib
import smtplib
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from postfix_support import DOMAIN, Postfix, free_port, missing  # noqa: E402
from serve_support import Served, in_ci, wait_until  # noqa: E402

_WHY = missing()
if _WHY is not None:
    if in_ci():  # CI installs postfix and libmilter-dev (.ci/run): there, absence is a failure
        raise RuntimeError(f"the Postfix tests cannot run in CI: {_WHY}")
    pytest.skip(_WHY, allow_module_level=True)

CONFIG = """
[judge]
spam_min_networks = 5
hold_minutes = 0.05
[serve]
rescan_seconds = 0.3
request_timeout = 20.0
[serve.actions]
bulk-spam = "reject"
hold = "tempfail"
"""

PITCH = ("Dear friend, our pharmacy ships discount pills worldwide with no prescription "
         "needed. Order today and save up to eighty percent on every brand name product, "
         "shipped discreetly in plain packaging to your door within three business days. "
         "Visit our online shop now and claim a free bonus bottle with your first order.")


class Rig:
    def __init__(self, server: Served, postfixes: list[Postfix], milter_port: int) -> None:
        self.server = server
        self.postfixes = postfixes
        self.milter_port = milter_port


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("milter")
    (tmp / "serve.toml").write_text(CONFIG)
    port = free_port()
    server = Served(tmp / "store", tmp / "serve.toml", milter=f"inet:{port}@127.0.0.1")
    postfixes: list[Postfix] = []
    try:
        postfixes.append(Postfix(port))
        postfixes.append(Postfix(port))  # a second MX host sharing the one server
        yield Rig(server, postfixes, port)
    finally:
        for postfix in postfixes:
            postfix.stop()
        server.kill()


def message(text: str, subject: str, message_id: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Sales <sales@pills.example>"
    msg["To"] = f"user@{DOMAIN}"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = message_id or make_msgid(domain="pills.example")
    msg.set_content(text)
    return msg


def send(postfix: Postfix, msg: EmailMessage, ip: str) -> int:
    """Send msg as if from ip (Postfix XCLIENT); return the final SMTP code."""
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=60) as smtp:
        smtp.ehlo("relay.example")
        code, reply = smtp.docmd("XCLIENT", f"ADDR={ip} NAME=[UNAVAILABLE] HELO=h{ip}.example")
        assert code == 220, reply
        smtp.ehlo(f"h{ip}.example")
        try:
            smtp.send_message(msg, "sales@pills.example", [f"user@{DOMAIN}"])
        except smtplib.SMTPResponseException as exc:  # refused at MAIL FROM or DATA
            return exc.smtp_code
        return 250


def delivered_with(postfix: Postfix, message_id: str) -> bytes | None:
    for raw in postfix.delivered():
        if message_id.encode() in raw:
            return raw
    return None


def test_headers_on_delivered_mail(rig: Rig) -> None:
    msg = message("Hello Bob, the minutes of Tuesday's meeting are attached below, with the "
                  "three action items we agreed on and the date of the next meeting in May.",
                  "minutes")
    assert send(rig.postfixes[0], msg, "198.18.0.10") == 250
    raw = wait_until(lambda: delivered_with(rig.postfixes[0], msg["Message-ID"]))
    assert raw, rig.postfixes[0].log()
    head = raw.split(b"\n\n", 1)[0].decode()
    assert "X-Shingles-Verdict: personal" in head
    assert "X-Shingles-Score: 0.0000" in head and "X-Shingles-Reasons:" in head
    assert wait_until(lambda: any("front=milter" in line and "ip=198.18.0.10" in line
                                  for line in rig.server.log), timeout=10)


def test_a_spam_run_is_held_then_rejected_and_a_retry_meets_the_rescan(rig: Rig) -> None:
    copies = [message(PITCH.replace("Dear friend", f"Dear customer {n}"), "pills")
              for n in range(8)]
    codes = [send(rig.postfixes[n % 2], msg, f"203.{n}.113.9") for n, msg in enumerate(copies)]
    assert codes[0] == 250  # the first copy is nobody's mailing yet
    assert 451 in codes  # young and spreading: held, the sender will retry
    assert codes[-1] == 550  # from 5 networks on: spam, refused
    first_held = copies[codes.index(451)]

    def top() -> dict[str, Any]:
        return rig.server.request("GET", "/v1/mailings?top=1")[1]["mailings"][0]

    # The last answer may come before its group commits (answer = "at-once").
    assert wait_until(lambda: top()["size"] == 8, timeout=10)
    assert top()["distinct_networks"] == 8

    quoted = urllib.parse.quote(first_held["Message-ID"], safe="")

    def rescanned() -> bool:
        status, body = rig.server.request("GET", f"/v1/explain?message_id={quoted}")
        return status == 200 and body["verdict"]["previous"] == "hold"

    assert wait_until(rescanned, timeout=30), rig.server.log[-5:]
    # The sender's retry (the same message again) meets the rescanned verdict.
    assert send(rig.postfixes[0], first_held, "203.1.113.9") == 550
    assert wait_until(lambda: any("front=rescan" in line and "previous=hold" in line
                                  for line in rig.server.log), timeout=10)


def test_malformed_milter_packets_do_not_stop_the_server(rig: Rig) -> None:
    port = rig.milter_port
    for junk in (b"\x00\x00\x00\x05Xjunk", b"\xff\xff\xff\xff" + b"O" * 64,
                 b"\x00\x00\x00\x0dO\x00\x00\x00\x09\x00\x00\x00\x00",  # short negotiate
                 os.urandom(512), b"\x00\x00\x00\x02C\x00"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(junk)
            sock.settimeout(2)
            try:
                sock.recv(100)
            except OSError:
                pass
    msg = message("Dear Alice, thanks for the photos from the trip, the mountain ones came "
                  "out beautifully and I will print two of them for the hallway wall soon.",
                  "photos")
    assert send(rig.postfixes[1], msg, "198.18.1.20") == 250
    assert rig.server.proc.poll() is None


def test_two_mtas_of_concurrent_connections(rig: Rig) -> None:
    codes: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        for i in range(3):
            text = (f"Note {n}-{i}: " + " ".join(f"word{n}x{i}x{k}" for k in range(40)))
            code = send(rig.postfixes[n % 2], message(text, f"note {n} {i}"),
                        f"198.19.{n}.{i + 1}")
            with lock:
                codes.append(code)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [250] * 60
    assert rig.server.proc.poll() is None


def test_postfix_tempfails_while_the_milter_is_down() -> None:
    postfix = Postfix(free_port())  # nothing listens there
    try:
        msg = message("Hi Carol, just checking that the server answers while the filter is "
                      "away for maintenance this evening, nothing else to report today.", "x")
        assert send(postfix, msg, "198.18.2.30") == 451  # milter_default_action = tempfail
    finally:
        postfix.stop()


def test_a_milter_socket_in_use_is_an_error(tmp_path: pathlib.Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "shingles", "serve", "--store",
                               str(tmp_path / "store"), "--http", "",
                               "--milter", f"inet:{port}@127.0.0.1"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"milter inet:{port}@127.0.0.1" in done.stderr
