"""Per-key request rate limit: a fixed one-minute window per API key (or client address)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["RateLimit"]

_BODY = b'{"detail":"rate limit exceeded; retry after the Retry-After seconds"}'


class RateLimit:
    """ASGI middleware: at most ``per_minute`` requests per key and minute, else 429.

    Health and metrics routes are never limited (probes must always get through).
    """

    def __init__(self, app: ASGIApp, per_minute: int) -> None:
        self.app, self.per_minute = app, per_minute
        self._windows: dict[str, tuple[int, int]] = {}

    def _key(self, scope: Scope) -> str:
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                return "key:" + value.decode("latin-1")
        client = scope.get("client") or ("?", 0)
        return f"addr:{client[0]}"

    def _allow(self, key: str) -> tuple[bool, int]:
        now = time.time()
        minute = int(now // 60)
        start, count = self._windows.get(key, (minute, 0))
        if start != minute:
            start, count = minute, 0
        self._windows[key] = (start, count + 1)
        return count < self.per_minute, 60 - int(now % 60)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exempt = scope["type"] != "http" or scope["path"] in ("/healthz", "/readyz", "/metrics")
        allowed, retry = (True, 0) if exempt else self._allow(self._key(scope))
        if allowed:
            await self.app(scope, receive, send)
            return
        headers = [(b"content-type", b"application/json"), (b"retry-after", str(retry).encode())]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": _BODY})
