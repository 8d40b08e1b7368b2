"""Prometheus metrics of one app: requests, latency, cache, model version and age, and
lookups of clients and items the served bundle does (not) know."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving._tally import Counts, Tally, Timing, Timings

__all__ = ["STARTED", "Metrics"]

#: Set in the scope of a request begun before the metrics layer (by
#: :mod:`serving.fastpath`, which passes some on): when it began.
STARTED = "recsys.started"


class Metrics:
    """A registry per app, so tests and workers never share counters by accident."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self._resolved: dict[tuple[str, int], tuple[Tally, Timing]] = {}
        # The series every request bumps: serving._tally (no lock, no check per call).
        self.requests = Counts(
            "recsys_requests_total", "Requests by route and status", ["route", "status"], registry
        )
        self.latency = Timings(
            "recsys_request_seconds",
            "Request latency by route",
            ["route"],
            (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry,
        )
        self.cache = Counts("recsys_cache_total", "Cache lookups", ["result"], registry)
        # Children resolved once: labels() costs a lock and a dict lookup per call.
        self.cache_hit, self.cache_miss = self.cache.labels("hit"), self.cache.labels("miss")
        answers = Counts(
            "recsys_miss_answers_total",
            "Misses answered from the list before a switch (stale) or by the fallback "
            "(degraded: over the latency budget or the compute backlog)",
            ["answer"],
            registry,
        )
        self.stale, self.degraded = answers.labels("stale"), answers.labels("degraded")
        self.fast_path_failures = Counts(
            "recsys_fast_path_failures_total",
            "List requests the fast path failed on and passed to FastAPI (a bug: see the log)",
            [],
            registry,
        ).labels()
        self.model = Gauge(
            "recsys_model_info", "Served bundle", ["version"], registry=self.registry
        )
        self.redis_up = Gauge(
            "recsys_redis_up", "1 when Redis answers (or is not used)", registry=self.registry
        )
        self.model_age = Gauge(
            "recsys_model_age_seconds",
            "Seconds since the served bundle was trained (set at scrape time)",
            registry=self.registry,
        )
        self.lookups = Counts(
            "recsys_lookups",
            "Clients and items asked about, by whether the served bundle knows them",
            ["kind", "known"],
            registry,
        )
        # Children resolved once, indexed by ``known`` (False, True): counted per request.
        self.clients = self.lookups.labels("client", "false"), self.lookups.labels("client", "true")
        self.items = self.lookups.labels("item", "false"), self.lookups.labels("item", "true")

    def asgi(self, app: ASGIApp) -> ASGIApp:
        """Pure ASGI middleware counting and timing requests by route template.

        (Starlette's ``BaseHTTPMiddleware`` would cost a task and a queue per request.)
        """

        async def measured(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started, status = scope.get(STARTED) or time.perf_counter(), [500]

            async def capture(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status[0] = message["status"]
                await send(message)

            try:
                await app(scope, receive, capture)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                self.record(route, status[0], started)

        return measured

    def record(self, route: str, status: int, started: float) -> None:
        """Count one request of ``route`` answered ``status``, begun at ``started``
        (``time.perf_counter()``)."""
        count, timing = self._children(route, status)
        count.inc()
        timing.observe(time.perf_counter() - started)

    def _children(self, route: str, status: int) -> tuple[Tally, Timing]:
        """The (counter, histogram) children of a route and status, resolved once each:
        ``labels()`` validates, locks and looks up on every call."""
        key = (route, status)
        found = self._resolved.get(key)
        if found is None:
            found = self.requests.labels(route, str(status)), self.latency.labels(route)
            self._resolved[key] = found
        return found
