"""The store's matching rule, as the archive job imports it.

The index keys of a fingerprint (``keys_of``), the resemblance test of a recall
candidate (``resembles``), the key that makes a message a duplicate
(``message_key``) and the network an IP counts under (``network``) are the
store's own functions, imported, never copied: a laptop and a cluster must
match by one rule. They belong in a numpy- and LMDB-free module
(``shingles.store.keys``); from ``shingles.store.reader`` and ``writer`` they
also load numpy and the LMDB binding into every executor (harmless, only
heavier).
"""

from __future__ import annotations

try:
    from shingles.store.keys import (  # type: ignore[import-not-found,unused-ignore]
        IndexKeys,
        keys_of,
        message_key,
        resembles,
    )
except ImportError:  # the store not yet split into layout/keys/reader/writer
    from shingles.store.reader import (  # type: ignore[assignment,unused-ignore]
        IndexKeys,
        keys_of,
        message_key,
        resembles,
    )
# The /24 (/48) network a store mailing counts an IP under: private to the writer
# today; it belongs beside keys_of in the numpy-free module.
from shingles.store.writer import _network as network

__all__ = ["IndexKeys", "TAGS", "keys_of", "message_key", "network", "resembles", "tagged"]

#: A key's first byte names the store database that holds it: a mega-shingle and
#: an I-Match signature with equal bytes are different keys, as in the store.
TAGS = {"mega": b"m", "imatch": b"i", "band": b"b"}


def tagged(keys: IndexKeys) -> list[bytes]:
    """Return every index key prefixed with the tag of its database."""
    return [TAGS[name] + key for name, group in keys.groups() for key in group]
