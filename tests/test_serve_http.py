"""``shingles serve`` over HTTP: a real server process driven by a real HTTP client."""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from serve_support import SAMPLE, Served, sample_messages, wait_until  # noqa: E402

CONFIG = SAMPLE.parent / "shingles.toml"


def _config(tmp_path: pathlib.Path, extra: str = "") -> pathlib.Path:
    path = tmp_path / "serve.toml"
    path.write_text(CONFIG.read_text() + "\n[serve]\nmax_body_bytes = 1048576\n"
                    "request_timeout = 5.0\n" + extra)
    return path


@pytest.fixture
def served(tmp_path: pathlib.Path) -> Iterator[Served]:
    server = Served(tmp_path / "store", _config(tmp_path))
    yield server
    server.kill()


def test_scan_answers_what_the_cli_prints(served: Served, tmp_path: pathlib.Path) -> None:
    cli = subprocess.run([sys.executable, "-m", "shingles", "scan", "--store",
                          str(tmp_path / "cli"), "--config", str(CONFIG), str(SAMPLE)],
                         capture_output=True, text=True, check=True)
    printed = [json.loads(line) for line in cli.stdout.splitlines()]
    answers = []
    for raw in sample_messages():
        status, body = served.scan(raw)
        assert status == 200, body
        answers.append(body)
    assert len(answers) == len(printed) > 20
    for ours, theirs in zip(answers, printed):
        assert ours.keys() == theirs.keys()
        assert ours["source"].startswith("http:")
        for key in ("message_id", "verdict", "score", "reasons", "mailing", "mailing_size"):
            assert ours[key] == theirs[key], key
    assert {a["verdict"] for a in answers} >= {"bulk-spam", "personal"}


def test_envelope_headers_set_the_source(served: Served) -> None:
    raw = sample_messages()[0]
    status, body = served.request("POST", "/v1/scan", raw, [
        ("IP", "198.18.7.9"), ("Helo", "mail.sender.example"), ("From", "<a@sender.example>"),
        ("Rcpt", "one@example.org"), ("Rcpt", "two@example.org"), ("Queue-Id", "Q1")])
    assert status == 200, body
    assert body["source_ip"] == "198.18.7.9"
    assert body["source"] == "http:Q1"
    # A loopback client is inside the trusted zone: the message's own chain is read.
    status, inner = served.scan(raw.replace(b"Message-ID: <", b"Message-ID: <again.", 1),
                                IP="127.0.0.1")
    assert inner["source_ip"] == "192.0.2.10"


def test_readers_explain_mailings_metrics_health(served: Served) -> None:
    messages = sample_messages()
    for raw in messages:
        assert served.scan(raw)[0] == 200
    status, body = served.request("GET", "/v1/mailings?top=2")
    assert status == 200 and len(body["mailings"]) == 2
    assert body["mailings"][0]["size"] >= body["mailings"][1]["size"] >= 2
    status, explained = served.request("GET", "/v1/explain?message_id="
                                       "%3C20.1772447400%40pharma15.example%3E")
    assert status == 200 and explained["verdict"]["verdict"] == "bulk-spam"
    assert explained["mailing"]["size"] >= 10
    status, text = served.request("GET", "/metrics")
    assert status == 200
    judged = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                 if line.startswith("shingles_messages_total{"))
    assert judged == len(messages)
    assert "shingles_decision_seconds_bucket" in text and "shingles_queue_depth" in text
    assert "shingles_store_bytes" in text
    status, health = served.request("GET", "/health")
    assert status == 200 and health["status"] == "ok" and health["groups"] >= 1

    def lines() -> list[str]:  # per-message lines go out within 0.2 s
        return [line for line in served.log if " front=http " in line]

    assert wait_until(lambda: len(lines()) == len(messages), timeout=10)
    assert "verdict=" in lines()[0] and "ms=" in lines()[0]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status"), [
    ("POST", "/v1/scan", b"Subject: x\r\n\r\nhi\r\n", {"IP": "not-an-ip"}, 400),
    ("POST", "/v1/scan", b"\x00\x01 not mail at all", {}, 400),
    ("POST", "/v1/scan", b"", {}, 400),
    ("GET", "/v1/scan", None, {}, 405),
    ("GET", "/nowhere", None, {}, 404),
    ("GET", "/v1/explain", None, {}, 400),
    ("GET", "/v1/explain?message_id=%3Cnever%40seen%3E", None, {}, 404),
    ("GET", "/v1/mailings?top=lots", None, {}, 400),
    ("POST", "/v1/report", b"{}", {"Content-Type": "application/json"}, 400),
    ("POST", "/v1/report", b"[1, 2", {"Content-Type": "application/json"}, 400),
])
def test_bad_requests_get_json_errors(served: Served, method: str, path: str,
                                      body: bytes | None, headers: dict[str, str],
                                      status: int) -> None:
    got, answer = served.request(method, path, body, headers)
    assert got == status
    assert isinstance(answer, dict) and answer["error"]
    assert served.request("GET", "/health")[0] == 200


def test_report_counts_a_complaint_once(served: Served) -> None:
    for raw in sample_messages():
        assert served.scan(raw)[0] == 200
    spam = "<20.1772447400@pharma15.example>"
    quoted = urllib_quote(spam)
    assert wait_until(lambda: served.request("GET", f"/v1/explain?message_id={quoted}")[0]
                      == 200, timeout=10)
    body = json.dumps({"spam": [spam, "<never@seen>"]}).encode()
    headers = {"Content-Type": "application/json"}
    status, answer = served.request("POST", "/v1/report", body, headers)
    assert status == 200, answer
    first, unknown = answer["reports"]
    assert first["counted"] is True and first["mailing"] is not None
    assert unknown["counted"] is False and unknown["error"]
    status, again = served.request("POST", "/v1/report", body, headers)
    assert again["reports"][0]["counted"] is False  # the same report counts once
    explained = served.request("GET", f"/v1/explain?message_id={quoted}")[1]
    assert explained["mailing"]["complaints"] == 1


def test_garbage_on_the_socket_does_not_stop_the_server(served: Served) -> None:
    for junk in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),
                 b"GET / HTTP/9.9\r\n\r\n", b"POST /v1/scan HTTP/1.1\r\nContent-Length: x\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
            sock.sendall(junk)
            reply = sock.recv(4096)
        # Below HTTP, aiohttp answers a plain-text 400 itself (or closes).
        assert reply == b"" or reply[:12] in (b"HTTP/1.1 400", b"HTTP/1.0 400")
    assert served.scan(sample_messages()[0])[0] == 200


def test_a_100_mb_body_is_refused_without_reading_it(served: Served) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    conn.putrequest("POST", "/v1/scan")
    conn.putheader("Content-Length", str(100 << 20))
    conn.endheaders()
    try:
        conn.send(b"Subject: big\r\n\r\n" + b"x" * (1 << 16))
    except OSError:
        pass  # the server may already have answered and closed
    response = conn.getresponse()
    assert response.status == 413 and "cap" in json.loads(response.read())["error"]
    conn.close()
    # Without a length (chunked), the server stops reading at the cap.
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b"Subject: big\r\n\r\n"
        while sent < (100 << 20):
            sent += 1 << 20
            yield b"y" * (1 << 20)

    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    try:
        conn.request("POST", "/v1/scan", body=chunks(), encode_chunked=True)
    except OSError:
        pass
    assert conn.getresponse().status == 413
    assert sent < (100 << 20)
    assert served.request("GET", "/health")[0] == 200


def test_a_client_that_leaves_mid_message_costs_nothing(served: Served) -> None:
    raw = sample_messages()[0]
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                     % len(raw) + raw[: len(raw) // 2])
    time.sleep(0.3)
    assert served.request("GET", "/v1/mailings?top=5&min_size=1")[1] == {"mailings": []}
    assert served.scan(raw)[0] == 200
    # Answered at once; readers see it when its group commits (commit_ms later).
    assert wait_until(lambda: len(served.request(
        "GET", "/v1/mailings?top=5&min_size=1")[1]["mailings"]) == 1, timeout=10)


def test_many_concurrent_clients_one_writer(served: Served) -> None:
    """Two MTAs' worth of connections (2 x 25) at once, against one server."""
    messages = sample_messages()

    def client(offset: int) -> list[str]:
        conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
        seen = []
        for i in range(8):  # keep-alive: one connection per client
            raw = messages[(offset + i) % len(messages)]
            conn.request("POST", "/v1/scan", body=raw,
                         headers={"IP": f"203.0.{offset}.{i + 1}", "Rcpt": "u@example.org"})
            response = conn.getresponse()
            assert response.status == 200
            seen.append(json.loads(response.read())["verdict"])
        conn.close()
        return seen

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(client, range(50)))
    assert sum(len(r) for r in results) == 400
    metrics = served.request("GET", "/metrics")[1]
    groups = next(float(line.split()[1]) for line in metrics.splitlines()
                  if line.startswith("shingles_commit_groups_total"))
    assert groups < 400  # concurrent messages shared commits


def test_a_thousand_idle_connections(served: Served) -> None:
    idle = [socket.create_connection(("127.0.0.1", served.port), timeout=10)
            for _ in range(1000)]
    try:
        started = time.monotonic()
        assert served.scan(sample_messages()[0])[0] == 200
        assert time.monotonic() - started < 10
        assert served.request("GET", "/health")[0] == 200
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.parametrize("answer", ["after-commit", "at-once"])
def test_kill_9_under_load_loses_at_most_the_open_group(tmp_path: pathlib.Path,
                                                        answer: str) -> None:
    store = tmp_path / "store"
    config = _config(tmp_path, f'answer = "{answer}"\ncommit_messages = 16\n')
    server = Served(store, config)
    messages = sample_messages()
    answered: list[str] = []
    stop = threading.Event()

    def load(worker: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        i = 0
        while not stop.is_set():
            raw = messages[i % len(messages)].replace(
                b"Message-ID: <", b"Message-ID: <w%d.%d." % (worker, i), 1)
            i += 1
            try:
                conn.request("POST", "/v1/scan", body=raw)
                response = conn.getresponse()
                body = json.loads(response.read())
            except (OSError, http.client.HTTPException, ValueError):
                return
            answered.append(body["message_id"])

    threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: len(answered) >= 60, timeout=60)
    server.proc.kill()  # SIGKILL, mid-group
    server.proc.wait()
    stop.set()
    for thread in threads:
        thread.join()
    again = Served(store, config)  # the store opens after the kill
    try:
        missing = [message_id for message_id in answered if again.request(
            "GET", "/v1/explain?message_id=" + urllib_quote(message_id))[0] != 200]
    finally:
        again.kill()
    if answer == "after-commit":
        assert missing == []  # answers wait for the commit: nothing answered is lost
    else:
        assert len(missing) <= 16  # at most the open group (commit_messages)


def _writer_pid(server: Served, store: pathlib.Path) -> int:
    """Return the pid of the server's child that has the store's data file open."""
    data = str((store / "data.mdb").resolve())
    children = pathlib.Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
    for pid in map(int, children.read_text().split()):
        try:
            if any(os.readlink(fd) == data for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir()):
                return pid
        except OSError:
            continue
    raise AssertionError("no child of the server holds the store")


def _alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has ended


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_writer_process_dies_with_the_server(tmp_path: pathlib.Path) -> None:
    store = tmp_path / "store"
    server = Served(store, _config(tmp_path))
    try:
        assert server.scan(sample_messages()[0])[0] == 200
        writer = _writer_pid(server, store)
        assert writer != server.proc.pid and _alive(writer)
        server.proc.kill()
        server.proc.wait()
        assert wait_until(lambda: not _alive(writer), timeout=10)
    finally:
        server.kill()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_writer_process_that_dies_stops_the_server_with_a_clear_error(
        tmp_path: pathlib.Path) -> None:
    store = tmp_path / "store"
    server = Served(store, _config(tmp_path))
    try:
        status, verdict = server.scan(sample_messages()[0])
        assert status == 200
        wanted = "/v1/explain?message_id=" + urllib_quote(verdict["message_id"])
        assert wait_until(lambda: server.request("GET", wanted)[0] == 200)  # its group committed
        os.kill(_writer_pid(server, store), 9)
        assert server.proc.wait(30) == 2
    finally:
        server.kill()
    assert any("the writer process ended while serving" in line for line in server.log)
    # What it had committed is there for the next server.
    again = Served(store, _config(tmp_path))
    try:
        assert again.request("GET", wanted)[0] == 200
    finally:
        again.kill()


def urllib_quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def test_sigterm_commits_and_sighup_reloads(tmp_path: pathlib.Path) -> None:
    store, config = tmp_path / "store", _config(tmp_path)
    server = Served(store, config)
    try:
        raw = sample_messages()[0]
        assert server.scan(raw)[0] == 200
        config.write_text(config.read_text().replace("max_body_bytes = 1048576",
                                                     "max_body_bytes = 100"))
        server.proc.send_signal(1)  # SIGHUP
        assert wait_until(lambda: any("event=reload" in line for line in server.log))
        status, body = server.scan(raw)
        assert status == 413, body
        config.write_text("[serve]\nno_such_setting = 1\n")
        server.proc.send_signal(1)
        assert wait_until(lambda: any("kept the old config" in line for line in server.log))
        assert server.scan(raw)[0] == 413
        assert server.terminate() == 0
    finally:
        server.kill()
    assert any("event=stop" in line for line in server.log)
    cli = subprocess.run([sys.executable, "-m", "shingles", "mailings", "--store", str(store),
                          "--json", "--min-size", "1"], capture_output=True, text=True)
    assert cli.returncode == 0 and len(cli.stdout.splitlines()) == 1


def test_a_second_writer_is_refused(served: Served, tmp_path: pathlib.Path) -> None:
    second = subprocess.run([sys.executable, "-m", "shingles", "serve", "--store",
                             str(tmp_path / "store"), "--http", "127.0.0.1:0"],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 2 and "owned by a running `shingles serve`" in second.stderr


def test_batch_commands_go_through_the_server_or_say_so(served: Served,
                                                        tmp_path: pathlib.Path) -> None:
    store = str(tmp_path / "store")
    for verb in (["scan", str(SAMPLE)], ["ingest", str(SAMPLE)], ["rescan"]):
        done = subprocess.run([sys.executable, "-m", "shingles", *verb, "--store", store],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, verb
        assert f"--server {served.url}" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, "-m", "shingles", "scan", "--store", store,
                           "--server", served.url, str(SAMPLE)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == len(sample_messages())
    assert answers[0]["source"] == f"{SAMPLE}:0" and answers[0]["verdict"] == "personal"
    assert "bulk-spam" in {a["verdict"] for a in answers}
