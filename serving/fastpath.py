"""Cached ranked lists served before FastAPI's routing, as the stored bytes.

A list is cached only after FastAPI validated its request, under a key made
from the model version, the client and the raw query string; an identical raw
query is therefore known-good, and its hit needs no parameter parsing. Auth is
checked here exactly as the router's dependency does. Misses fall through.
"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

from serving.deps import Context, authorised

__all__ = ["CachedLists", "cache_key"]

_PREFIX, _SUFFIX = "/v1/clients/", "/recommendations"
_HEADERS = [(b"content-type", b"application/json")]


class _Route:
    path = "/v1/clients/{client_id}/recommendations"


_ROUTE = _Route()


def cache_key(version: str, client: str, raw_query: bytes) -> str:
    """The cache key of one client's list under one model and one query string."""
    return f"rec:{version}:{client}:{raw_query.decode('latin-1')}"


class CachedLists:
    """ASGI middleware answering cache hits of the client recommendations route."""

    def __init__(self, app: ASGIApp, context: Context) -> None:
        self.app, self.context = app, context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._hit(scope) if scope["type"] == "http" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _hit(self, scope: Scope) -> bytes | None:
        path, state = scope["path"], self.context.state
        if scope["method"] != "GET" or state.current is None:
            return None
        if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
            return None
        client = unquote(path[len(_PREFIX) : -len(_SUFFIX)])
        headers = dict(scope["headers"])
        if "/" in client or not authorised(self.context.settings, headers.get(b"x-api-key")):
            return None  # let the router answer (404/401/403 with its usual body)
        found = await self.context.cache.get(
            cache_key(state.current.version, client, scope["query_string"])
        )
        (self.context.metrics.cache_hit if found else self.context.metrics.cache_miss).inc()
        return None if found is None else found.replace(b'"cached":false', b'"cached":true', 1)
