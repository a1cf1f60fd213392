"""Two trusted-zone attacks of issue 13, run as whole streams: what the verdicts become.

    PYTHONPATH=. python bench/bench_attacks.py

1. A HELO literal (item 1): a spam run from 60 /24 networks. Our MX writes
   `Received: from [10.0.0.5] (host.isp.example [198.51.N.9]) by mx.example.org`;
   below it the sender forged `Received-SPF: pass` and a Received line from one
   bank address, and the copies carry List-Unsubscribe. Read with the HELO literal
   as the source, the hop is private, the walk goes on into the forged lines, and
   the run looks like an honest newsletter from one IP.
2. Forged authentication results (item 2): 200 genuine copies of a newsletter from
   one bank address, our Authentication-Results above our Received (dkim=pass
   header.d=bank.example), interleaved with 300 forged copies from 300 /24
   networks carrying the same header text below our Received. Believed, the
   forged copies spread the authenticated identity over hundreds of networks and
   the genuine copies turn bulk-spam.

Each scenario runs on a fresh recall-mode store (the public seed, so runs agree)
with the default judge settings and prints the verdicts by kind (for 2, of the
genuine copies and of the forged).
The tests that hold the mechanism are tests/test_hostile_senders.py.
"""

from __future__ import annotations

import collections
import pathlib
import tempfile

from shingles.config import Config, SendersConfig, StoreSettings
from shingles.mail.parse import parse
from shingles.scheme import DEFAULT_SCHEME
from shingles.store.reader import Store
from shingles.verdicts.engine import Engine

CONFIG = Config(senders=SendersConfig(authserv_ids=("mx.example.org",)))
# The public seed: a new store's secret one would change which copies match first.
SETTINGS = StoreSettings(retention_days=0, seed=DEFAULT_SCHEME.seed)
WORDS = ("offer limited account verify secure today exclusive member savings price order "
         "shipping discount quality product online service customer support guarantee").split()
AUTH = ("Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=news@bank.example; "
        "dkim=pass header.d=bank.example; dmarc=pass")


def body(seed: int) -> str:
    """A text of 120 words, the same for every copy but for one token."""
    words = [WORDS[(i * 7 + i // 5) % len(WORDS)] for i in range(120)]
    return " ".join(words) + f"\nref {seed:08x}\n"


def message(n: int, headers: list[str], sender: str) -> bytes:
    lines = [*headers, f"From: {sender}", "To: user@example.org", "Subject: your account",
             f"Message-ID: <{n}@{sender.split('@')[1]}>",
             f"Date: Mon, 2 Mar 2026 {9 + n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d} +0000",
             "List-Unsubscribe: <mailto:unsub@bank.example>", "", body(n)]
    return "\n".join(lines).encode()


def judge(raws: list[bytes]) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp, \
            Store(pathlib.Path(tmp) / "s", settings=SETTINGS) as store:
        engine = Engine(store, CONFIG)
        return [getattr(v, "verdict", "error")
                for v in engine.scan([parse(raw, config=CONFIG) for raw in raws])]


def helo_literal() -> None:
    raws = [message(n, [
        f"Received: from [10.0.0.5] (host{n}.isp.example [198.51.{n}.9]) by mx.example.org "
        f"(Postfix) with ESMTP id {n}; Mon, 2 Mar 2026 09:00:00 +0000",
        "Received-SPF: pass (forged) client-ip=192.0.2.1",
        "Received: from out.bank.example (out.bank.example [192.0.2.1]) by relay.example; "
        "Mon, 2 Mar 2026 08:59:00 +0000"], "news@spam.example") for n in range(60)]
    print("1. HELO literal, 60 copies from 60 networks:",
          dict(collections.Counter(judge(raws))))


def forged_results() -> None:
    raws, genuine = [], []
    for n in range(500):
        if n % 5 in (0, 2):  # 200 genuine: ours above our Received, from the bank
            raws.append(message(n, [AUTH, "Received: from out.bank.example (out.bank.example "
                                    "[192.0.2.1]) by mx.example.org (Postfix) with ESMTP id "
                                    f"{n}; Mon, 2 Mar 2026 09:00:00 +0000"], "news@bank.example"))
            genuine.append(True)
        else:  # 300 forged: the same header text below our Received, from anywhere
            raws.append(message(n, [f"Received: from h{n}.example (h{n}.example "
                                    f"[203.{n // 250}.{n % 250}.7]) by mx.example.org "
                                    f"(Postfix) with ESMTP id {n}; Mon, 2 Mar 2026 09:00:00 "
                                    "+0000", AUTH], "news@bank.example"))
            genuine.append(False)
    verdicts = judge(raws)
    print("2. forged Authentication-Results: genuine copies",
          dict(collections.Counter(v for v, g in zip(verdicts, genuine) if g)),
          "forged copies", dict(collections.Counter(v for v, g in zip(verdicts, genuine) if not g)))


if __name__ == "__main__":
    helo_literal()
    forged_results()
