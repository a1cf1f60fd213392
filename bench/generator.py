"""Mailings and labelled mail streams made from real corpus messages, deterministic by seed.

Importable, so another engine can be fed the very same messages:

    from bench.generator import load_bases, Vocabulary, mailing, stream
    bases = load_bases()                       # corpus messages of >= 100 words
    vocab = Vocabulary.of(bases)
    raws = mailing(bases[0], "substitute", 0.05, copies=20, vocab=vocab, seed=1)
    for item in stream(bases, seed=1): item.raw, item.label, item.mailing

A copy is made from the base's visible text (what shingles.mail.parse finds in the
corpus message): the text is cut into words and line breaks, a mutation
changes it at a controlled rate, and the result is written out as a raw RFC 5322
message (text/plain, or text/html when the mutation hides noise in markup).
The base itself is written out by the same code with no mutation, so base and
copies take the same path through the parser.

Mutation kinds (rate = share of the base's words touched, unless noted):
  substitute, insert, delete      words replaced by / added from / removed
  greeting                        "Dear <name>," line and a P.S. with the name
  token                           hash-buster tokens (random letters+digits) at rate
  numbers                         every number changed, an order number added
  greeting+token                  a personal greeting plus one random token line
  html-span, html-comment,        invisible HTML noise (1-3 random words) at rate:
  html-zerofont, html-fonttag     display:none spans, comments, style font-size:0,
                                  <font size="0">
  reflow                          lines re-broken at random widths, stray white space
  homoglyph                       a Latin letter of a word swapped for its Cyrillic look-alike
  url                             every link changed (host and tracking path) and one added
  mixed                           greeting+token, substitute at rate, html-span at rate/2,
                                  homoglyph at rate, reflow and url together
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import random
import re
import string
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from bench.corpus import raw_messages
from shingles.config import Config, SendersConfig
from shingles.mail.records import Mail
from shingles.mail.parse import parse
from shingles.fingerprint import Fingerprint, fingerprint

__all__ = ["AUTHSERV_ID", "Base", "CONFIG", "CONDITIONS", "Draft", "KINDS", "Labelled",
           "Vocabulary", "corpus_mails", "distinct_mails", "load_bases", "mailing", "mutate", "render",
           "stream"]

#: The authserv-id our own MX writes Authentication-Results under; the parser
#: believes only that one (CONFIG), as a real deployment would.
AUTHSERV_ID = "mx.bench.example"
CONFIG = Config(senders=SendersConfig(authserv_ids=(AUTHSERV_ID,)))
NL = "\n"  # a line break among the words of a Draft
RAW = "\x01"  # prefix of a piece of markup among the words of a Draft
T0 = datetime(2026, 9, 1, tzinfo=timezone.utc)

FIRST = ["Anna", "Boris", "Chen", "Dara", "Emil", "Fatima", "Gosia", "Hugo", "Ines", "Jonas",
         "Kofi", "Lena", "Mateo", "Nadia", "Oleg", "Priya", "Quentin", "Rosa", "Sven", "Tanya"]
LAST = ["Petrov", "Smith", "Wei", "Garcia", "Kowalski", "Okafor", "Novak", "Schmidt", "Rossi",
        "Yilmaz", "Tanaka", "Dubois", "Haddad", "Larsen", "Moreau", "Singh"]
GREETINGS = ["Dear {},", "Hello {},", "Hi {} -", "Good morning {},", "{}, this is for you:"]
CYRILLIC = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "y": "у", "x": "х", "i": "і"}
_URL = re.compile(r"(?i)\b(?:https?://|www\.)\S+")
_DIGITS = re.compile(r"\d+")
_ALNUM = string.ascii_lowercase + string.digits


# ---------------------------------------------------------------- the corpus


@functools.lru_cache(maxsize=1)
def corpus_mails() -> tuple[tuple[str, Mail], ...]:
    """Return (source, parsed Mail) of every corpus message, ham first; exit if absent."""
    out = []
    for name in ("ham", "spam"):
        for number, raw in enumerate(raw_messages(name), 1):
            source = f"{name}:{number}"
            out.append((source, parse(raw, source, CONFIG)))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Base:
    """A corpus message a mailing is made of.

    Attributes:
        key: "ham:N" or "spam:N", its place in the corpus.
        subject: Its decoded Subject.
        text: Its visible text (quoted text left out), as shingles.mail.parse finds it.
        words: How many words (tokens of the fingerprint scheme) the text has.
    """

    key: str
    subject: str
    text: str
    words: int

    @property
    def spam(self) -> bool:
        """Return whether the base is a spam message of the corpus."""
        return self.key.startswith("spam:")


def distinct_mails(min_words: int = 0) -> list[tuple[str, Mail, Fingerprint]]:
    """Return (source, Mail, fingerprint) of the corpus messages, exact duplicates removed.

    Two texts are exact duplicates when they read the same number of words and
    have the same 84 min-hashes (equal shingle sets; in practice the same token
    stream); texts too short for min-hashes are compared by their words. Only
    texts of at least min_words words (tokens of the scheme) are kept.
    """
    seen: set[tuple[int, bytes]] = set()
    out = []
    for key, mail in corpus_mails():
        fp = fingerprint(mail.text)
        ident = fp.minhash_bytes or " ".join(mail.text.lower().split()).encode()
        if fp.tokens < min_words or (fp.tokens, ident) in seen:
            continue
        seen.add((fp.tokens, ident))
        out.append((key, mail, fp))
    return out


def load_bases(min_words: int = 100) -> list[Base]:
    """Return the distinct corpus messages of at least min_words words, as mailing bases."""
    return [Base(key, mail.subject, mail.text, fp.tokens)
            for key, mail, fp in distinct_mails(min_words)]


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Words a spammer's substitutions are drawn from: plain words of the corpus bases."""

    words: tuple[str, ...]

    @classmethod
    def of(cls, bases: list[Base]) -> Vocabulary:
        """Return the sorted set of alphabetic words (2-14 letters) of the bases."""
        found = {w.lower() for b in bases for w in b.text.split()
                 if w.isascii() and w.isalpha() and 2 <= len(w) <= 14}
        return cls(tuple(sorted(found)))

    def pick(self, rnd: random.Random) -> str:
        """Return a random word."""
        return rnd.choice(self.words)


# ---------------------------------------------------------------- mutations


@dataclasses.dataclass
class Draft:
    """A message body being mutated: words, line breaks (NL) and markup pieces (RAW...)."""

    pieces: list[str]
    html: bool = False

    @classmethod
    def of(cls, text: str) -> Draft:
        """Return the draft of a plain text."""
        pieces: list[str] = []
        for line in text.split("\n"):
            pieces.extend(line.split())
            pieces.append(NL)
        return cls(pieces)

    def word_positions(self) -> list[int]:
        """Return the indexes of the words (not line breaks, not markup)."""
        return [i for i, p in enumerate(self.pieces) if p != NL and not p.startswith(RAW)]

    def count(self, rate: float) -> int:
        """Return how many words a rate touches: round(rate x words), at least 1 if rate > 0."""
        n = len(self.word_positions())
        return max(1, round(rate * n)) if rate > 0 else 0

    def insert_at_random(self, items: list[str], rnd: random.Random) -> None:
        """Insert each item before a random piece."""
        for item in items:
            self.pieces.insert(rnd.randrange(len(self.pieces) + 1), item)


def random_token(rnd: random.Random, low: int = 8, high: int = 16) -> str:
    """Return a hash-buster token: random lower-case letters and digits."""
    return "".join(rnd.choice(_ALNUM) for _ in range(rnd.randint(low, high)))


def random_name(rnd: random.Random) -> tuple[str, str]:
    """Return a random (first, last) name."""
    return rnd.choice(FIRST), rnd.choice(LAST)


def _substitute(d: Draft, rate: float, rnd: random.Random, v: Vocabulary) -> None:
    for i in rnd.sample(d.word_positions(), d.count(rate)):
        d.pieces[i] = v.pick(rnd)


def _insert(d: Draft, rate: float, rnd: random.Random, v: Vocabulary) -> None:
    d.insert_at_random([v.pick(rnd) for _ in range(d.count(rate))], rnd)


def _delete(d: Draft, rate: float, rnd: random.Random, v: Vocabulary) -> None:
    for i in sorted(rnd.sample(d.word_positions(), d.count(rate)), reverse=True):
        del d.pieces[i]


def _greeting(d: Draft, rate: float, rnd: random.Random, v: Vocabulary) -> None:
    first, last = random_name(rnd)
    who = rnd.choice([first, f"{first} {last}", f"Mr. {last}", f"Ms. {last}"])
    d.pieces[:0] = rnd.choice(GREETINGS).format(who).split() + [NL, NL]
    d.pieces += [NL, "P.S.", f"{first},", "this", "offer", "was", "reserved", "for", "you.", NL]


def _token(d: Draft, rate: float, rnd: random.Random, v: Vocabulary) -> None:
    d.insert_at_random([random_token(rnd) for _ in range(d.count(rate))], rnd)
    d.pieces += [NL, "ref:", random_token(rnd), NL]


def _numbers(d: Draft, rate: float, rnd: random.Random, v: Vocabulary) -> None:
    for i in d.word_positions():
        d.pieces[i] = _DIGITS.sub(lambda m: str(rnd.randrange(10 ** len(m.group()))), d.pieces[i])
    d.pieces[:0] = ["Order", f"#{rnd.randrange(10**9)}", "of", f"{rnd.randint(1, 28)}/"
                    f"{rnd.randint(1, 12)}/2026", NL]


def _greeting_token(d: Draft, rate: float, rnd: random.Random, v: Vocabulary) -> None:
    first, last = random_name(rnd)
    d.pieces[:0] = rnd.choice(GREETINGS).format(rnd.choice([first, f"{first} {last}"])).split() \
        + [NL]
    d.pieces += [NL, "ref", random_token(rnd, 16, 16), NL]


def _noise(template: str) -> Callable[[Draft, float, random.Random, Vocabulary], None]:
    def apply(d: Draft, rate: float, rnd: random.Random, v: Vocabulary) -> None:
        d.html = True
        noise = [RAW + template.format(" ".join(v.pick(rnd) for _ in range(rnd.randint(1, 3))))
                 for _ in range(d.count(rate))]
        d.insert_at_random(noise, rnd)
    return apply


def _reflow(d: Draft, rate: float, rnd: random.Random, v: Vocabulary) -> None:
    words = [p for p in d.pieces if p != NL]
    out: list[str] = []
    width, used = rnd.randint(30, 90), 0
    for w in words:
        if used + len(w) > width:
            out.append(NL)
            if rnd.random() < 0.15:
                out.append(NL)  # a stray blank line
            used = 0
        pad = rnd.choice(["", "", "", " ", "\t", "  "])  # stray white space
        out.append(w + pad if not w.startswith(RAW) else w)
        used += len(w) + 1
    d.pieces = out + [NL]


def _homoglyph(d: Draft, rate: float, rnd: random.Random, v: Vocabulary) -> None:
    # One swapped letter in a word of 4+ letters: Latin stays the majority, as in
    # "pаypal"; a word made all-Cyrillic would read as a different word.
    candidates = [i for i in d.word_positions()
                  if len(d.pieces[i]) >= 4 and any(c in CYRILLIC for c in d.pieces[i])]
    for i in rnd.sample(candidates, min(len(candidates), d.count(rate))):
        word = d.pieces[i]
        at = rnd.choice([j for j, c in enumerate(word) if c in CYRILLIC])
        d.pieces[i] = word[:at] + CYRILLIC[word[at]] + word[at + 1:]


def _url(d: Draft, rate: float, rnd: random.Random, v: Vocabulary) -> None:
    host = f"{random_token(rnd, 5, 9)}.{rnd.choice(['com', 'net', 'biz', 'info'])}"

    def changed(_: re.Match[str]) -> str:
        return f"http://{host}/r/{random_token(rnd)}?u={random_token(rnd, 6, 10)}"

    for i in d.word_positions():
        d.pieces[i] = _URL.sub(changed, d.pieces[i])
    d.pieces += [NL, "Click:", changed(None), NL]  # type: ignore[arg-type]


def _mixed(d: Draft, rate: float, rnd: random.Random, v: Vocabulary) -> None:
    _substitute(d, rate, rnd, v)
    _homoglyph(d, rate, rnd, v)
    _url(d, rate, rnd, v)
    _greeting_token(d, rate, rnd, v)
    _reflow(d, rate, rnd, v)
    MUTATIONS["html-span"](d, rate / 2, rnd, v)


MUTATIONS: dict[str, Callable[[Draft, float, random.Random, Vocabulary], None]] = {
    "substitute": _substitute, "insert": _insert, "delete": _delete,
    "greeting": _greeting, "token": _token, "numbers": _numbers,
    "greeting+token": _greeting_token,
    "html-span": _noise('<span style="display:none">{}</span>'),
    "html-comment": _noise("<!-- {} -->"),
    "html-zerofont": _noise('<span style="font-size:0px">{}</span>'),
    "html-fonttag": _noise('<font size="0">{}</font>'),
    "reflow": _reflow, "homoglyph": _homoglyph, "url": _url, "mixed": _mixed,
}
KINDS = tuple(MUTATIONS)

#: (kind, rate) pairs the recall bench measures; the rate is ignored by kinds without one.
CONDITIONS: tuple[tuple[str, float], ...] = (
    *(("substitute", r) for r in (0.01, 0.02, 0.05, 0.10, 0.15, 0.20)),
    *(("insert", r) for r in (0.05, 0.10, 0.20)),
    *(("delete", r) for r in (0.05, 0.10, 0.20)),
    ("greeting", 0.0), ("greeting+token", 0.0), ("numbers", 0.0),
    *(("token", r) for r in (0.01, 0.05)),
    *((kind, 0.05) for kind in ("html-span", "html-comment", "html-zerofont", "html-fonttag")),
    ("reflow", 0.0), ("homoglyph", 0.10), ("homoglyph", 0.50), ("url", 0.0),
    *(("mixed", r) for r in (0.02, 0.05, 0.10)),
)


def mutate(base: Base, kind: str, rate: float, rnd: random.Random, vocab: Vocabulary) -> Draft:
    """Return a draft of base changed by one mutation kind at rate; raise KeyError if unknown."""
    draft = Draft.of(base.text)
    MUTATIONS[kind](draft, rate, rnd, vocab)
    return draft


# ---------------------------------------------------------------- raw messages


#: Header fields a sending program may add beside the core ones (a value per program).
_EXTRAS = (("X-Priority", "3"), ("X-MSMail-Priority", "Normal"), ("Importance", "normal"),
           ("X-Auto-Response-Suppress", "All"), ("Content-Language", "en-US"),
           ("Reply-To", "{sender}"), ("X-Campaign", "c{number}"))
_MAILERS = (None, None, "Microsoft Outlook 16.0", "PHPMailer 6.{v}.{w} "
            "(https://github.com/PHPMailer/PHPMailer)", "Mozilla Thunderbird {v}.{w}",
            "Apple Mail (2.{v}{w})", "SendBlaster {v}", "The Bat! (v{v}.{w}) Professional",
            "Mailman {v}.{w}", "AtomPark Mass Mailer {v}")


@dataclasses.dataclass(frozen=True)
class Software:
    """The program that writes a campaign's headers (bench of the header trace, issue 20).

    Copies of one campaign share it: the order of the header fields, the
    Message-ID format, the X-Mailer; other campaigns draw their own.
    """

    order: tuple[str, ...]  # the core fields and the chosen extras, in the program's order
    id_format: int
    id_domain: str  # "from" (the sender's domain) or a fixed host name
    mailer: str | None
    number: int

    @classmethod
    def pick(cls, rnd: random.Random) -> Software:
        """Return a random program."""
        core = ["From", "To", "Subject", "Date", "Message-ID"]
        extras = [name for name, _ in _EXTRAS if rnd.random() < 0.3]
        order = core + extras
        rnd.shuffle(order)
        mailer = rnd.choice(_MAILERS)
        if mailer:
            mailer = mailer.format(v=rnd.randrange(1, 20), w=rnd.randrange(10))
        domain = rnd.choice(["from", "from", f"{random_token(rnd, 4, 8)}.mailer.example",
                             "localhost.localdomain"])
        return cls(tuple(order), rnd.randrange(8), domain, mailer, rnd.randrange(1000))

    def message_id(self, unique: str, from_addr: str) -> str:
        """Return this program's Message-ID for a message (unique: any per-message text)."""
        h = hashlib.sha1(unique.encode()).hexdigest()
        n = int(h, 16)
        domain = from_addr.rpartition("@")[2] if self.id_domain == "from" else self.id_domain
        local = (f"{h[:16]}", f"{h[:32]}", f"{n % 10**13:013d}.{n % 10**6:06d}.JavaMail.app",
                 f"{h[:8].upper()}-{h[8:12].upper()}-{h[12:24].upper()}",
                 f"{n % 10**14:014d}${h[:10]}", f"CA+{h[:20].upper()}{h[20:36]}",
                 f"{h[:12]}.{h[12:20]}", f"{n % 10**10:010d}.{h[:12]}")[self.id_format]
        return f"{local}@{domain}"

    def headers(self, values: dict[str, str], sender: str) -> list[str]:
        """Return the program's header lines, core values given, in its order."""
        extras = dict(_EXTRAS)
        out = []
        for name in self.order:
            value = values[name] if name in values else extras[name].format(
                sender=sender, number=self.number)
            out.append(f"{name}: {value}")
        if self.mailer:
            out.append(f"X-Mailer: {self.mailer}")
        return out


@dataclasses.dataclass(frozen=True)
class Envelope:
    """How one message travels: sender, the hops that carried it, authentication, list headers."""

    from_addr: str
    hops: tuple[tuple[str, str], ...]  # (host name, IP), the one that handed it to our MX first
    spf: str | None = None
    list_id: str | None = None
    software: Software | None = None  # None: the plain header of the first benches


def _html(pieces: list[str]) -> str:
    out = ["<html><body><p>"]
    for p in pieces:
        if p == NL:
            out.append("<br>\n")
        elif p.startswith(RAW):
            out.append(p[1:] + " ")
        else:
            out.append(p.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + " ")
    out.append("</p></body></html>\n")
    return "".join(out)


def _plain(pieces: list[str]) -> str:
    lines, line = [], []
    for p in pieces:
        if p == NL:
            lines.append(" ".join(line))
            line = []
        else:
            line.append(p)
    lines.append(" ".join(line))
    return "\n".join(lines).strip("\n") + "\n"


def render(draft: Draft, *, subject: str, to: str, message_id: str, date: datetime,
           envelope: Envelope, in_reply_to: str | None = None) -> bytes:
    """Return the draft as a raw RFC 5322 message (UTF-8, 8bit) with a Received chain."""
    head: list[str] = []
    when = format_datetime(date)
    first_host, first_ip = envelope.hops[0]
    # Topmost first: our MX's header names the host that handed the message over;
    # the ones below it are what that host claims (forgeable, as in real spam).
    head.append(f"Received: from {first_host} ({first_host} [{first_ip}])\n\tby {AUTHSERV_ID} "
                f"with ESMTP id {message_id[:12]}; {when}")
    for (host, ip), (_, by) in zip(envelope.hops[1:], envelope.hops):
        head.append(f"Received: from {host} ([{ip}])\n\tby {by} with SMTP; {when}")
    if envelope.spf:
        # Our MX writes its results above its own Received header: only results
        # above the first untrusted hop are believed (RFC 8601 section 5).
        domain = envelope.from_addr.rpartition("@")[2]
        head.insert(0, f"Authentication-Results: {AUTHSERV_ID};\n\tspf={envelope.spf} "
                    f"smtp.mailfrom={domain}")
    if envelope.software is None:
        head.append(f"From: {envelope.from_addr}")
        head.append(f"To: {to}")
        head.append(f"Subject: {subject}")
        head.append(f"Date: {when}")
        head.append(f"Message-ID: <{message_id}>")
    else:
        own_id = envelope.software.message_id(message_id, envelope.from_addr)
        head += envelope.software.headers({"From": envelope.from_addr, "To": to,
                                           "Subject": subject, "Date": when,
                                           "Message-ID": f"<{own_id}>"}, envelope.from_addr)
    if in_reply_to:
        head.append(f"In-Reply-To: <{in_reply_to}>")
    if envelope.list_id:
        head.append(f"List-Id: <{envelope.list_id}>")
        head.append(f"List-Unsubscribe: <mailto:leave@{envelope.list_id}>")
    kind = "html" if draft.html else "plain"
    head += ["MIME-Version: 1.0", f"Content-Type: text/{kind}; charset=utf-8",
             "Content-Transfer-Encoding: 8bit"]
    body = _html(draft.pieces) if draft.html else _plain(draft.pieces)
    body = body.replace("\nFrom ", "\n>From ")
    return ("\n".join(head) + "\n\n" + body).encode("utf-8")


def _ip(rnd: random.Random, net: str | None = None) -> str:
    if net:
        return f"{net}.{rnd.randrange(1, 255)}"
    return (f"{rnd.choice([24, 41, 58, 77, 89, 112, 151, 177, 186, 190, 201, 213, 217])}."
            f"{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}")


def _plain_envelope(rnd: random.Random, base_key: str, software: Software | None = None
                    ) -> Envelope:
    return Envelope(f"sender@{base_key.replace(':', '-')}.example",
                    ((f"mta.{base_key.replace(':', '-')}.example", _ip(rnd)),),
                    software=software)


def mailing(base: Base, kind: str, rate: float, copies: int, vocab: Vocabulary,
            seed: int = 1) -> list[bytes]:
    """Return [the base as a raw message, then `copies` mutated copies]; same seed, same bytes.

    Base and copies are written by one program (Software: header order,
    Message-ID format, X-Mailer), drawn per base and seed.
    """
    software = Software.pick(random.Random(f"software/{seed}/{base.key}"))
    out = []
    for i in range(copies + 1):
        rnd = random.Random(f"{seed}/{base.key}/{kind}/{rate}/{i}")
        draft = Draft.of(base.text) if i == 0 else mutate(base, kind, rate, rnd, vocab)
        out.append(render(draft, subject=base.subject, to=f"user{rnd.randrange(10**6)}@example.org",
                          message_id=f"{base.key}.{kind}.{rate}.{i}.{seed}@bench.example",
                          date=T0 + timedelta(minutes=i),
                          envelope=_plain_envelope(rnd, base.key, software)))
    return out


# ---------------------------------------------------------------- labelled streams


@dataclasses.dataclass(frozen=True)
class Labelled:
    """One message of a labelled stream.

    Attributes:
        raw: The message bytes.
        label: "spam", "bulk-legit" or "personal".
        mailing: Name of the mailing it is a copy of ("" for personal mail).
        date: When it arrives (the stream is in date order).
    """

    raw: bytes
    label: str
    mailing: str
    date: datetime


def stream(bases: list[Base], vocab: Vocabulary | None = None, seed: int = 1, days: int = 56,
           spam_runs: int = 40, newsletters: int = 8, personal: int = 600,
           spam_copies: tuple[int, int] = (50, 400),
           newsletter_copies: tuple[int, int] = (20, 120)) -> Iterator[Labelled]:
    """Yield a labelled stream over `days` days, in date order.

    - Spam runs (spam bases): copies with mixed mutations at 2-5% from hundreds of
      IPs all over the address space, each with a forged Received hop below the
      real one, no authentication; each run lasts a few hours.
    - Legitimate mailings (ham bases): weekly issues of a newsletter, copies with a
      personal greeting, List-Id and List-Unsubscribe, SPF pass recorded by our
      MX (AUTHSERV_ID), sent from 1-3 IPs of one /24.
    - Personal mail (ham bases): each message once, from a handful of providers'
      MTAs, half of them with SPF pass.
    """
    rnd = random.Random(f"stream/{seed}")
    vocab = vocab or Vocabulary.of(bases)
    spam_bases = [b for b in bases if b.spam]
    ham_bases = [b for b in bases if not b.spam]
    rnd.shuffle(ham_bases)
    news_bases, personal_bases = ham_bases[:newsletters * 10], ham_bases[newsletters * 10:]
    end = T0 + timedelta(days=days)
    items: list[tuple[datetime, int, Callable[[], Labelled]]] = []
    counter = 0

    def add(when: datetime, make: Callable[[], Labelled]) -> None:
        nonlocal counter
        counter += 1
        items.append((when, counter, make))

    def copy_maker(base: Base, kind: str, rate: float, label: str, name: str, when: datetime,
                   envelope: Envelope, number: int) -> Callable[[], Labelled]:
        def make() -> Labelled:
            r = random.Random(f"{seed}/{name}/{number}")
            draft = mutate(base, kind, rate, r, vocab)  # type: ignore[arg-type]
            raw = render(draft, subject=base.subject, to=f"user{r.randrange(10**5)}@example.org",
                         message_id=f"{name}.{number}.{seed}@{envelope.from_addr.rpartition('@')[2]}",
                         date=when, envelope=envelope)
            return Labelled(raw, label, "" if label == "personal" else name, when)
        return make

    for run in range(spam_runs):
        base = rnd.choice(spam_bases)
        name = f"spam-{run}"
        start = T0 + timedelta(seconds=rnd.uniform(0, days * 86400 - 86400))
        copies = rnd.randint(*spam_copies)
        rate = rnd.choice([0.02, 0.05])
        # Drawn apart from rnd so the stream's other draws stay as they were.
        software = Software.pick(random.Random(f"software/{seed}/{name}"))
        for i in range(copies):
            when = start + timedelta(seconds=rnd.uniform(0, 6 * 3600))
            bot = _ip(rnd)
            forged = _ip(rnd)
            sender = f"{random_token(rnd, 4, 8)}@{random_token(rnd, 5, 9)}.com"
            envelope = Envelope(sender, ((f"{random_token(rnd, 6, 10)}.dsl.example", bot),
                                         (f"mail{rnd.randrange(99)}.example.com", forged)),
                                software=software)
            add(when, copy_maker(base, "mixed", rate, "spam", name, when, envelope, i))
    for letter in range(newsletters):
        domain = f"news{letter}.example"
        net = f"{rnd.choice([64, 66, 192, 198, 205])}.{rnd.randrange(256)}.{rnd.randrange(256)}"
        ips = [_ip(rnd, net) for _ in range(rnd.randint(1, 3))]
        weekday = rnd.randrange(7)
        software = Software.pick(random.Random(f"software/{seed}/{domain}"))
        for issue in range(days // 7):
            base = news_bases[letter * 10 + issue % 10]
            name = f"news-{letter}-{issue}"
            start = T0 + timedelta(days=7 * issue + weekday, hours=rnd.uniform(6, 10))
            for i in range(rnd.randint(*newsletter_copies)):
                when = start + timedelta(seconds=rnd.uniform(0, 3600))
                envelope = Envelope(f"editor@{domain}", ((f"out.{domain}", rnd.choice(ips)),),
                                    spf="pass", list_id=domain, software=software)
                add(when, copy_maker(base, "greeting", 0.0, "bulk-legit", name, when, envelope, i))
    providers = [(f"smtp.provider{i}.example", _ip(rnd)) for i in range(6)]
    for i in range(min(personal, len(personal_bases))):
        base = personal_bases[i]
        when = T0 + timedelta(seconds=rnd.uniform(0, days * 86400))
        host, ip = rnd.choice(providers)
        envelope = Envelope(f"{rnd.choice(FIRST).lower()}@{host.split('.', 1)[1]}", ((host, ip),),
                            spf=rnd.choice(["pass", None]),
                            software=Software.pick(random.Random(f"software/{seed}/{host}")))
        add(when, copy_maker(base, "reflow", 0.0, "personal", f"personal-{i}", when, envelope,
                             i))
    items.sort(key=lambda item: (item[0], item[1]))
    for when, _, make in items:
        if when < end:
            yield make()
