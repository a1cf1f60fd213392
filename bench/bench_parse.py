"""Messages per second per core for read + parse + visible text, ours beside ``email``.

    python bench/bench_parse.py [--repeat 3] [--out bench/out/parse]

Every path reads the same .mbox.gz files with shingles.mail.read (gzip included in
the time) and then:

- shingles (full Mail): shingles.mail.parse.parse, the whole record: lean MIME split
  (standard parser for what it hands back), visible and quoted text with HTML
  rendered, attachments digested, Received hops, trusted-zone walk, addresses,
  dates, auth results.
- shingles (split + text): the same split and visible text, no header facts: the
  work the two email rows below do, for a like-for-like figure.
- email compat32 / email default: email.message_from_bytes with that policy, then
  the text a client shows: compat32 walks the parts and decodes text/plain and
  text/html with get_payload(decode=True) and the part's charset (HTML left as
  markup, so this row does less than ours); default asks get_body() for
  html-or-plain and get_content().

"Per core" is messages per CPU second of this one process (time.process_time),
so other load on the machine does not lower it; wall-clock rates are printed too.
Each figure is the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import pathlib
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from corpus import require_corpus  # noqa: E402
from shingles.config import DEFAULT_CONFIG  # noqa: E402
from shingles.mail.records import MailError  # noqa: E402
from shingles.mail.read import RawMessage, read_raw  # noqa: E402
from shingles.mail.parse import LEAN_AVAILABLE, _Walk, parse, tree_of  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def ours_full(raw: RawMessage) -> object:
    return parse(raw.data, raw.source)


def ours_text(raw: RawMessage) -> object:
    tree, _ = tree_of(raw.data)
    walk = _Walk(DEFAULT_CONFIG.limits)
    walk.visit(tree, "text/plain", 0, True, False)
    return "\n".join(walk.text)


def email_compat32(raw: RawMessage) -> object:
    msg = email.message_from_bytes(raw.data, policy=email.policy.compat32)
    texts = []
    for part in msg.walk():
        if part.get_content_maintype() != "text" or part.get_filename():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            try:
                texts.append(payload.decode(part.get_content_charset() or "ascii", "replace"))
            except LookupError:
                texts.append(payload.decode("latin-1"))
    return "\n".join(texts)


def email_default(raw: RawMessage) -> object:
    msg = email.message_from_bytes(raw.data, policy=email.policy.default)
    try:
        body = msg.get_body(("html", "plain"))  # type: ignore[attr-defined]
        return body.get_content() if body is not None else ""
    except (LookupError, ValueError, AssertionError):
        return ""  # unknown charsets and broken parts: email raises, the message counts


PATHS: dict[str, Callable[[RawMessage], object]] = {
    "shingles (full Mail)": ours_full,
    "shingles (split + text)": ours_text,
    "email compat32 (parse + text)": email_compat32,
    "email default (parse + text)": email_default,
}


def run(files: Iterable[pathlib.Path], work: Callable[[RawMessage], object],
        ) -> tuple[int, float, float]:
    """Return (messages, CPU seconds, wall seconds) of reading and working through files."""
    cpu, wall = time.process_time(), time.perf_counter()
    n = 0
    for raw in read_raw(list(files)):
        if isinstance(raw, MailError):
            raise SystemExit(f"bench_parse: {raw.source}: {raw.error}")
        work(raw)
        n += 1
    return n, time.process_time() - cpu, time.perf_counter() - wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    ap.add_argument("--out", default=str(HERE / "out" / "parse"))
    args = ap.parse_args(argv)
    files = sorted(require_corpus().glob("*.mbox.gz"))

    handed_back = total = 0
    for raw in read_raw(files):
        total += 1
        handed_back += tree_of(raw.data)[1] == "email"  # type: ignore[union-attr]
    print(f"corpus: {', '.join(f.name for f in files)}: {total} messages; "
          f"lean splitter {'compiled' if LEAN_AVAILABLE else 'NOT compiled'}, "
          f"{handed_back} handed back to email ({100 * handed_back / total:.1f}%)")
    results: dict[str, Any] = {"messages": total, "handed_back": handed_back, "paths": {}}
    print(f"{'path':32s} {'msgs/s/core':>12s} {'us/msg':>8s} {'msgs/s wall':>12s}")
    for name, work in PATHS.items():
        best = None
        for _ in range(args.repeat):
            n, cpu, wall = run(files, work)
            if best is None or cpu < best[1]:
                best = (n, cpu, wall)
        assert best is not None
        n, cpu, wall = best
        print(f"{name:32s} {n / cpu:12.0f} {1e6 * cpu / n:8.1f} {n / wall:12.0f}")
        results["paths"][name] = {"messages": n, "cpu_seconds": round(cpu, 4),
                                  "per_core": round(n / cpu), "wall_seconds": round(wall, 4)}
    out = pathlib.Path(args.out) / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
