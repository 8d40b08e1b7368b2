"""Deleting a client (``DELETE /v1/clients/{id}``), on every replica.

At once, on the replica that answers: the tombstone (SHA-256 of the id) is fsynced
to ``RECSYS_TOMBSTONES_PATH`` and, with Redis, added to a shared set; the client's
cached lists, fresh purchases and features are removed. With Redis a ``forget``
record (the hash only) goes on the events stream, so every replica drops its own
copies and exports leave the client's events out. Lists for a deleted client are
cold-start lists from then on: the bundle still holds the client's row until the
next training, which drops it (``recsys train --tombstones``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from redis.exceptions import RedisError

from recsys.privacy import append_tombstones, client_hash, read_tombstones
from serving.deps import Context
from serving.stream import StreamEventStore

__all__ = ["FORGET", "TOMBSTONE_SET", "forget", "forgotten_elsewhere", "load_tombstones"]

log = logging.getLogger("recsys.serving")

#: The event type of a deletion record on the stream; the Redis set of tombstones.
FORGET, TOMBSTONE_SET = "forget", "recsys:tombstones"


async def load_tombstones(ctx: Context) -> None:
    """Tombstones from the file and, with Redis, the shared set (at start)."""
    found = set(await asyncio.to_thread(read_tombstones, ctx.settings.tombstones_path))
    if isinstance(ctx.events, StreamEventStore):
        try:
            found |= {m.decode() for m in await ctx.events.redis.smembers(TOMBSTONE_SET)}
        except (RedisError, OSError) as error:
            log.warning("tombstones not read from Redis: %s", error)
    ctx.state.forgotten |= found


async def forget(ctx: Context, client_id: str) -> None:
    """Delete ``client_id``'s data everywhere this service keeps it (module docstring)."""
    digest = client_hash(client_id)
    await asyncio.to_thread(append_tombstones, ctx.settings.tombstones_path, [digest])
    if isinstance(ctx.events, StreamEventStore):
        record = {"type": FORGET, "client_hash": digest, "event_id": uuid4().hex}
        record["timestamp"] = datetime.now(UTC).isoformat()
        await ctx.events.redis.sadd(TOMBSTONE_SET, digest)
        await ctx.events.append([record])
    ctx.state.forget(digest)
    ctx.outcomes.book.forget(client_id)
    await ctx.cache.drop_client(client_id)
    if ctx.features is not None:
        await asyncio.to_thread(ctx.features.forget, client_id)
    log.info("a client was deleted (%d tombstones)", len(ctx.state.forgotten))


async def forgotten_elsewhere(ctx: Context, record: dict[str, Any]) -> None:
    """Another replica deleted a client: drop this process's copies (by hash)."""
    digest = str(record["client_hash"])
    ctx.state.forget(digest)
    for client in ctx.cache.local.clients():
        if client_hash(client) == digest:
            ctx.cache.local.drop_client(client)
