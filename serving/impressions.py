"""Served lists have ids, and what each list showed is logged (impressions).

Every list response (client, basket, related, next-best offers, the CRM screen) gets
a fresh ``recommendation_id`` (in the JSON and the ``X-Recommendation-Id`` header),
cached lists included: the id is spliced into the stored bytes. An impression
(id, client, items in order with the source that ranked each, model version,
surface, experiment and arm, time) is queued in memory at O(1) and written in
batches every 200 ms to its own log: a file of compact JSON lines, or with Redis
one stream entry per batch (every replica writes the same stream). A crash loses
at most the last batch of impressions, never an acknowledged event.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from redis.exceptions import RedisError

from recsys.ranking import RankedItem
from serving.stream import FIELD

__all__ = ["SURFACES", "Impressions", "decode", "listed", "listed_ids", "with_id"]

log = logging.getLogger("recsys.serving")

Surface = Literal["storefront", "crm", "api"]
#: Where a list was shown (``X-Surface`` request header; default ``api``).
SURFACES: tuple[str, ...] = ("storefront", "crm", "api")
_PARTS, _NEXT = "\x1d", "\x1f"


def listed(items: Sequence[RankedItem]) -> bytes:
    """A list's item ids in order, then the source that gave each its first reason."""
    ids = _NEXT.join(i.item_id for i in items)
    sources = _NEXT.join(i.reasons[0].source if i.reasons else "" for i in items)
    return f"{ids}{_PARTS}{sources}".encode() if items else b""


def listed_ids(raw: bytes) -> list[str]:
    """The item ids of :func:`listed` bytes."""
    return raw.decode().split(_PARTS, 1)[0].split(_NEXT) if raw else []


def with_id(body: bytes, recommendation_id: str) -> bytes:
    """A list's JSON bytes with ``recommendation_id`` first (the stored bytes stay as
    they are: each response gets its own id)."""
    # One copy of the body (a join of a view), not two (a slice, then a concatenation).
    return b"".join(
        (b'{"recommendation_id":"', recommendation_id.encode(), b'",', memoryview(body)[1:])
    )


class Impressions:
    """List ids, and the queue of impressions written in batches by :meth:`run`."""

    def __init__(
        self,
        path: Path,
        redis: Any = None,
        stream: str = "recsys:impressions",
        every: float = 0.2,
        enabled: bool = True,
    ) -> None:
        self.path, self.redis, self.stream = path, redis, stream
        self.every, self.enabled = every, enabled
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
        if self.enabled:
            entry = (recommendation_id, client_id, raw, version, surface, arm, self.clock())
            self.pending.append(entry)
        return recommendation_id

    async def flush(self) -> int:
        """Write the queued impressions as one batch; how many: with Redis one stream
        entry per batch, else (or while Redis is down) appended to the file (in a
        thread). Encoding stays on the loop (~1 µs each, a few ms per batch): in a
        thread it fought the loop for the GIL and cost a tenth of the cached reads."""
        batch, self.pending = self.pending, []
        if not batch:
            return 0
        payload = _encode(batch)
        if self.redis is not None:
            try:
                await self.redis.xadd(self.stream, {FIELD: payload})
                return len(batch)
            except (RedisError, OSError) as error:
                log.warning("impressions kept in %s, Redis unreachable: %s", self.path, error)
        await asyncio.to_thread(_append, self.path, payload)
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


def _encode(batch: list[tuple[Any, ...]]) -> bytes:
    """One compact JSON array per impression (see :func:`decode`): ~5× cheaper to
    write than a record with named fields, which :func:`decode` rebuilds."""
    return b"".join(
        orjson.dumps((rid, client, raw.decode(), version, surface, *(arm or (None, None)), at))
        + b"\n"
        for rid, client, raw, version, surface, arm, at in batch
    )


def _append(path: Path, payload: bytes) -> None:
    """Append a batch (no fsync: impressions are not acknowledged to anyone; a crash of
    the process loses nothing written, one of the machine the last page-cache seconds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as sink:
        fcntl.flock(sink, fcntl.LOCK_EX)
        sink.write(payload)


def decode(data: bytes) -> list[dict[str, Any]]:
    """Impression records (named fields, ISO timestamps) from logged bytes; a torn
    last line (a crash mid-write) is skipped."""
    out = []
    for line in data.splitlines():
        try:
            found = orjson.loads(line)
            if isinstance(found, dict):  # a record with named fields (hand-written logs)
                out.append(found)
                continue
            rid, client, raw, version, surface, experiment, arm, at = found
        except (orjson.JSONDecodeError, ValueError):
            continue
        ids, _, sources = raw.partition(_PARTS)
        out.append(
            {
                "type": "impression",
                "recommendation_id": rid,
                "client_id": client,
                "items": ids.split(_NEXT) if ids else [],
                "sources": sources.split(_NEXT) if ids else [],
                "model_version": version,
                "surface": surface,
                "experiment": experiment,
                "arm": arm,
                "timestamp": datetime.fromtimestamp(at, UTC).isoformat(),
            }
        )
    return out
