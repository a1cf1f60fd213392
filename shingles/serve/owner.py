"""Which ``shingles serve`` owns a store: a small file the server keeps in the store folder.

Batch commands that find the store's writer lock taken read it to say where the
server listens (``--server URL``) instead of only "another process writes".
Standard library only: the CLI imports it without the [serve] extra.
"""

from __future__ import annotations

import json
import os

__all__ = ["OWNER_FILE", "clear_owner", "owner_of", "write_owner"]

OWNER_FILE = "serve.json"


def write_owner(store: str, http_url: str | None) -> None:
    """Record this process as the store's server (replaced atomically)."""
    path = os.path.join(store, OWNER_FILE)
    with open(path + ".tmp", "w") as f:
        json.dump({"pid": os.getpid(), "http": http_url}, f)
    os.replace(path + ".tmp", path)


def clear_owner(store: str) -> None:
    try:
        os.unlink(os.path.join(store, OWNER_FILE))
    except FileNotFoundError:
        pass


def owner_of(store: str) -> dict[str, object] | None:
    """Return {"pid", "http"} of the live server that owns store, or None."""
    try:
        with open(os.path.join(store, OWNER_FILE)) as f:
            owner = json.load(f)
        os.kill(int(owner["pid"]), 0)  # a killed server leaves the file: is it alive?
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return owner if isinstance(owner, dict) else None
