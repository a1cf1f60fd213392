"""A client of a running server's HTTP API, for ``shingles scan --server URL``.

Standard library only (http.client, one keep-alive connection), so the batch
command needs no [serve] extra to talk to a server.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["scan_via"]


def scan_via(url: str, messages: Iterable[tuple[str, bytes]],
             timeout: float = 60) -> Iterator[dict[str, Any]]:
    """Yield the server's answer to each (source, raw bytes) in order.

    An answer is the verdict JSON, or {"source", "error"} for a message the server
    refused; the verdict's "source" is set back to the local one.

    Raises:
        OSError: if the server cannot be reached.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"--server needs an http://HOST:PORT URL, not {url!r}")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    path = parts.path.rstrip("/") + "/v1/scan"
    try:
        for source, raw in messages:
            conn.request("POST", path, body=raw,
                         headers={"Content-Type": "message/rfc822"})
            response = conn.getresponse()
            answer = json.loads(response.read() or b"{}")
            if response.status != 200:
                yield {"source": source, "error": answer.get("error", f"HTTP {response.status}")}
            else:
                yield {**answer, "source": source}
    finally:
        conn.close()
