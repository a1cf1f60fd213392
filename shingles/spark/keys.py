"""The store's matching rule, as the archive job imports it.

The index keys of a fingerprint (``keys_of``), the resemblance test of a recall
candidate (``resembles``), the key that makes a message a duplicate
(``message_key``) and the network an IP counts under (``network``) are the
store's own functions, imported, never copied: a laptop and a cluster must
match by one rule. ``shingles.store.keys`` loads neither numpy nor LMDB, so
executors load only the parser, the fingerprint core and these.
"""

from __future__ import annotations

from shingles.store.keys import IndexKeys, keys_of, message_key, network, resembles

__all__ = ["IndexKeys", "TAGS", "keys_of", "message_key", "network", "resembles", "tagged"]

#: A key's first byte names the store database that holds it: a mega-shingle and
#: an I-Match signature with equal bytes are different keys, as in the store.
TAGS = {"mega": b"m", "imatch": b"i", "band": b"b"}


def tagged(keys: IndexKeys) -> list[bytes]:
    """Return every index key prefixed with the tag of its database."""
    return [TAGS[name] + key for name, group in keys.groups() for key in group]
