"""Sender identity: does a message authenticate for the domain it claims?

Kept apart from the Received-chain parsing in senders.py: the store, the
verdict rules and the social graph ask this, and none of them needs a parser.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["aligned", "authenticates"]


def aligned(domain: str | None, other: str | None) -> bool:
    """Return whether two domains are one, or one lies under the other (relaxed alignment).

    Without a public-suffix list this is DMARC's relaxed alignment approximated:
    "mail.shop.example" aligns with "shop.example", never with "example".
    """
    if not domain or not other:
        return False
    a, b = domain.lower().rstrip("."), other.lower().rstrip(".")
    short, long = sorted((a, b), key=len)
    return long == short or (long.endswith("." + short) and "." in short)


def authenticates(spf: str | None, spf_domain: str | None, dkim: str | None,
                  dkim_domains: Sequence[str], from_domain: str | None) -> bool:
    """Return whether a message authenticates for its sending (From) domain.

    SPF pass for an aligned domain, or DKIM pass with an aligned d=. Copies that
    do are one sender identity; the rest, whatever From they carry, another.
    """
    if spf == "pass" and aligned(spf_domain, from_domain):
        return True
    return dkim == "pass" and any(aligned(d, from_domain) for d in dkim_domains)
