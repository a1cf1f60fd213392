"""Fidelity of the HTML rendering: do we keep the words a text-only renderer shows?

    python -m bench.fidelity [--show 10]

For every HTML part of every corpus message, the words (runs of letters and
digits, lower-cased) that html2text shows are compared with those of our
visible text (shingles.mail.html.html_to_text, its blockquote text included).
html2text applies no CSS, so a word it shows and we do not is either hidden by
an inline style a mail client honours (the tricks tests/test_html.py names:
display:none, visibility, font-size 0, opacity 0, text coloured as its
background, the hidden attribute, <font size=0>) or a word we lose. Which one
is told by rendering once more with hiding turned off: a word found then was
hidden on purpose. Printed: per part, the share of html2text's words kept,
as a distribution, and the parts that lose words hiding does not explain.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import re
import statistics
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

from bench.corpus import raw_messages, require_corpus

_WORD = re.compile(r"\w+")


def html_parts() -> Iterator[tuple[str, str]]:
    """Yield (message number, HTML text) of every text/html part of the corpus."""
    for name in ("ham", "spam"):
        for n, raw in enumerate(raw_messages(name)):
            message = email.message_from_bytes(raw, policy=email.policy.compat32)
            for k, part in enumerate(message.walk()):
                if part.get_content_type() != "text/html":
                    continue
                data = part.get_payload(decode=True)
                if not isinstance(data, bytes):
                    continue
                charset = part.get_content_charset() or "utf-8"
                try:
                    text = data.decode(charset, "replace")
                except LookupError:
                    text = data.decode("utf-8", "replace")
                yield f"{name}:{n}.{k}", text


def words(text: str) -> Counter[str]:
    return Counter(w.lower() for w in _WORD.findall(text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=10, help="parts listed that lose words")
    args = parser.parse_args(argv)
    require_corpus()
    import html2text

    from shingles.mail import html as htmltext

    renderer = html2text.HTML2Text(bodywidth=0)
    renderer.ignore_links = True  # link targets: we keep the host only, they the whole URL
    renderer.ignore_images = True
    renderer.ignore_emphasis = True
    renderer.unicode_snob = True
    prepare = htmltext._prepare_markup

    def unhidden(markup: str, *args: Any) -> Any:
        marked, strip, _, quoting = prepare(markup, *args)
        return marked, strip, False, quoting

    kept_shares: list[float] = []
    lost_parts: list[tuple[float, str, list[str]]] = []
    hidden_words = lost_words = total_words = 0
    for where, markup in html_parts():
        try:
            reference = words(renderer.handle(markup))
        except Exception:  # noqa: BLE001 - html2text's own failures are not ours to count
            continue
        if not reference:
            continue
        ours = words(" ".join(htmltext.html_to_text(markup)))
        htmltext._prepare_markup = unhidden
        try:
            shown_all = words(" ".join(htmltext.html_to_text(markup)))
        finally:
            htmltext._prepare_markup = prepare
        missing = reference - ours
        hidden = sum(min(c, shown_all[w] - ours[w]) for w, c in missing.items())
        lost = sum(missing.values()) - hidden
        size = sum(reference.values())
        total_words += size
        hidden_words += hidden
        lost_words += lost
        kept_shares.append(1 - lost / size)
        if lost:
            unexplained = [w for w, c in missing.items() if shown_all[w] - ours[w] < c]
            lost_parts.append((lost / size, where, unexplained[:8]))
    if not kept_shares:
        print("no HTML parts found")
        return 1
    quantiles = statistics.quantiles(kept_shares, n=100, method="inclusive")
    print(f"HTML parts: {len(kept_shares)}; html2text words: {total_words:,}")
    print(f"words hidden by inline CSS or markup (named tricks): {hidden_words:,} "
          f"({hidden_words / total_words:.2%})")
    print(f"words lost otherwise: {lost_words:,} ({lost_words / total_words:.2%})")
    print("share of html2text's words kept (hidden ones counted as kept), by part:")
    print(f"  min {min(kept_shares):.3f}  p1 {quantiles[0]:.3f}  p5 {quantiles[4]:.3f}  "
          f"p10 {quantiles[9]:.3f}  median {quantiles[49]:.3f}  mean "
          f"{statistics.fmean(kept_shares):.4f}")
    for bar in (1.0, 0.99, 0.95, 0.9, 0.5):
        count = sum(share >= bar for share in kept_shares)
        print(f"  parts keeping >= {bar:.0%}: {count} ({count / len(kept_shares):.1%})")
    for share, where, sample in sorted(lost_parts, reverse=True)[:args.show]:
        print(f"  loses {share:.1%}: {where} e.g. {' '.join(sample)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
