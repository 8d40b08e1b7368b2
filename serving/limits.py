"""Per-key request rate limit: a fixed one-minute window per API key (or client address).

With Redis the windows are shared by every replica (one pipelined ``INCR`` +
``EXPIRE`` per request); when Redis does not answer, each process counts alone
until it does again, and ``/readyz`` says so.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.auth.keyring import KeyRing

__all__ = ["COUNTED", "BodyLimit", "RateLimit", "Windows"]

_BODY = b'{"detail":"rate limit exceeded; retry after the Retry-After seconds"}'


class Windows:
    """Request counts per key and minute: in Redis when given, else in this process."""

    def __init__(self, per_minute: int, redis: Any = None) -> None:
        self.per_minute, self.redis = per_minute, redis
        self._local: dict[str, tuple[int, int]] = {}
        self.shared = redis is not None

    @property
    def mode(self) -> str:
        """``shared`` (Redis), ``per-process`` (no Redis) or ``per-process (Redis down)``."""
        if self.redis is None:
            return "per-process"
        return "shared" if self.shared else "per-process (Redis down)"

    async def allow(self, key: str) -> tuple[bool, int]:
        """Count one request of ``key``; whether it is allowed, and seconds to the next window."""
        now = time.time()
        minute, retry = int(now // 60), 60 - int(now % 60)
        count = await self._shared_count(key, minute) if self.redis is not None else None
        if count is None:
            count = self._local_count(key, minute)
        return count <= self.per_minute, retry

    async def _shared_count(self, key: str, minute: int) -> int | None:
        name = f"rl:{key}:{minute}"
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(name)
        pipe.expire(name, 120)
        try:
            count, _ = await pipe.execute()
        except (RedisError, OSError):
            self.shared = False
            return None
        self.shared = True
        return int(count)

    def _local_count(self, key: str, minute: int) -> int:
        start, count = self._local.get(key, (minute, 0))
        if start != minute:
            start, count = minute, 0
        self._local[key] = (start, count + 1)
        return count + 1


#: Set in the scope of a request already counted (by :mod:`serving.fastpath`, which
#: counts the requests it answers before FastAPI's stack and passes the rest on).
COUNTED = "recsys.rate_counted"


class RateLimit:
    """ASGI middleware: at most ``per_minute`` requests per key and minute, else 429.

    Health and metrics routes are never limited (probes must always get through).
    """

    def __init__(self, app: ASGIApp, windows: Windows, keys: KeyRing) -> None:
        self.app, self.windows, self.keys = app, windows, keys

    def bucket(self, scope: Scope) -> str:
        """The bucket: a known key's name (never the key itself), else the address
        (a made-up key per request does not get a fresh bucket)."""
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                known = self.keys.principal(value)
                if known is not None:
                    return f"key:{known.name}"
                break
        client = scope.get("client") or ("?", 0)
        return f"addr:{client[0]}"

    async def admitted(self, scope: Scope, send: Send) -> bool:
        """Count the request; ``False`` when over the limit, after answering 429."""
        allowed, retry = await self.windows.allow(self.bucket(scope))
        if not allowed:
            retry_after = (b"retry-after", str(retry).encode())
            headers = [(b"content-type", b"application/json"), retry_after]
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": _BODY})
        return allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exempt = scope["type"] != "http" or scope["path"] in ("/healthz", "/readyz", "/metrics")
        if exempt or scope.get(COUNTED) or await self.admitted(scope, send):
            await self.app(scope, receive, send)


class BodyLimit:
    """Bodies over ``max_body_bytes`` get 413 with the documented JSON ``ErrorOut``: at
    once when ``Content-Length`` says so, else as soon as the streamed bytes pass it
    (raised while the route reads the body; FastAPI answers it as JSON)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit
        self.detail = f"request body larger than max_body_bytes ({limit} bytes)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared(scope) > self.limit:
            body = orjson.dumps({"detail": self.detail})
            headers = [(b"content-type", b"application/json")]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, self.detail)
            return message

        await self.app(scope, counted, send)

    @staticmethod
    def _declared(scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                return int(value) if value.isdigit() else 0
        return 0
