"""The HTTP front end (aiohttp): scan, report, explain, mailings, metrics, health.

The envelope travels in request headers as in Rspamd's protocol: ``IP``,
``Helo``, ``From``, ``Rcpt`` (repeated, or comma-separated), and optionally
``Hostname`` (the client's reverse DNS) and ``Queue-Id``. Every error is a JSON
object ``{"error": "..."}`` with a 4xx status (5xx only for the server's own
failures), and the server goes on.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from shingles.errors import StoreFullError
from shingles.serve.envelope import Envelope
from shingles.serve.writer import Rejected
from shingles.serve.writer_process import WriterGone
from shingles.verdicts.feedback import report_arf, report_messages

if TYPE_CHECKING:
    from shingles.serve.server import Server

__all__ = ["make_app"]

_CHUNK = 1 << 16


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


class _TooLarge(Exception):
    pass


async def _body(request: web.Request, cap: int) -> bytes:
    """Return the request body; raise _TooLarge past cap bytes (read no further)."""
    if request.content_length is not None and request.content_length > cap:
        raise _TooLarge
    parts = []
    size = 0
    async for chunk in request.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > cap:
            raise _TooLarge
        parts.append(chunk)
    return b"".join(parts)


def _envelope(request: web.Request) -> Envelope:
    """Return the envelope the request's headers give; raise ValueError if one is bad."""
    headers = request.headers
    recipients = tuple(address.strip() for value in headers.getall("Rcpt", [])
                       for address in value.split(",") if address.strip())
    return Envelope(ip=headers.get("IP") or None, helo=headers.get("Helo") or None,
                    hostname=headers.get("Hostname") or None, sender=headers.get("From"),
                    recipients=recipients, queue_id=headers.get("Queue-Id") or None)


def make_app(server: Server) -> web.Application:
    """Return the aiohttp application serving server."""
    routes = web.RouteTableDef()
    counter = iter(range(1, 1 << 62))

    @routes.post("/v1/scan")
    async def scan(request: web.Request) -> web.Response:
        serve = server.config.serve
        try:
            raw = await asyncio.wait_for(_body(request, serve.max_body_bytes),
                                         serve.request_timeout)
        except _TooLarge:
            server.metrics.rejected.labels("too-large").inc()
            response = _error(413, f"message over the cap of {serve.max_body_bytes} bytes")
            response.force_close()  # the rest of the body is not read: drop the connection
            return response
        except asyncio.TimeoutError:
            server.metrics.rejected.labels("timeout").inc()
            response = _error(408, f"message not received within {serve.request_timeout} s")
            response.force_close()
            return response
        started = time.perf_counter()
        try:
            envelope = _envelope(request)
        except ValueError as exc:
            server.metrics.rejected.labels("bad-envelope").inc()
            return _error(400, f"bad envelope header: {exc}")
        source = f"http:{envelope.queue_id or next(counter)}"
        try:
            verdict = await asyncio.wrap_future(server.writer.submit(raw, envelope, source))
        except Rejected as exc:
            server.metrics.rejected.labels("not-mail").inc()
            return _error(400, str(exc))
        except StoreFullError as exc:
            return _error(507, str(exc))
        except WriterGone as exc:  # the server is stopping with it
            return _error(503, str(exc))
        seconds = time.perf_counter() - started
        server.judged("http", envelope, verdict, "-", seconds)
        return web.json_response(verdict.to_json(), dumps=_dumps)

    @routes.post("/v1/report")
    async def report(request: web.Request) -> web.Response:
        # JSON {"spam": [Message-ID, ...], "ham": [...]}, or an RFC 5965 feedback
        # report (ARF) as the raw body; counted by the writer between groups.
        try:
            body = await asyncio.wait_for(_body(request, server.config.serve.max_body_bytes),
                                          server.config.serve.request_timeout)
        except (_TooLarge, asyncio.TimeoutError):
            return _error(413, "report too large or too slow")
        if request.content_type == "application/json":
            try:
                wanted = json.loads(body)
                spam, ham = wanted.get("spam", []), wanted.get("ham", [])
                if not all(isinstance(x, str) for x in [*spam, *ham]) or not (spam or ham):
                    raise ValueError
            except (ValueError, AttributeError, TypeError):
                return _error(400, 'give {"spam": [Message-ID, ...], "ham": [...]} '
                                   "or an ARF message")

            future = server.writer.call(_report_lists, spam, ham)
        else:
            future = server.writer.call(_report_arf, body)
        done = await asyncio.wrap_future(future)
        return web.json_response({"reports": [r.to_json() for r in done]}, dumps=_dumps)

    @routes.get("/v1/explain")
    async def explain(request: web.Request) -> web.Response:
        message_id = request.query.get("message_id")
        if not message_id:
            return _error(400, "give the Message-ID: /v1/explain?message_id=<...>")
        try:
            return web.json_response(server.reader.explain(message_id), dumps=_dumps)
        except KeyError as exc:
            return _error(404, str(exc.args[0]))

    @routes.get("/v1/mailings")
    async def mailings(request: web.Request) -> web.Response:
        try:
            top = int(request.query.get("top", "20"))
            min_size = int(request.query.get("min_size", "2"))
        except ValueError:
            return _error(400, "top and min_size must be integers")
        if top < 1 or top > 10_000:
            return _error(400, "top must be between 1 and 10000")
        found = server.store.top(top, min_size)
        return web.json_response({"mailings": [m.to_json() for m in found]}, dumps=_dumps)

    @routes.get("/metrics")
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=server.metrics.text(),
                            content_type="text/plain", charset="utf-8")

    @routes.get("/health")
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "queue": server.writer.depth(),
                                  "groups": server.writer.groups})

    @web.middleware
    async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            server.metrics.rejected.labels(str(exc.status)).inc()
            return _error(exc.status, exc.reason)

    app = web.Application(middlewares=[json_errors], client_max_size=1 << 20)
    app.add_routes(routes)
    return app


def _report_lists(engine: Any, spam: list[str], ham: list[str]) -> list[Any]:
    """Count the Message-IDs of a JSON report (run by the writer: pickled by name)."""
    return [*report_messages(engine, spam, "spam"), *report_messages(engine, ham, "ham")]


def _report_arf(engine: Any, body: bytes) -> list[Any]:
    """Count an RFC 5965 feedback report (run by the writer: pickled by name)."""
    return list(report_arf(engine, io.BytesIO(body)))


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)
