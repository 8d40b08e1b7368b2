"""The client list route answered before FastAPI, for plain requests.

Hits are the stored bytes, found under a key made from the model version, the
client and the raw query string. Misses whose query is plainly valid (the few
parameters of the route, each well-formed, none repeated) are computed here by
the same :mod:`serving.lists` functions the router calls: FastAPI's
per-request dependency and parameter machinery costs about as much as ranking
itself. Anything else - a bad or unusual parameter, a missing key, no model
yet, a body, a cross-origin request when CORS is on - falls through to FastAPI,
which validates and answers as usual.

:class:`CachedLists` wraps FastAPI's whole middleware stack (:class:`Service`), so a
hit skips its layers (server errors, body limits, the metrics wrapper): a hit
is ~60 µs of CPU, each layer a few. What those layers do for the requests answered
here is done here: the rate limit (counted once: a request passed on is marked)
and the request metrics. An error while answering passes the request on, logged:
FastAPI's stack answers it as it answers any other.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException
from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from recsys.catalogue import ItemFilter
from recsys.ranking import MAX_K, RequestOptions
from serving.auth.access import check
from serving.deps import Context
from serving.drift import count_client
from serving.impressions import SURFACES
from serving.limits import COUNTED, RateLimit
from serving.lists import FLAG_HEADERS, cached_list, list_key, respond
from serving.metrics import STARTED
from serving.misses import answer_miss
from serving.schemas import MAX_ID, MAX_IDS

__all__ = ["CachedLists", "Service", "plain_query"]

log = logging.getLogger("recsys.serving")

_PREFIX, _SUFFIX = "/v1/clients/", "/recommendations"
_HEADERS = [(b"content-type", b"application/json")]
_K = re.compile(r"[1-9][0-9]{0,2}")
_BOOL = {"true": True, "1": True, "false": False, "0": False}
_SCALARS = ("k", "exclude_purchased")
#: Parameters left to the router (parsed numbers, rarer filters).
_ROUTER_ONLY = ("price_min", "price_max", "tags", "mode")
#: Headers of a request with a body: left to FastAPI's stack (its body limit).
_BODY_HEADERS = (b"content-length", b"transfer-encoding")


class _Route:
    path = "/v1/clients/{client_id}/recommendations"


_ROUTE = _Route()


def plain_query(raw: bytes) -> tuple[int, RequestOptions] | None:
    """(k, options) when the query is one the router would surely accept as is;
    ``None`` sends the request on to FastAPI (a stricter subset, never a wider one)."""
    params = QueryParams(raw)
    if any(len(params.getlist(name)) > 1 for name in _SCALARS):
        return None
    if any(name in params for name in _ROUTER_ONLY):
        return None
    k, keep = params.get("k", "10"), params.get("exclude_purchased", "true")
    if not _K.fullmatch(k) or int(k) > MAX_K or keep not in _BOOL:
        return None
    exclude, category = params.getlist("exclude"), params.getlist("category")
    for values in (exclude, category):
        if len(values) > MAX_IDS or not all(0 < len(v) <= MAX_ID for v in values):
            return None
    only = ItemFilter(tuple(category))
    return int(k), RequestOptions(_BOOL[keep], tuple(exclude), (), only)


class Service(FastAPI):
    """FastAPI whose middleware stack is wrapped by ``front`` (set before the first
    request): :class:`CachedLists`, ahead of every layer FastAPI adds."""

    front: Callable[[ASGIApp], ASGIApp] | None = None

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        telemetry = options.get("telemetry")
        # FastAPI's own tracing, metrics or logs: on unless all are turned off here.
        self.telemetry_on = telemetry is None or any(telemetry.values())

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.front is None else self.front(stack)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Once built, HTTP requests go straight to the stack, as Starlette sends them,
        # past FastAPI's per-request telemetry checks (the service turns it off).
        stack = self.middleware_stack
        if stack is None or scope["type"] != "http" or self.root_path or self.telemetry_on:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        await stack(scope, receive, send)


class CachedLists:
    """ASGI front door answering the client recommendations route before FastAPI's
    middleware stack (``app``); ``limit``: the rate limit, when one is set;
    ``cross_origin``: whether CORS is on (its requests are left to its middleware)."""

    def __init__(
        self,
        app: ASGIApp,
        context: Context,
        limit: RateLimit | None = None,
        cross_origin: bool = False,
    ) -> None:
        self.app, self.context, self.limit = app, context, limit
        self.cross_origin = cross_origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = self._headers(scope)
        if headers is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        if self.limit is not None:
            if not await self.limit.admitted(scope, send):
                self.context.metrics.record("unmatched", 429, started)
                return
            scope[COUNTED] = True
        try:
            answer = await self._answer(scope, *headers)
        except Exception:  # FastAPI's stack answers it as any failed request
            log.exception("the fast path failed; passing the request on")
            self.context.metrics.fast_path_failures.inc()
            answer = None
        if answer is None:
            scope[STARTED] = started  # the stack's timing counts the time spent here
            await self.app(scope, receive, send)
            return
        await self._send(send, *answer)
        self.context.metrics.record(_ROUTE.path, 200, started)

    def _headers(self, scope: Scope) -> tuple[bytes | None, str] | None:
        """(``X-API-Key``, surface) of a GET on the route with no body, no ``Origin``
        when CORS is on, and a known ``X-Surface`` (else the router answers 422 naming
        it); ``None`` for anything else. One pass over the headers: the first of each
        counts, as Starlette reads them for the router."""
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        path: str = scope["path"]
        if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
            return None
        key: bytes | None = None
        surface: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                key = value if key is None else key
            elif name == b"x-surface":
                surface = value if surface is None else surface
            elif name in _BODY_HEADERS or (name == b"origin" and self.cross_origin):
                return None
        named = "api" if surface is None else surface.decode("latin-1")
        return (key, named) if named in SURFACES else None

    @staticmethod
    async def _send(send: Send, body: bytes, recommendation_id: str, flag: str | None) -> None:
        headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
        headers.append((b"x-recommendation-id", recommendation_id.encode()))
        if flag is not None:
            headers.append(FLAG_HEADERS[flag])
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(
        self, scope: Scope, api_key: bytes | None, surface: str
    ) -> tuple[bytes, str, str | None] | None:
        client = self._client(scope, api_key)
        if client is None:
            return None
        ctx, raw = self.context, scope["query_string"]
        current = ctx.state.current  # set: _client checked it (no catalogue sync on hits)
        assert current is not None
        arm = current.arm_of(client)
        key = list_key(current, client, raw, arm)
        found = await cached_list(ctx, key, arm)
        (ctx.metrics.cache_hit if found else ctx.metrics.cache_miss).inc()
        if found is None:
            plain = plain_query(raw)
            if plain is None:
                return None
            found = await answer_miss(ctx, key, client, raw, *plain, arm)
        count_client(ctx, current, client)
        return (*respond(ctx, found, client, surface), found.flag)

    def _client(self, scope: Scope, api_key: bytes | None) -> str | None:
        """The client id of an authorised request (with ``api_key``, its ``X-API-Key``),
        once a model is loaded."""
        path: str = scope["path"]  # already percent-decoded by the server
        if self.context.state.current is None:
            return None
        client = path[len(_PREFIX) : -len(_SUFFIX)]
        if not 0 < len(client) <= MAX_ID or "/" in client:
            return None  # the router answers 404/422 with its usual body
        try:
            check(self.context.keys, True, api_key, None, "read")
        except HTTPException:
            return None  # the router answers 401/403 with its usual body
        return client
