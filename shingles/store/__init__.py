"""The store: LMDB databases that group messages into mailings and keep their statistics.

Modules, in the order a message meets them: keys (index keys and the matching
rule), keyfilter (a Bloom filter of the stored keys, so new keys are not looked
up), layout (record layouts and the store's databases), cluster (union-find
over mailing ids), retention (the sweep), writer (the session that files
messages in batches), reader (``Store``: open, look up, list); views holds what
the store hands out. The hottest loops (retention's walk, the index probe, the
key filter) are compiled in shingles._store, each beside its Python twin.

``Store`` and ``Mailing`` are loaded when first asked for: importing
``shingles.store.keys`` (the archive job's executors do) must not load LMDB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shingles.store.reader import Mailing, Store

__all__ = ["Mailing", "Store"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from shingles.store import reader

        return getattr(reader, name)
    raise AttributeError(f"module 'shingles.store' has no attribute {name!r}")
