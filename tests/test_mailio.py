"""Reading mail sources: mbox split exactly as mailbox.mbox splits it, from files,
compressed files and streams; maildir; folders; error records that cost one message."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import mailbox
import pathlib
import shutil
import sys
from typing import Any, cast

import pytest

from shingles.config import Limits
from shingles.mail.records import Mail, MailError
from shingles.mail.read import RawMessage, read, read_raw, split_mbox

from .conftest import corpus_dir  # type: ignore[import-not-found]  # tests is no package

DATA = pathlib.Path(__file__).resolve().parent / "data"
MBOXES = sorted(DATA.glob("*.mbox"))


def reference(path: pathlib.Path) -> list[tuple[int, bytes]]:
    """Return (offset, bytes) of each message as Python's mailbox module reads them."""
    box = mailbox.mbox(str(path), create=False)
    box._generate_toc()  # type: ignore[attr-defined]
    starts = [start for start, _ in box._toc.values()]  # type: ignore[attr-defined]
    return [(start, box.get_bytes(key)) for start, key in zip(starts, box.iterkeys())]


@pytest.mark.parametrize("path", MBOXES, ids=[p.name for p in MBOXES])
def test_mbox_split_equals_mailbox_module(path: pathlib.Path) -> None:
    ours = list(read_raw(path))
    assert all(isinstance(r, RawMessage) for r in ours)
    assert [(r.source, r.data) for r in ours] == [  # type: ignore[union-attr]
        (f"{path}:{offset}", data) for offset, data in reference(path)]


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress],
                         ids=["gz", "bz2", "xz"])
def test_compressed_mbox_reads_like_the_plain_one(compress: object, tmp_path: pathlib.Path,
                                                  ) -> None:
    plain = DATA / "quirks.mbox"
    packed = tmp_path / "box.mbox.anything"  # recognised by magic bytes, not by name
    packed.write_bytes(compress(plain.read_bytes()))  # type: ignore[operator]
    assert [r.data for r in read_raw(packed)] == [  # type: ignore[union-attr]
        r.data for r in read_raw(plain)]  # type: ignore[union-attr]


@pytest.mark.parametrize("inflate", ["isal", "zlib"])
def test_gzip_of_many_members_and_padding_reads_whole(inflate: str, tmp_path: pathlib.Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # gzip(1) output concatenated, as log rotation and `cat a.gz b.gz` make it, then
    # zero padding (tape blocks): gzip.GzipFile reads all of it, so must we, with
    # either inflater.
    import zlib

    from shingles.mail import read as mailio
    if inflate == "zlib":
        monkeypatch.setattr(mailio, "_inflate", zlib)
    monkeypatch.setattr(mailio, "CHUNK", 512)  # members and padding straddle reads
    plain = (DATA / "quirks.mbox").read_bytes()
    half = plain.index(b"\nFrom ", len(plain) // 2) + 1
    packed = tmp_path / "box.mbox.gz"
    packed.write_bytes(gzip.compress(plain[:half]) + gzip.compress(b"") +
                       gzip.compress(plain[half:]) + b"\0" * 1000)
    assert [r.data for r in read_raw(packed)] == [  # type: ignore[union-attr]
        r.data for r in read_raw(DATA / "quirks.mbox")]  # type: ignore[union-attr]


def test_stream_split_in_tiny_chunks_equals_whole_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # Separators that straddle chunk borders must still be found.
    from shingles.mail import read as mailio
    monkeypatch.setattr(mailio, "CHUNK", 7)
    data = (DATA / "quirks.mbox").read_bytes()
    ours = [(r.source, r.data) for r in split_mbox(io.BytesIO(data), "s")]  # type: ignore[union-attr]
    assert ours == [(f"s:{o}", d) for o, d in reference(DATA / "quirks.mbox")]


def test_stdin_mbox_and_single_message(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (DATA / "quirks.mbox").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    got = list(read_raw("-"))
    assert len(got) == len(reference(DATA / "quirks.mbox"))
    assert got[1].source == f"<stdin>:{reference(DATA / 'quirks.mbox')[1][0]}"
    one = b"From: a@example.org\nSubject: hi\n\nbody\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(one)))
    assert list(read_raw("-")) == [RawMessage("<stdin>", one, whole_file=True)]


def test_maildir_keys_name_the_source(tmp_path: pathlib.Path) -> None:
    box = mailbox.Maildir(str(tmp_path / "md"), create=True)
    keys = {box.add(f"From: m{i}@example.org\nSubject: s{i}\n\nbody {i}\n".encode())
            for i in range(3)}
    got = list(read(str(tmp_path / "md")))
    assert all(isinstance(m, Mail) for m in got)
    assert {m.source for m in got} == {f"{tmp_path / 'md'}:{k}" for k in keys}
    assert sorted(m.subject for m in got) == ["s0", "s1", "s2"]  # type: ignore[union-attr]


def test_missing_maildir_is_not_created(tmp_path: pathlib.Path) -> None:
    got = list(read_raw(tmp_path / "nothing"))
    assert len(got) == 1 and isinstance(got[0], MailError)
    assert not (tmp_path / "nothing").exists()


def test_folder_of_eml_files_mixed_with_an_mbox(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.eml").write_bytes(b"From: a@example.org\nSubject: a\n\nA\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.eml").write_bytes(b"From: b@example.org\nSubject: b\n\nB\n")
    shutil.copy(DATA / "quirks.mbox", tmp_path / "c.mbox")
    got = list(read(tmp_path))
    assert [m.subject for m in got[:1]] == ["a"]  # type: ignore[union-attr]
    assert got[-1].subject == "b"  # type: ignore[union-attr]
    assert len(got) == 2 + len(reference(DATA / "quirks.mbox"))


def test_bad_messages_give_error_records_and_the_stream_goes_on() -> None:
    got = list(read(DATA / "bad_among_good.mbox"))
    kinds = [type(r).__name__ for r in got]
    assert kinds == ["Mail", "MailError", "Mail", "MailError", "Mail"]
    assert [r.subject for r in got if isinstance(r, Mail)] == ["good 1", "good 2", "good 3"]
    assert "not a mail message" in got[1].error  # type: ignore[union-attr]
    assert got[1].source.startswith(f"{DATA / 'bad_among_good.mbox'}:")


def test_oversized_message_is_skipped_with_a_record(tmp_path: pathlib.Path) -> None:
    big = b"From x Mon Mar  2 10:00:00 2026\nFrom: x@example.org\n\n" + b"y" * 5000 + b"\n\n"
    small = b"From z Mon Mar  2 10:00:00 2026\nFrom: z@example.org\nSubject: small\n\nok\n"
    path = tmp_path / "box.mbox"
    path.write_bytes(small + b"\n" + big + small)
    got = list(read_raw(path, Limits(max_message_bytes=2000)))
    assert [type(r).__name__ for r in got] == ["RawMessage", "MailError", "RawMessage"]
    assert "larger than 2000" in got[1].error  # type: ignore[union-attr]
    assert got[1].source == f"{path}:{len(small) + 1}"


def test_truncated_gzip_keeps_what_arrived_and_says_so(tmp_path: pathlib.Path) -> None:
    data = (DATA / "quirks.mbox").read_bytes() * 50
    packed = gzip.compress(data)
    path = tmp_path / "cut.mbox.gz"
    path.write_bytes(packed[: len(packed) // 2])
    got = list(read_raw(path))
    assert isinstance(got[-1], MailError) and "ends early" in got[-1].error
    assert 0 < len(got) - 1 < 50 * len(reference(DATA / "quirks.mbox"))


def test_unreadable_path_is_an_error_record(tmp_path: pathlib.Path) -> None:
    got = list(read([tmp_path / "absent.mbox", DATA / "quirks.mbox"]))
    assert isinstance(got[0], MailError) and "cannot read" in got[0].error
    assert all(isinstance(m, Mail) for m in got[1:]) and len(got) > 1


@pytest.mark.skipif(corpus_dir() is None, reason="the real corpus is absent")
@pytest.mark.parametrize("name", ["spam", "ham"])
def test_corpus_count_and_bytes_equal_mailbox_module(name: str, tmp_path: pathlib.Path) -> None:
    packed = corpus_dir() / f"{name}.mbox.gz"
    plain = tmp_path / f"{name}.mbox"
    with gzip.open(packed) as z, open(plain, "wb") as f:
        shutil.copyfileobj(z, f)
    ref = reference(plain)
    ours = list(read_raw(packed))
    assert len(ours) == len(ref) == {"spam": 1897, "ham": 4149}[name]
    assert all(r.data == data for r, (_, data) in zip(ours, ref))  # type: ignore[union-attr]


class _MadeUpMbox(io.RawIOBase):
    """An mbox stream of n messages of about 10 kB, made as it is read."""

    def __init__(self, n: int) -> None:
        self.n, self.i, self.buf = n, 0, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        while len(self.buf) < len(buffer) and self.i < self.n:
            self.i += 1
            self.buf += (b"From x Mon Mar  2 10:00:00 2026\nFrom: x@example.org\n"
                         b"Subject: m%d\n\n" % self.i) + b"word " * 2000 + b"\n\n"
        k = min(len(buffer), len(self.buf))
        buffer[:k] = self.buf[:k]
        self.buf = self.buf[k:]
        return k


def test_memory_stays_flat_however_long_the_mbox() -> None:
    import tracemalloc

    stream = io.BufferedReader(cast(Any, _MadeUpMbox(2000)))  # ~20 MB of mbox
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_raw(stream))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 2000
    assert peak < 8 << 20  # a few 1 MiB chunks and one message, not the 20 MB stream
