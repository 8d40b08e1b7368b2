"""Drift watch: requests for clients and items the served bundle does not know, and
the served bundle's age, as Prometheus series (:class:`serving.metrics.Metrics`).

``recsys_lookups_total{kind, known}`` counts each client a list is asked for and each
item a route is asked about; the unknown share is a PromQL ratio of its rates
(``deploy/prometheus/alerts.yml``). ``recsys_model_age_seconds`` is set at scrape time.
The per-request cost is one hash lookup of the bundle's id index (under 2 µs) and one
increment of a counter child resolved once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime

from serving.deps import Context
from serving.state import Loaded

__all__ = ["age_seconds", "count_client", "count_item", "count_items"]


def count_client(ctx: Context, current: Loaded, client_id: str | None) -> None:
    """Count a request for ``client_id``'s list as known or not by ``current``'s bundle.
    A deleted client is served as cold start, so it counts as unknown; ``None`` (a
    basket without a client) is not counted."""
    if client_id is None:
        return
    known = client_id in current.bundle.data.clients and not ctx.state.is_forgotten(client_id)
    ctx.metrics.clients[known].inc()


def count_item(ctx: Context, current: Loaded, item_id: str) -> None:
    """Count an item asked about as known or not by ``current``'s bundle (an item only
    the catalogue knows is not known: the models never learnt it)."""
    ctx.metrics.items[item_id in current.bundle.data.items].inc()


def count_items(ctx: Context, current: Loaded, item_ids: Iterable[str]) -> None:
    """:func:`count_item` for each of ``item_ids`` (a basket's items)."""
    items, counters = current.bundle.data.items, ctx.metrics.items
    for item_id in item_ids:
        counters[item_id in items].inc()


def age_seconds(created_at: str, now: float | None = None) -> float:
    """Seconds from ``created_at`` (ISO 8601; UTC when it names no zone) to ``now``
    (Unix time, default: the real clock, whatever day the service is pinned to)."""
    created = datetime.fromisoformat(created_at)
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return (time.time() if now is None else now) - created.timestamp()
