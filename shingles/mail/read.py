"""Read messages from mail sources as a stream: mbox (plain, .gz, .bz2, .xz),
maildir, a directory of .eml files, single files and stdin.

Every record names where it came from, so a stream can be resumed and a bad
message found again:
- ``path:OFFSET`` for an mbox member, OFFSET being the byte offset of its
  "From " line in the (decompressed) mbox;
- ``path:KEY`` for a maildir message;
- ``path`` for a single file, ``<stdin>`` or ``<stdin>:OFFSET`` for stdin.

mbox is split as ``mailbox.mbox._generate_toc`` splits it (a message starts at
each line beginning "From "; the blank line before the next one belongs to the
separator), but from a stream in chunks: memory holds one message and one
chunk, however large the mailbox. ">From " lines are left as they are, as
``mailbox.mbox.get_bytes`` leaves them (mboxo quoting cannot be undone safely).

Compression is recognised by its magic bytes, not by the file name.
"""

from __future__ import annotations

import bz2
import dataclasses
import io
import lzma
import mailbox
import os
import select
import stat
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any, BinaryIO, Union, cast

from shingles.config import DEFAULT_CONFIG, Config, Limits
from shingles.errors import MailParseError
from shingles.mail.records import Mail, MailError
from shingles.mail.parse import parse

_inflate: ModuleType
try:
    # ISA-L inflates gzip in about 40% of zlib's time; gunzip was an eighth of
    # the whole read-and-parse path on the corpus.
    from isal import isal_zlib as _inflate
except ImportError:  # pragma: no cover - isal is a dependency; a platform may lack its wheel
    _inflate = zlib

__all__ = ["Input", "MailStream", "RawMessage", "read", "read_raw", "split_mbox"]

Input = Union[str, "os.PathLike[str]", BinaryIO]

CHUNK = 1 << 20
# What a damaged or cut compressed stream raises part-way through.
_STREAM_ERRORS: tuple[type[BaseException], ...] = (
    EOFError, OSError, zlib.error, _inflate.error, lzma.LZMAError, ValueError)


@dataclasses.dataclass(frozen=True)
class RawMessage:
    """The bytes of one message and where they came from.

    Attributes:
        source: See the module docstring.
        data: The message bytes (without an mbox "From " line).
        whole_file: True when the bytes are a whole file or stdin, not one
            member of a mailbox (such input may be plain text, not mail).
    """

    source: str
    data: bytes
    whole_file: bool = False


class _Chain(io.RawIOBase):
    """A read-only stream of bytes already read, then the rest of another stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest
        self.consumed = 0  # bytes handed on so far

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            self.consumed += n
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        self.consumed += len(data)
        return len(data)


class _Gunzip:
    """The content of a gzip stream of one or more members, read with _inflate.

    Like gzip.GzipFile, and like it each read1 hands out what one step inflated,
    so a cut stream loses nothing before the cut; but no more than CHUNK bytes
    a step, so a gzip bomb is read in bounded memory.
    """

    def __init__(self, raw: BinaryIO) -> None:
        # read1: a pipe hands on what has arrived, not a whole CHUNK first.
        self._read = getattr(raw, "read1", raw.read)
        self._inflater = _inflate.decompressobj(wbits=31)
        self._pending = b""    # compressed bytes read and not yet inflated
        self._started = False  # the current member has begun

    def read1(self, size: int = CHUNK) -> bytes:
        while True:
            if self._inflater.eof:
                # The member ended: what follows is another member, or zero padding.
                self._pending = (self._inflater.unused_data + self._pending).lstrip(b"\0")
                while not self._pending:
                    more = self._read(CHUNK)
                    if not more:
                        return b""
                    self._pending = more.lstrip(b"\0")
                self._inflater = _inflate.decompressobj(wbits=31)
                self._started = False
            if not self._pending:
                self._pending = self._read(CHUNK)
                if not self._pending:
                    if self._started:
                        raise EOFError("compressed file ended before the end-of-stream "
                                       "marker was reached")
                    return b""
            self._started = True
            out = self._inflater.decompress(self._pending, max(size, 1))
            self._pending = b"" if self._inflater.eof else self._inflater.unconsumed_tail
            if out:
                return out

    read = read1


_MAGIC = ((b"\x1f\x8b", _Gunzip), (b"BZh", bz2.BZ2File), (b"\xfd7zXZ\x00", lzma.LZMAFile))
_MAGIC_BYTES = max(len(magic) for magic, _ in _MAGIC)
#: Seconds a pipe or terminal must stay silent after a blank line before the
#: mbox message it ends is taken as complete (see split_mbox).
IDLE_SECONDS = 0.2


def _waits(stream: BinaryIO) -> Callable[[], bool] | None:
    """Return a check "has the stream been silent for IDLE_SECONDS?" for a pipe,
    socket or terminal; None for a file (whose reads never wait) or a wrapper."""
    try:
        fd = stream.fileno()
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return None
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return lambda: not select.select([fd], [], [], IDLE_SECONDS)[0]


def _read_some(stream: BinaryIO) -> bytes:
    """Return the next bytes of stream (b"" at its end), at most CHUNK of them.

    read1 hands out what one step decompressed, so when a cut stream raises, all
    before the cut has been handed out already.
    """
    read1 = getattr(stream, "read1", None)
    return read1(CHUNK) if read1 is not None else stream.read(CHUNK)


def _decompressed(stream: BinaryIO) -> tuple[BinaryIO, bytes, Callable[[], int] | None]:
    """Return (stream of the content, its first bytes, a function giving the compressed
    bytes read so far or None when the stream is not compressed), undoing gzip,
    bzip2 or xz."""
    # Only as much as has arrived (enough for the magic bytes): a pipe that hands
    # over one message and waits must not be read up to CHUNK first.
    head = b""
    while len(head) < _MAGIC_BYTES:
        more = _read_some(stream)
        if not more:
            break
        head += more
    for magic, opener in _MAGIC:
        if head.startswith(magic):
            chain = _Chain(head, stream)
            inner = cast(BinaryIO, opener(io.BufferedReader(cast(Any, chain))))
            return inner, _read_some(inner), lambda: chain.consumed
    return stream, head, None


# Mail compresses 3 to 20 times, large messages (attachments) hardly at all; a bomb
# 1,000 (gzip) to 7,000 (xz) times. Past this, a large message (over a sixteenth of
# the cap) ends the input.
_BOMB_RATIO = 50


def split_mbox(stream: BinaryIO, name: str, head: bytes = b"",
               max_bytes: int = DEFAULT_CONFIG.limits.max_message_bytes,
               compressed: Callable[[], int] | None = None,
               ) -> Iterator[RawMessage | MailError]:
    """Yield the messages of an mbox stream (head: bytes already read from it).

    A message over max_bytes, and a stream that breaks off, give a MailError
    record; the messages around them are still yielded. But no next message
    within twice max_bytes past one, or a message over max_bytes / 16 in a
    compressed stream (compressed() gives the compressed bytes read) that
    inflated more than _BOMB_RATIO times, ends the stream with a MailError.

    On a pipe or terminal (``scan -`` behind a mail server), a message is also
    complete when it ends in a blank line (as mbox writers end each message) and
    nothing more arrives for IDLE_SECONDS: it is handed on at once instead of
    waiting for the next "From " line.
    """
    silent = _waits(stream)
    buf = bytearray(head)
    base = 0          # stream offset of buf[0]
    start = -1        # offset in buf of the current message's "From " line; -1: none yet
    search = 0        # where to look for the next "\nFrom "
    skipping = False  # inside an oversized message: drop bytes until the next one
    skipped = 0       # bytes dropped so far while skipping
    eof = False
    broken: str | None = None
    flushed = False   # a message was handed on when the pipe fell silent
    while True:
        if start < 0:  # lines before the first "From " line belong to no message
            if (base == 0 or flushed) and buf.startswith(b"From "):
                start = 0
            else:
                i = buf.find(b"\nFrom ")
                start = i + 1 if i >= 0 else -1
            search = max(start, 0)
        found = buf.find(b"\nFrom ", search) if start >= 0 else -1
        if found >= 0:
            stop = found + 1
            if not skipping:
                yield _member(buf, start, stop, base, name, max_bytes)
            skipping, skipped = False, 0
            start = search = stop
            continue
        if eof:
            if start >= 0 and not skipping:
                yield _member(buf, start, len(buf), base, name, max_bytes)
            if broken:
                yield MailError(f"{name}:{base + len(buf)}", f"input ends early: {broken}")
            return
        # Keep only the current message (or, before the first one, the last bytes a
        # separator could start in): memory stays flat.
        drop = start if start >= 0 else max(len(buf) - 6, 0)
        size = len(buf) - start + skipped if start >= 0 else 0  # the current message so far
        if compressed is not None and size > max_bytes // 16 \
                and base + len(buf) > _BOMB_RATIO * compressed():
            # A bomb: 16 MB of gzip inflate to 16 GB. Reading on costs minutes (xz
            # inflates about 100 MB a second), the cap alone seconds.
            yield MailError(f"{name}:{base + start}", f"compressed input inflated over "
                            f"{_BOMB_RATIO} times into a message of over {size} bytes: a "
                            "compression bomb; rest of the input skipped")
            return
        if start >= 0 and len(buf) - start > max_bytes + 1024:
            if not skipping:
                yield MailError(f"{name}:{base + start}",
                                f"message larger than {max_bytes} bytes; skipped")
                skipping = True
            drop = max(len(buf) - 6, start)
            skipped += drop - start
            if skipped > 2 * max_bytes:
                yield MailError(f"{name}:{base + len(buf)}", "no next message within "
                                f"{2 * max_bytes} bytes; rest of the input skipped")
                return
        if drop:
            del buf[:drop]
            base += drop
            start = 0 if start >= 0 else -1
            search = 0
        search = max(search, len(buf) - 6, 0)
        if (silent is not None and start >= 0 and not skipping and buf.endswith(b"\n\n")
                and silent()):
            yield _member(buf, start, len(buf), base, name, max_bytes)
            base += len(buf)
            del buf[:]
            start, search, flushed = -1, 0, True
        elif buf:
            flushed = False
        try:
            chunk = _read_some(stream)
        except _STREAM_ERRORS as exc:
            chunk, broken = b"", str(exc) or type(exc).__name__
        if not chunk:
            eof = True
        else:
            buf += chunk


def _member(buf: bytearray, start: int, stop: int, base: int, name: str,
            max_bytes: int) -> RawMessage | MailError:
    """Return the message whose "From " line starts at start, its separator at stop."""
    # _generate_toc: when the line before the next "From " (or the last line) is a bare
    # "\n", that blank line belongs to the separator, not to the message.
    if stop - start >= 2 and buf[stop - 1] == 10 and buf[stop - 2] == 10:
        stop -= 1
    line_end = buf.find(b"\n", start, stop)
    body = stop if line_end < 0 else line_end + 1
    if stop - body > max_bytes:
        return MailError(f"{name}:{base + start}", f"message larger than {max_bytes} bytes; skipped")
    return RawMessage(f"{name}:{base + start}", bytes(buf[body:stop]))


def _read_stream(stream: BinaryIO, name: str, limits: Limits,
                 ) -> Iterator[RawMessage | MailError]:
    try:
        stream, head, compressed = _decompressed(stream)
    except _STREAM_ERRORS as exc:
        yield MailError(name, f"cannot read: {exc or type(exc).__name__}")
        return
    if head.startswith(b"From "):
        yield from split_mbox(stream, name, head, limits.max_message_bytes, compressed)
        return
    parts = [head]
    size = len(head)
    try:
        while size <= limits.max_message_bytes:
            chunk = _read_some(stream)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
    except _STREAM_ERRORS as exc:
        yield MailError(name, f"cannot read: {exc}")
        return
    if size > limits.max_message_bytes:
        yield MailError(name, f"message larger than {limits.max_message_bytes} bytes; skipped")
        return
    yield RawMessage(name, b"".join(parts), whole_file=True)


def _read_maildir(path: str, limits: Limits) -> Iterator[RawMessage | MailError]:
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in sorted(box.iterkeys()):
        source = f"{path}:{key}"
        try:
            with box.get_file(key) as f:
                data = f.read(limits.max_message_bytes + 1)
        except (OSError, KeyError) as exc:  # removed by a mail client since the listing
            yield MailError(source, f"cannot read: {exc}")
            continue
        if len(data) > limits.max_message_bytes:
            yield MailError(source, f"message larger than {limits.max_message_bytes} bytes; "
                            "skipped")
            continue
        yield RawMessage(source, data)


def _is_maildir(path: str) -> bool:
    return all(os.path.isdir(os.path.join(path, sub)) for sub in ("cur", "new"))


def _read_path(path: str, limits: Limits) -> Iterator[RawMessage | MailError]:
    if os.path.isdir(path):
        if _is_maildir(path):
            yield from _read_maildir(path, limits)
            return
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            if folder != path and _is_maildir(folder):
                dirs.clear()
                yield from _read_maildir(folder, limits)
                continue
            for file in sorted(files):
                yield from _read_path(os.path.join(folder, file), limits)
        return
    try:
        f = open(path, "rb")
    except OSError as exc:
        yield MailError(path, f"cannot read: {exc.strerror or exc}")
        return
    with f:
        yield from _read_stream(f, path, limits)


def read_raw(inputs: Input | Iterable[Input], limits: Limits = DEFAULT_CONFIG.limits,
             ) -> Iterator[RawMessage | MailError]:
    """Yield the raw messages of each input in order, or a MailError where one fails.

    Args:
        inputs: A path (file, directory, maildir), "-" for stdin, a binary stream,
            or an iterable of these.
        limits: max_message_bytes caps one message.
    """
    if isinstance(inputs, (str, os.PathLike)) or hasattr(inputs, "read"):
        items: Iterable[Input] = [cast(Input, inputs)]
    else:
        items = cast(Iterable[Input], inputs)
    for item in items:
        if item == "-":
            yield from _read_stream(sys.stdin.buffer, "<stdin>", limits)
        elif isinstance(item, (str, os.PathLike)):
            yield from _read_path(os.fspath(item), limits)
        else:
            yield from _read_stream(item, str(getattr(item, "name", "<stream>")), limits)


class MailStream(Iterator[Union[Mail, MailError]]):
    """What ``read`` returns: its records, and the ``config`` they are parsed with
    (so an engine can refuse mail parsed under another trusted zone)."""

    def __init__(self, records: Iterator[Mail | MailError], config: Config) -> None:
        self._records = records
        self.config = config

    def __iter__(self) -> MailStream:
        return self

    def __next__(self) -> Mail | MailError:
        return next(self._records)

    def close(self) -> None:
        """Stop reading: close the open file."""
        close = getattr(self._records, "close", None)
        if close is not None:
            close()


def read(inputs: Input | Iterable[Input], config: Config = DEFAULT_CONFIG,
         *, lean: bool | None = None) -> MailStream:
    """Return a stream of a Mail for each message of the inputs, or a MailError where
    one fails.

    See read_raw for the inputs and parse for lean. Never raises for bad input:
    a stream of a million messages must not stop at one broken one.
    """
    def records() -> Iterator[Mail | MailError]:
        for item in read_raw(inputs, config.limits):
            if isinstance(item, MailError):
                yield item
                continue
            yield parse_record(item, config, lean=lean)
    return MailStream(records(), config)


def parse_record(item: RawMessage, config: Config = DEFAULT_CONFIG,
                 *, lean: bool | None = None) -> Mail | MailError:
    """Return the Mail of a raw message, or a MailError saying why there is none."""
    try:
        return parse(item.data, item.source, config, lean=lean)
    except MailParseError as exc:
        return MailError(item.source, str(exc))
    except (RecursionError, MemoryError, LookupError, ValueError, TypeError) as exc:
        # A parser bug must cost one message, not the stream; the fuzz script
        # calls parse() directly, so such bugs are still counted there.
        return MailError(item.source, f"internal error: {type(exc).__name__}: {exc}")
