"""Served lists have ids, and what each list showed is logged (impressions).

Every list response (client, basket, related, next-best offers, the CRM screen) gets
a fresh ``recommendation_id`` (in the JSON and the ``X-Recommendation-Id`` header),
cached lists included: the id is spliced into the stored bytes. An impression
(id, client, items in order with the source that ranked each, model version,
surface, experiment and arm, time) is queued in memory at O(1) and written in
batches every 200 ms to its own log, through the same stores as events (an
fsynced JSON-lines file, or a Redis stream every replica writes), so logging costs
the cached fast path a list append. A crash loses at most the last batch of
impressions, never an acknowledged event.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from recsys.ranking import RankedItem
from serving.event_store import EventStore
from serving.stream import StreamEventStore

__all__ = ["SURFACES", "Impressions", "listed", "with_id"]

log = logging.getLogger("recsys.serving")

Surface = Literal["storefront", "crm", "api"]
#: Where a list was shown (``X-Surface`` request header; default ``api``).
SURFACES: tuple[str, ...] = ("storefront", "crm", "api")
_PAIR, _NEXT = "\x1e", "\x1f"


def listed(items: Sequence[RankedItem]) -> bytes:
    """A list's items in order, each with the source that gave its first reason."""
    return _NEXT.join(
        f"{i.item_id}{_PAIR}{i.reasons[0].source if i.reasons else ''}" for i in items
    ).encode()


def listed_ids(raw: bytes) -> list[str]:
    """The item ids of :func:`listed` bytes."""
    return [pair.split(_PAIR, 1)[0] for pair in raw.decode().split(_NEXT)] if raw else []


def with_id(body: bytes, recommendation_id: str) -> bytes:
    """A list's JSON bytes with ``recommendation_id`` first (the stored bytes stay as
    they are: each response gets its own id)."""
    return b'{"recommendation_id":"' + recommendation_id.encode() + b'",' + body[1:]


class Impressions:
    """List ids, and the queue of impressions written in batches by :meth:`run`."""

    def __init__(self, store: EventStore | StreamEventStore, every: float = 0.2) -> None:
        self.store, self.every = store, every
        self._prefix = os.urandom(5).hex()  # unique per process: ids never collide
        self._count = itertools.count(1)
        self.pending: list[tuple[Any, ...]] = []
        self.clock: Callable[[], float] = time.time
        """Unix seconds of an impression; the replay simulator sets its own."""

    def new_id(self) -> str:
        """A fresh list id (process prefix + counter: no syscall per request)."""
        return f"{self._prefix}{next(self._count):x}"

    def shown(
        self,
        client_id: str | None,
        raw: bytes,
        version: str,
        surface: str = "api",
        arm: tuple[str, str] | None = None,
    ) -> str:
        """Queue the impression of one list (:func:`listed` bytes); its new id."""
        recommendation_id = self.new_id()
        self.pending.append(
            (recommendation_id, client_id, raw, version, surface, arm, self.clock())
        )
        return recommendation_id

    async def flush(self) -> int:
        """Write the queued impressions (one batch); how many."""
        batch, self.pending = self.pending, []
        if batch:
            await self.store.append([_record(*entry) for entry in batch])
        return len(batch)

    async def run(self) -> None:
        """Flush every ``every`` seconds, forever; a failed write is logged and retried."""
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.flush()
            except Exception:  # keep logging later impressions
                log.exception("impressions could not be written")

    async def close(self) -> None:
        """Write what is left (at shutdown)."""
        with contextlib.suppress(Exception):
            await self.flush()


def _record(
    recommendation_id: str,
    client_id: str | None,
    raw: bytes,
    version: str,
    surface: str,
    arm: tuple[str, str] | None,
    at: float,
) -> dict[str, Any]:
    pairs = [p.split(_PAIR, 1) for p in raw.decode().split(_NEXT)] if raw else []
    return {
        "type": "impression",
        "recommendation_id": recommendation_id,
        "client_id": client_id,
        "items": [p[0] for p in pairs],
        "sources": [p[1] if len(p) > 1 else "" for p in pairs],
        "model_version": version,
        "surface": surface,
        "experiment": arm[0] if arm else None,
        "arm": arm[1] if arm else None,
        "timestamp": datetime.fromtimestamp(at, UTC).isoformat(),
    }
