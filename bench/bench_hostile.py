"""Time and peak memory of `shingles scan` on the worst message of each hostile family.

    python bench/bench_hostile.py [--sizes 1,4,16] [--cases all] [--timeout 300]

Each case is one synthetic input of about SIZE MB, built here (no corpus needed),
and scanned by a fresh `python -m shingles scan` into a fresh store; the figures
are that child's wall-clock seconds and peak RSS (ru_maxrss from wait4), so they
include start-up and a store's creation: the same scan of one small message is
printed first as the baseline, and "net" is a case's time less that. The
families (issue 13, item 3):

- html-div / html-blockquote / html-ul-li: a text/html body of SIZE MB of unclosed
  nested tags (in the last, each <li> also looks down the whole stack).
- punycode-body: a text/plain body of SIZE MB labelled charset=punycode (Python's
  punycode codec is quadratic).
- punycode-words: a Subject of one RFC 2047 word labelled punycode, SIZE MB long.
- long-line: a text/plain body that is one line of SIZE MB of words.
- rule-line: a text/plain body ending in a rule line ("__________") followed by SIZE MB
  of "sponsor " (the rule pattern once backtracked quadratically on it).
- header-blanks: lines that start like a quoted header block ("From", "Sent") and hold
  SIZE/2 MB of blanks and no colon (the header-line patterns once backtracked
  quadratically on them).
- multipart-depth: multiparts nested in each other, SIZE MB of their headers.
- header-count: SIZE MB of short header fields (X-H1: v, X-H2: v, ...).
- gzip-bomb / xz-bomb: an mbox of SIZE MB compressed, one message of zeros that
  inflates to SIZE GB (gzip) or more (xz).

The target is every case under 2 s. A case that passes --timeout is killed and
shown as ">TIMEOUT".
"""

from __future__ import annotations

import argparse
import gzip
import lzma
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

MB = 1 << 20
HEAD = (b"From: a@example.org\nTo: b@example.org\nSubject: hostile\n"
        b"Message-ID: <1@example.org>\nDate: Mon, 2 Mar 2026 09:00:00 +0000\nMIME-Version: 1.0\n")


def _html(tag: bytes) -> Callable[[int], bytes]:
    def build(size: int) -> bytes:
        unit = b"<" + tag + b">x"
        return HEAD + b"Content-Type: text/html\n\n" + unit * (size // len(unit)) + b"\n"
    return build


def punycode_body(size: int) -> bytes:
    # Many non-basic code points for the decoder to insert one by one.
    return (HEAD + b"Content-Type: text/plain; charset=punycode\n\n"
            + b"a-" + b"9" * (size - 3) + b"\n")


def punycode_words(size: int) -> bytes:
    word = b" =?punycode?Q?a-" + b"9" * (size - 20) + b"?="
    return (b"From: a@example.org\nTo: b@example.org\nSubject:" + word
            + b"\nMessage-ID: <1@example.org>\n\nbody\n")


def long_line(size: int) -> bytes:
    words = b"lorem ipsum dolor sit amet consectetur adipiscing elit "
    return HEAD + b"Content-Type: text/plain\n\n" + words * (size // len(words)) + b"\n"


def rule_line(size: int) -> bytes:
    # A list-footer rule naming its sponsor again and again: the rule pattern's
    # backtracking was quadratic in such a line (2 s at 32 KB).
    words = b"sponsor " * (size // 8)
    return (HEAD + b"Content-Type: text/plain\n\nHello, the news.\n" + b"_" * 10 + words
            + b"\nmailing list unsubscribe\n")


def header_blanks(size: int) -> bytes:
    # Lines that start like a quoted header block ("From", "Sent") and then hold SIZE/2
    # bytes of blanks and no colon: the header-line patterns once backtracked
    # quadratically on them before failing.
    pad = b" \t" * (size // 4)
    return (HEAD + b"Content-Type: text/plain\n\nHello, the news.\n\nFrom: Ann\nFrom" + pad
            + b"x\nSent" + pad + b"x\n")


def multipart_depth(size: int) -> bytes:
    # Multiparts nested inside each other, SIZE MB of their headers: the standard
    # parser recurses once a level (past the interpreter's stack at about a thousand).
    level = b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n'
    parts, total, i = [], 0, 0
    while total < size:
        part = level % (i, i)
        parts.append(part)
        total += len(part)
        i += 1
    return HEAD + b"".join(parts) + b"Content-Type: text/plain\n\ndeep text\n"


def header_count(size: int) -> bytes:
    # SIZE MB of short header fields: all are split, only the first max_headers read.
    fields = b"".join(b"X-H%d: v\n" % i for i in range(size // 12))
    return b"From: a@example.org\n" + fields + b"\nbody\n"


def _bomb(compress: Callable[[bytes], bytes], ratio: int) -> Callable[[int], bytes]:
    def build(size: int) -> bytes:
        # Compressed SIZE bytes of zeros after a header: built from one block,
        # repeated (gzip and xz streams may be concatenated).
        block = compress(b"\0" * (64 * MB))
        head = compress(b"From x Mon Mar  2 09:00:00 2026\n" + HEAD + b"\n")
        return head + block * max(1, size // len(block))
    return build


CASES: dict[str, Callable[[int], bytes]] = {
    "html-div": _html(b"div"),
    "html-blockquote": _html(b"blockquote"),
    "html-ul-li": _html(b"ul><li"),
    "punycode-body": punycode_body,
    "punycode-words": punycode_words,
    "long-line": long_line,
    "rule-line": rule_line,
    "header-blanks": header_blanks,
    "multipart-depth": multipart_depth,
    "header-count": header_count,
    "gzip-bomb": _bomb(lambda b: gzip.compress(b, 9), 1000),
    "xz-bomb": _bomb(lambda b: lzma.compress(b, preset=9), 7000),
}


def baseline(size: int) -> bytes:
    """A small ordinary message: what start-up and a store cost without any attack."""
    return HEAD + b"Content-Type: text/plain\n\nHello, see you on Friday.\n"


def run_case(name: str, size: int, timeout: float) -> tuple[float | None, float, int]:
    """Return (seconds or None on timeout, peak RSS MiB, exit code) of one scan."""
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "input"
        # Built by a child: ru_maxrss counts a forked child's pages from before its
        # exec, so this process must stay small (xz at preset 9 takes 674 MiB).
        subprocess.run([sys.executable, __file__, "--build", name, str(size), str(path)],
                       check=True)
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "shingles", "scan", "--store", str(pathlib.Path(tmp) / "s"),
             str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                child.kill()
                _, status, usage = os.wait4(child.pid, 0)
                return None, usage.ru_maxrss / 1024, -9
            time.sleep(0.01)
        child.returncode = os.waitstatus_to_exitcode(status)
        return time.perf_counter() - started, usage.ru_maxrss / 1024, child.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,16", help="input sizes in MB")
    parser.add_argument("--cases", default="all", help="comma-separated case names")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--build", nargs=3, metavar=("CASE", "SIZE", "PATH"),
                        help=argparse.SUPPRESS)  # the child that writes one input
    args = parser.parse_args()
    if args.build:
        name, size, path = args.build
        pathlib.Path(path).write_bytes((CASES.get(name) or baseline)(int(size)))
        return
    names = list(CASES) if args.cases == "all" else args.cases.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    base, base_rss, _ = run_case("baseline", 0, args.timeout)
    assert base is not None
    print(f"baseline (one small message): {base:.2f} s, {base_rss:.0f} MiB; "
          "'net' is seconds minus that")
    print("| case | MB | seconds | net | peak RSS MiB | exit |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for name in names:
        for size in sizes:
            seconds, rss, code = run_case(name, size * MB, args.timeout)
            shown = (f">{args.timeout:.0f} | - " if seconds is None
                     else f"{seconds:.2f} | {seconds - base:.2f}")
            worst = max(worst, args.timeout if seconds is None else seconds)
            print(f"| {name} | {size} | {shown} | {rss:.0f} | {code} |", flush=True)
    print(f"slowest case: {worst:.2f} s (target < 2 s)", file=sys.stderr)


if __name__ == "__main__":
    main()
