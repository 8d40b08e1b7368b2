"""Events shared by every replica through one Redis Stream.

:class:`StreamEventStore` writes each accepted batch with one pipelined ``XADD`` per
event before the 2xx; when Redis cannot take them they go to a local pending file
(fsynced, with a warning) and :meth:`StreamEventStore.replay` moves them into the
stream once Redis answers again. Every event carries an ``event_id``, so a batch
replayed twice after a crash is counted once by ``recsys events export``.

:func:`follow` runs in every replica: a blocking ``XREAD`` from the last id it saw
(resumed after a reconnect) applies every replica's purchases to this process's
fresh-purchase state and drops the client's cached lists, so a purchase accepted
anywhere is reflected everywhere. It starts after the last entry its bundle was
trained on (:func:`start_after`), not at the bundle's creation, which is stamped
when training ends.

Durability is Redis's: with ``appendonly yes`` and ``appendfsync everysec`` an
acknowledged event survives a Redis crash except for the last second; with
``appendfsync always`` it survives that too (one fsync per write).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from serving.event_store import EventStore, parse_lines

if TYPE_CHECKING:  # the bundle (numpy, the models) is not needed to follow a stream
    from recsys.bundle import EventsPosition

__all__ = [
    "DEFAULT_STREAM",
    "FIELD",
    "StreamEventStore",
    "follow",
    "records_after",
    "records_after_async",
    "since",
    "start_after",
    "stream_client",
]

log = logging.getLogger("recsys.serving")

#: The stream field that holds one event's JSON (``recsys events export`` reads it too).
FIELD = b"e"
#: The stream's name unless ``RECSYS_EVENTS_STREAM`` says otherwise.
DEFAULT_STREAM = "recsys:events"
#: Entries read per ``XRANGE`` by :func:`records_after` and :func:`records_after_async`.
CHUNK = 5000


def records_after(client: Any, stream: str, start: str = "-") -> Iterator[dict[str, Any]]:
    """Every record of ``stream`` after the entry id ``start`` (exclusive; ``-``: all),
    oldest first, :data:`CHUNK` entries per read (a synchronous redis-py client)."""
    while True:
        got = client.xrange(stream, min=_exclusive(start), max="+", count=CHUNK)
        yield from (orjson.loads(fields[FIELD]) for _, fields in got)
        if len(got) < CHUNK:
            return
        start = _entry_id(got[-1][0])


async def records_after_async(client: Any, stream: str, start: str = "-") -> list[dict[str, Any]]:
    """:func:`records_after` with an asyncio client."""
    found: list[dict[str, Any]] = []
    while True:
        got = await client.xrange(stream, min=_exclusive(start), max="+", count=CHUNK)
        found += [orjson.loads(fields[FIELD]) for _, fields in got]
        if len(got) < CHUNK:
            return found
        start = _entry_id(got[-1][0])


def _exclusive(start: str) -> str:
    return start if start == "-" else f"({start}"


def _entry_id(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def stream_client(redis_url: str) -> Any:
    """A Redis client for the stream: its own pool, timeouts longer than a blocking read."""
    return aioredis.from_url(redis_url, socket_timeout=5.0, socket_connect_timeout=1.0)


class StreamEventStore:
    """Appends batches to the stream; falls back to a local pending file."""

    def __init__(self, redis: Any, stream: str, pending: Path) -> None:
        self.redis, self.stream = redis, stream
        self.pending = EventStore(pending)
        self.healthy = True

    async def append(self, events: list[dict[str, Any]]) -> None:
        """Durable before return: in the stream, or fsynced in the pending file."""
        if await self._xadd(events):
            return
        log.warning("Redis unreachable: %d events kept in %s", len(events), self.pending.path)
        await self.pending.append(events)

    async def _xadd(self, events: list[dict[str, Any]]) -> bool:
        pipe = self.redis.pipeline(transaction=False)
        for event in events:
            pipe.xadd(self.stream, {FIELD: orjson.dumps(event)})
        try:
            await pipe.execute()
        except (RedisError, OSError):
            self.healthy = False
            return False
        self.healthy = True
        return True

    async def replay(self) -> int:
        """Move pending events into the stream; how many moved (0 if none or Redis down).

        The file stays locked from reading to emptying, so an event another process
        appends meanwhile waits for the next replay instead of being lost.
        """
        try:
            handle = await asyncio.to_thread(_locked, self.pending.path)
        except FileNotFoundError:
            return 0
        try:
            waiting = parse_lines(await asyncio.to_thread(handle.read))
            if not waiting or not await self._xadd(waiting):
                return 0
            await asyncio.to_thread(_empty, handle)
        finally:
            handle.close()  # releases the lock
        log.info("replayed %d pending events into %s", len(waiting), self.stream)
        return len(waiting)

    def read_all(self) -> list[dict[str, Any]]:
        """Only the pending events: the stream is read by ``recsys events export``."""
        return self.pending.read_all()


def _locked(path: Path) -> BinaryIO:
    handle = open(path, "r+b")  # noqa: SIM115 (closed by the caller, which holds the lock)
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def _empty(handle: BinaryIO) -> None:
    handle.seek(0)
    handle.truncate()
    handle.flush()
    os.fsync(handle.fileno())


Apply = Callable[[dict[str, Any]], Awaitable[None]]


def since(created_at: str) -> str:
    """The stream id of a moment (ISO 8601): entries are ids ``<Unix ms>-<seq>``."""
    stamp = datetime.fromisoformat(created_at)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return f"{int(stamp.timestamp() * 1000)}-0"


def start_after(position: EventsPosition | None, created_at: str) -> str:
    """Where a replica of a bundle follows the stream from: after the last entry the
    bundle was trained on, so purchases accepted while it trained are applied too;
    bundles that read no stream (or older ones) from their training time."""
    if position is not None and position.stream_id:
        return position.stream_id
    return since(created_at)


async def follow(
    redis: Any, stream: str, apply: Apply, start: str = "0-0", block_ms: int = 1000
) -> None:
    """Apply every stream event after ``start`` (an id, see :func:`start_after`),
    until cancelled; reconnects resume from the last id seen, so nothing written
    meanwhile is skipped.

    A replica starts from its bundle's position, not from the stream's end: it then
    knows every purchase made since, also those accepted before it started. Any error
    (Redis away, a connection left unusable) is logged and retried with back-off: a
    follower that died silently would leave this replica blind to purchases."""
    last: Any = start
    failures = 0
    while True:
        if _cancelled():  # a cancel the client swallowed whole still ends the follower
            raise asyncio.CancelledError
        try:
            answer = await redis.xread({stream: last}, block=block_ms, count=500)
        except Exception as error:  # CancelledError is not an Exception: cancel still ends it
            if _cancelled():  # redis-py may turn a cancel inside a read into another error
                raise asyncio.CancelledError from error
            failures += 1
            await _back_off(stream, error, failures)
            continue
        if failures:
            log.info("following %s again after %d failed reads", stream, failures)
            failures = 0
        for _, entries in answer or []:
            for entry_id, fields in entries:
                last = entry_id
                await _apply_one(apply, fields)


def _cancelled() -> bool:
    """Whether this task was asked to stop (the request outlives a swallowed cancel)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _back_off(stream: str, error: Exception, failures: int) -> None:
    """Wait before reading again: 0.5 s, doubling up to 5 s (Redis back, the replica
    catches up soon). Said once per outage; with the traceback unless Redis is away."""
    if failures == 1:
        away = isinstance(error, RedisError | OSError)
        log.warning("following %s failed, retrying: %r", stream, error, exc_info=not away)
    await asyncio.sleep(min(0.5 * 2 ** (failures - 1), 5.0))


async def _apply_one(apply: Apply, fields: dict[bytes, bytes]) -> None:
    try:
        await apply(orjson.loads(fields[FIELD]))
    except Exception:  # one bad entry must not stop the follower
        log.exception("stream event could not be applied")
