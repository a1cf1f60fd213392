"""Store operations as an admin runs them: info, check, backup, members, a waiting writer."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import pytest

from shingles.cli import main
from shingles.config import StoreSettings
from shingles.errors import StoreLockedError
from shingles.fingerprint import fingerprint
from shingles.mail.read import read
from shingles.mail.records import Mail
from shingles.store.reader import Store

from .test_ingest import make_mbox  # type: ignore[import-not-found]  # tests is no package


def out_records(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.fixture
def store(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "in.mbox").write_bytes(make_mbox(200))
    assert main(["ingest", "--store", str(tmp_path / "s"), "--mode", "paper",
                 str(tmp_path / "in.mbox")]) == 0
    return tmp_path / "s"


def test_info_reports_counts_and_settings(store: pathlib.Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["store", "info", "--store", str(store), "--json"]) == 0
    [info] = out_records(capsys)
    with Store(store, readonly=True) as opened:
        assert info["messages"] == opened.counts()["messages"] == 200
        assert info["mailings"] == sum(1 for _ in opened.mailings())
        assert info["scheme"] == opened.scheme_id and info["matching"] == "paper"
    assert info["file_bytes"] == os.path.getsize(store / "data.mdb")
    assert info["last_commit"]["txn_id"] >= 1 and info["clock"].startswith("2024-03-01")
    assert info["retention_days"] == StoreSettings().retention_days  # what the ingest ran with
    (store.parent / "more.mbox").write_bytes(make_mbox(5, seed=9))
    assert main(["ingest", "--store", str(store), "--retention-days", "2",
                 str(store.parent / "more.mbox")]) == 0
    capsys.readouterr()
    assert main(["store", "info", "--store", str(store), "--json"]) == 0
    assert out_records(capsys)[0]["retention_days"] == 2.0


def test_check_passes_a_sound_store_and_finds_a_planted_bad_record(
        store: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["store", "check", "--store", str(store)]) == 0
    assert out_records(capsys) == []
    with Store(store) as opened, opened._env.begin(write=True) as txn:
        key, _ = next(iter(txn.cursor(db=opened._dbs["mega"])))
        txn.put(key, b"\x01\x02\x03", db=opened._dbs["mega"])  # an index value cut short
        txn.put((999).to_bytes(8, "big"), (1).to_bytes(8, "big"), db=opened._dbs["children"])
    assert main(["store", "check", "--store", str(store)]) == 1
    findings = out_records(capsys)
    assert {"database": "mega", "key": bytes(key).hex(),
            "problem": "a index record cannot be read"} in findings
    assert any(f["database"] == "children" and "999" in f["problem"] for f in findings)


def test_members_name_each_message_of_a_mailing(store: pathlib.Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["mailings", "--store", str(store), "--json", "--members", "--top", "0"]) == 0
    mailings = out_records(capsys)
    box = {m.message_id: m.source for m in read([str(store.parent / "in.mbox")])}
    for mailing in mailings:
        assert len(mailing["members"]) == mailing["size"]
        for member in mailing["members"]:
            assert box[member["message_id"]] == member["source"]
        subjects = {member["message_id"].split(".")[0] for member in mailing["members"]}
        assert len(subjects) == mailing["size"]  # distinct messages


def test_backup_during_an_ingest_is_the_source_at_one_commit(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    box = tmp_path / "in.mbox"
    box.write_bytes(make_mbox(3000, seed=3))
    source = tmp_path / "source"
    command = [sys.executable, "-m", "shingles", "ingest", "--store", str(source),
               "--batch", "50", "--retention-days", "0", str(box)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        copy = tmp_path / "copy"
        while True:  # the writer has committed some batches, not all
            try:
                with Store(source, readonly=True) as reader:
                    done = reader.counts()["messages"]
            except FileNotFoundError:  # no first commit yet
                done = 0
            if done >= 100 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert main(["store", "backup", "--store", str(source), str(copy)]) == 0
        assert proc.poll() is None, "the ingest ended before the backup; raise n"
    finally:
        proc.wait(timeout=300)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    with Store(copy, readonly=True) as backup:
        taken = backup.counts()["messages"]
        mailings = [m.to_json() for m in backup.mailings()]
        # The source's own matching and secret seed, so the fresh store can equal it.
        scheme = backup.scheme
        settings = dataclasses.replace(backup.settings, retention_days=0, batch_size=50)
    assert 0 < taken < 3000 and taken % 50 == 0  # whole batches: one commit
    # The source at that commit: the same messages filed afresh in one go.
    again = tmp_path / "again"
    with Store(again, scheme=scheme, settings=settings) as fresh, fresh.session() as session:
        for mail in itertools.islice(read([str(box)]), taken):
            assert isinstance(mail, Mail)
            session.add(mail, fingerprint(mail.text, scheme=scheme))
    with Store(again, readonly=True) as fresh:
        assert [m.to_json() for m in fresh.mailings()] == mailings
    assert main(["store", "check", "--store", str(copy)]) == 0


def test_a_second_writer_waits_for_the_lock_and_is_told_the_holder(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s"
    first = Store(path)
    with pytest.raises(StoreLockedError, match=f"pid {os.getpid()}"):
        Store(path)
    timer = threading.Timer(0.3, first.close)
    timer.start()
    started = time.monotonic()
    with Store(path, wait=10):
        assert 0.2 < time.monotonic() - started < 9
    timer.join()
    # From the command line: one line, the holder's pid, options that exist.
    box = tmp_path / "in.mbox"
    box.write_bytes(make_mbox(5))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from shingles.store.reader import Store; "
         "s = Store(sys.argv[1]); print('ready', flush=True); time.sleep(float(sys.argv[2]))",
         str(path), "3"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        capsys.readouterr()
        assert main(["ingest", "--store", str(path), "--wait", "0.2", str(box)]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and "--wait SECONDS" in err
        assert "--readonly" not in err and len(err.splitlines()) == 1
        # Waiting long enough, the same command goes in once the holder is done.
        assert main(["ingest", "--store", str(path), "--wait", "60", str(box)]) == 0
    finally:
        holder.kill()
        holder.wait()
