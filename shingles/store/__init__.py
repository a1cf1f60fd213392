"""The store: LMDB databases that group messages into mailings and keep their statistics.

Modules, in the order a message meets them: keys (index keys and the matching
rule), layout (record layouts and the store's databases), cluster (union-find
over mailing ids), retention (the sweep), writer (the session that files
messages in batches), reader (``Store``: open, look up, list); views holds what
the store hands out.
"""

from shingles.store.reader import Mailing, Store

__all__ = ["Mailing", "Store"]
