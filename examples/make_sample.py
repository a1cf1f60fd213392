"""Write examples/sample.mbox: a small mail stream the project made up itself.

Run ``python examples/make_sample.py`` to regenerate it; the output is
deterministic (fixed seed), so the committed file never drifts.

It holds three kinds of mail, the kinds shingles must tell apart:
- a legitimate newsletter: 4 copies from one sender network, personalised
  greetings, list headers, SPF pass recorded by our MX (mx.shingles.test, the
  authserv-id that examples/shingles.toml trusts);
- a spam run: 25 copies from 25 networks, with random "hash-buster" tokens,
  Cyrillic look-alike letters and changed order numbers;
- personal mail: 4 unrelated notes, two of them very short.
"""

from __future__ import annotations

import pathlib
import random
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

OUT = pathlib.Path(__file__).resolve().parent / "sample.mbox"
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

NEWSLETTER = """Hello {name},

This month at the Riverside Community Garden we are planting the spring beds,
repairing the tool shed and starting the seed library that so many of you asked
for. Volunteers meet every Saturday at nine in the morning by the north gate;
bring gloves and a water bottle, we provide the tools and the coffee.

The seed library opens on the first of April. Members may borrow up to five
packets a season and return seeds from their own harvest in the autumn. Our
thanks go to the county library for the old card catalogue we now use for it.

Workshops this month: composting basics, pruning fruit trees, and growing
tomatoes on a balcony. Places are limited, so please reply to reserve one.

Happy gardening,
The Riverside Garden team
"""

SPAM = """Dear friend,

Y{o}u have been selected f{o}r an exclusive {o}ffer: our certified online
pharmacy ships br{a}nd medications at up to 80 percent below retail prices,
with no prescription needed and discreet packaging to your door.

Order number {order} is reserved in your name for the next 48 hours only.
Visit our secure store today and claim your free bonus pills with every
order over 100 dollars. Thousands of satisfied customers cannot be wrong.

This offer expires soon. Act now before the stock runs out!
Reference: {token}
"""

PERSONAL = [
    ("anna@example.org", "Re: Saturday",
     "Sounds good, I will bring the cake. See you at four.\n\nAnna\n"),
    ("bob@example.net", "Thanks!", "Thanks!\n"),
    ("carol@example.com", "Draft of the report",
     "Hi Dan,\n\nI attached nothing yet, but here is my plan for the report: first the\n"
     "numbers from the March survey, then the interviews, and last the budget for\n"
     "next year. Could you look at the budget part before Thursday? I am not sure\n"
     "the travel costs are right, they look too low to me compared with last year.\n\n"
     "Carol\n"),
    ("dan@example.com", "Re: lunch", "ok\n"),
]


def message(sender: str, subject: str, body: str, when: datetime, ip: str, n: int,
            extra: dict[str, str] | None = None) -> str:
    extra = dict(extra or {})
    # Our MX's results go above its Received header: below it they would be the
    # sender's, and not believed (RFC 8601 section 5).
    auth = {k: extra.pop(k) for k in ("Authentication-Results",) if k in extra}
    headers = {
        "Return-Path": f"<{sender}>",
        **auth,
        "Received": f"from mail{n}.sender.test ([{ip}]) by mx.shingles.test with ESMTP "
                    f"id {n:08x}; {format_datetime(when)}",
        "From": sender,
        "To": f"user{n}@shingles.test",
        "Subject": subject,
        "Date": format_datetime(when),
        "Message-ID": f"<{n}.{int(when.timestamp())}@{sender.split('@')[1]}>",
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Transfer-Encoding": "8bit",
        **extra,
    }
    head = "".join(f"{k}: {v}\n" for k, v in headers.items())
    return f"From {sender} {when.strftime('%a %b %d %H:%M:%S %Y')}\n{head}\n{body}\n"


def main() -> None:
    rnd = random.Random(2004)
    out, n = [], 0
    for i, name in enumerate(["Alice", "Boris", "Chen", "Dolores"]):
        n += 1
        out.append(message("news@garden.example", "Riverside Garden: March news",
                           NEWSLETTER.format(name=name), START + timedelta(minutes=i),
                           "192.0.2.10", n,
                           {"List-Id": "<news.garden.example>",
                            "List-Unsubscribe": "<mailto:leave@garden.example>",
                            "Authentication-Results": "mx.shingles.test; spf=pass "
                                                      "smtp.mailfrom=news@garden.example"}))
    for i in range(25):
        n += 1
        token = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
        body = SPAM.format(o=rnd.choice(["o", "\u043e"]), a=rnd.choice(["a", "\u0430"]),
                           order=rnd.randint(100000, 999999), token=token)
        out.append(message(f"sales{rnd.randint(1, 999)}@pharma{i}.example",
                           f"Your order {rnd.randint(1000, 9999)} is waiting", body,
                           START + timedelta(hours=1, minutes=2 * i), f"198.51.{100 + i}.{20 + i}",
                           n))
    for i, (sender, subject, body) in enumerate(PERSONAL):
        n += 1
        out.append(message(sender, subject, body, START + timedelta(hours=2, minutes=i),
                           f"203.0.113.{5 + i}", n))
    OUT.write_text("".join(out), encoding="utf-8")
    print(f"wrote {OUT} ({n} messages)")


if __name__ == "__main__":
    main()
