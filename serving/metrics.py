"""Prometheus metrics of one app: requests, latency, cache, model version."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]


class Metrics:
    """A registry per app, so tests and workers never share counters by accident."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "recsys_requests_total",
            "Requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "recsys_request_seconds",
            "Request latency by route",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.cache = Counter(
            "recsys_cache_total", "Cache lookups", ["result"], registry=self.registry
        )
        self.model = Gauge(
            "recsys_model_info", "Served bundle", ["version"], registry=self.registry
        )
        self.redis_up = Gauge(
            "recsys_redis_up", "1 when Redis answers (or is not used)", registry=self.registry
        )

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Count and time every request by its route template."""
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        self.requests.labels(name, str(response.status_code)).inc()
        self.latency.labels(name).observe(time.perf_counter() - started)
        return response
