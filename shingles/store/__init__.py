"""The store: LMDB databases that group messages into mailings and keep their statistics.

Modules: layout (record formats), cluster (union-find over mailing ids), reader
(``Store``: open, look up, list), writer (the session that files messages in batches).
"""

from shingles.store.reader import Mailing, Store

__all__ = ["Mailing", "Store"]
