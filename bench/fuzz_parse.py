"""Fuzz the mail parser for a set time; report inputs tried and failures found.

    python bench/fuzz_parse.py [--seconds 60] [--engine atheris|random] [--seed 1]

A failure is any of:
- an exception other than MailParseError (no mail at all) from shingles.mail.parse.parse;
- the lean splitter and the standard parser giving different records;
- one input taking more than --slow seconds.
Failing inputs are written to bench/out/fuzz/failures/ (named by their SHA-256)
so they can become crafted test messages.

Engines: "atheris" (coverage-guided libFuzzer over the instrumented shingles
modules; pip install atheris) and "random" (a seeded mutator: byte flips,
insertions, deletions, splices of two messages, repeated and nested MIME
boundaries, header floods, truncation). Both start from the crafted messages in
tests/data and the first messages of the corpus, when present.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import random
import sys
import time
import traceback
from collections.abc import Callable

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "out" / "fuzz" / "failures"
sys.path.insert(0, str(HERE))


class Stats:
    tried = 0
    failures = 0
    not_mail = 0
    kinds: dict[str, int] = {}


def seeds(per_file: int) -> list[bytes]:
    """Return the seed messages: crafted test files, then the first corpus messages."""
    from corpus import corpus_dir
    from shingles.mail.read import RawMessage, read_raw

    found = [p.read_bytes() for p in sorted((HERE.parent / "tests" / "data").rglob("*"))
             if p.is_file()]
    folder = corpus_dir()
    for box in sorted(folder.glob("*.mbox.gz")) if folder else []:
        for i, raw in enumerate(read_raw(box)):
            if i >= per_file:
                break
            if isinstance(raw, RawMessage):
                found.append(raw.data)
    return found


def make_check(slow: float) -> Callable[[bytes], None]:
    from shingles.errors import MailParseError
    from shingles.mail.parse import LEAN_AVAILABLE, parse

    def fail(kind: str, data: bytes, detail: str) -> None:
        Stats.failures += 1
        Stats.kinds[kind] = Stats.kinds.get(kind, 0) + 1
        OUT.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(data).hexdigest()[:16]
        (OUT / f"{kind}-{name}.eml").write_bytes(data)
        if Stats.kinds[kind] <= 3:
            print(f"FAIL {kind} ({len(data)} bytes, saved {name}): {detail}", file=sys.stderr)

    def check(data: bytes) -> None:
        Stats.tried += 1
        start = time.perf_counter()
        try:
            std = parse(data, "fuzz", lean=False)
        except MailParseError:
            Stats.not_mail += 1
            return
        except Exception:  # noqa: BLE001 - any other exception is what we hunt
            fail("exception", data, traceback.format_exc(limit=3).strip().splitlines()[-1])
            return
        if LEAN_AVAILABLE:
            try:
                fast = parse(data, "fuzz")
            except Exception:  # noqa: BLE001
                fail("lean-exception", data, traceback.format_exc(limit=3).splitlines()[-1])
                return
            if fast != std:
                fail("lean-differs", data, "lean and standard records differ")
        if time.perf_counter() - start > slow:
            fail("slow", data, f"{time.perf_counter() - start:.2f} s")

    return check


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """Return a random variant of data."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(9)
        at = rng.randrange(len(b) + 1)
        if op == 0 and b:  # flip bytes
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1:  # insert interesting bytes
            b[at:at] = rng.choice([b"\r", b"\n", b"\r\n", b"\x00", b"\xff", b"--", b"=?",
                                   b"?=", b";", b'"', b"\\", b"<", b">", b" ", b"\t", b":",
                                   b"=\n", b"=XX", b"&#", b"<!--", b"\x1b$B"])
        elif op == 2 and b:  # delete a run
            del b[at:at + rng.randint(1, 64)]
        elif op == 3 and pool:  # splice in part of another message
            other = rng.choice(pool)
            o = rng.randrange(len(other) + 1)
            b[at:at] = other[o:o + rng.randint(1, 512)]
        elif op == 4:  # truncate
            del b[at:]
        elif op == 5:  # repeat a run
            run = bytes(b[at:at + rng.randint(1, 128)])
            b[at:at] = run * rng.randint(1, 50)
        elif op == 6:  # a boundary line, maybe an unknown or outer one
            bnd = rng.choice([b"b", b"XX", b"outer", b"inner", b"=_", b""])
            b[at:at] = b"\n--" + bnd + rng.choice([b"", b"--", b" ", b"\r"]) + b"\n"
        elif op == 7:  # a MIME header
            b[at:at] = rng.choice([
                b"Content-Type: multipart/mixed; boundary=b\n",
                b'Content-Type: multipart/alternative; boundary="b"\n',
                b"Content-Type: message/rfc822\n", b"Content-Type: text/html; charset=koi8-r\n",
                b"Content-Transfer-Encoding: base64\n", b"Content-Transfer-Encoding: qu\n",
                b"Content-Type: text/plain; charset*=utf-8''%E2%82\n",
                b"Content-Disposition: attachment; filename*0=a; filename*1=b\n",
                b"Received: from x ([1.2.3.4]) by y; Mon, 32 Foo 99999 25:61:61 +9999\n",
                b"Date: Feb 30 2002\n", b"From: =?utf-8?b?====?= <@>\n"])
        else:  # deep nesting or a header flood
            if rng.random() < 0.5:
                depth = rng.randint(10, 300)
                nest = b"".join(b"Content-Type: multipart/mixed; boundary=n%d\n\n--n%d\n" % (i, i)
                                for i in range(depth))
                b[at:at] = nest
            else:
                b[at:at] = b"X-Flood: v\n" * rng.randint(100, 5000)
    return bytes(b[: 1 << 20])


def run_random(check: Callable[[bytes], None], pool: list[bytes], seconds: float,
               seed: int) -> None:
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    for data in pool:
        check(data)
    while time.monotonic() < deadline:
        check(mutate(rng, rng.choice(pool), pool))


def run_atheris(check: Callable[[bytes], None], pool: list[bytes], seconds: float,
                seed: int) -> None:
    import tempfile

    import atheris

    seed_dir = pathlib.Path(tempfile.mkdtemp(prefix="shingles-fuzz-"))
    for i, data in enumerate(pool):
        (seed_dir / f"seed{i}").write_bytes(data)
    deadline = time.monotonic() + seconds

    def one_input(data: bytes) -> None:
        if time.monotonic() > deadline:
            report("atheris", seconds)
            os._exit(1 if Stats.failures else 0)  # libFuzzer would otherwise run on
        check(data)

    atheris.Setup([sys.argv[0], f"-seed={seed}", "-max_len=200000", "-rss_limit_mb=4096",
                   "-print_final_stats=0", str(seed_dir)], one_input)
    atheris.Fuzz()


def report(engine: str, seconds: float) -> None:
    print(f"fuzz_parse: engine {engine}, {seconds:.0f} s: {Stats.tried} inputs tried "
          f"({Stats.not_mail} rejected as not mail), {Stats.failures} failures"
          + (f" {Stats.kinds}" if Stats.kinds else "")
          + (f"; inputs saved in {OUT}" if Stats.failures else ""), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--engine", choices=("atheris", "random"), default="random")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--slow", type=float, default=2.0, help="seconds one input may take")
    ap.add_argument("--seeds-per-file", type=int, default=200)
    args = ap.parse_args(argv)
    if args.engine == "atheris":
        import atheris

        # Instrument before anything imports shingles: coverage guides the mutations.
        with atheris.instrument_imports(include=["shingles"]):
            import shingles.mail.read  # noqa: F401
            import shingles.mail.parse  # noqa: F401
        pool = seeds(args.seeds_per_file)
        run_atheris(make_check(args.slow), pool, args.seconds, args.seed)
    else:
        pool = seeds(args.seeds_per_file)
        run_random(make_check(args.slow), pool, args.seconds, args.seed)
    report(args.engine, args.seconds)
    return 1 if Stats.failures else 0


if __name__ == "__main__":
    sys.exit(main())
