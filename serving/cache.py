"""Ranked lists cached as the exact response bytes: in-process LRU, then Redis.

Keys carry the model version, so a new model never serves an earlier list as
its own (:mod:`serving.misses` may answer one, marked stale, for a bounded time). Each
client's keys are listed in a Redis set (and a local index) so an event drops
exactly that client's lists. When Redis fails the service keeps answering from
the in-process path; ``healthy`` says so until a command succeeds again.

Every event that drops a client's lists also moves the client's *generation*: a
counter here and, with Redis, one in Redis (so replicas agree). A list is computed
under the generation read before it read the client's purchases and outcomes, and
stored only if the generation is still that one (atomically, in Redis), so a list
computed across an event is never stored after the event dropped the client's.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, NamedTuple, TypeVar
from weakref import WeakKeyDictionary

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from serving.computing import ListQueue

__all__ = [
    "DROP",
    "STORE",
    "Generation",
    "InFlight",
    "ListCache",
    "LocalLRU",
    "generation_key",
    "generations",
    "queue_store",
]

T = TypeVar("T")

#: Store a list (KEYS: list, client key set, generation; ARGV: bytes, TTL, the
#: generation read before computing): only while the generation is still that one.
STORE = """
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""
#: Move a client's generation, then drop its lists (KEYS: client key set, generation;
#: ARGV: the generation's TTL), at once: a store either lands before (and is
#: dropped) or meets the new generation (and is refused).
DROP = """
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
local keys = redis.call('SMEMBERS', KEYS[1])
for i = 1, #keys, 1000 do
  redis.call('DEL', unpack(keys, i, math.min(i + 999, #keys)))
end
redis.call('DEL', KEYS[1])
return #keys
"""
#: How long a generation outlives the client's last event: far longer than any list
#: (or precompute run) takes to compute, so it never reads as unset again meanwhile.
GENERATION_TTL = 7 * 24 * 3600
_DOWN = object()


def generation_key(client: str) -> str:
    """The Redis key of a client's generation."""
    return f"gen:{client}"


class Generation(NamedTuple):
    """A client's generation as read before computing its list."""

    local: int
    shared: bytes | None
    """Redis's counter (``b"0"`` while unset); ``None`` without Redis or when it failed."""


def queue_store(
    script: Any, pipe: Any, key: str, client: str, value: bytes, ttl: int, seen: bytes
) -> None:
    """Queue :data:`STORE` of one list on ``pipe`` (``script`` registered from it)."""
    keys = [key, f"keys:{client}", generation_key(client)]
    script(keys=keys, args=[value, ttl, seen], client=pipe)


def generations(client: Any, clients: list[str], chunk: int = 10_000) -> list[bytes]:
    """Each client's generation as :meth:`ListCache.generation` reads it (sync client)."""
    keys = [generation_key(c) for c in clients]
    found: list[Any] = []
    for start in range(0, len(keys), chunk):
        found += client.mget(keys[start : start + chunk])
    return [value or b"0" for value in found]


class InFlight:
    """Concurrent misses of one list share one computation. Futures belong to a loop,
    so each event loop (an app may run two lifespans) has its own."""

    def __init__(self) -> None:
        self._loops: WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[Hashable, asyncio.Future[Any]]
        ] = WeakKeyDictionary()

    async def once(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        """``work()``'s result, shared with every caller of ``key`` meanwhile."""
        loop = asyncio.get_running_loop()
        running = self._loops.setdefault(loop, {})
        if key in running:
            result: T = await asyncio.shield(running[key])
            return result
        future: asyncio.Future[T] = loop.create_future()
        running[key] = future
        try:
            value = await work()
            future.set_result(value)
            return value
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning
            raise
        finally:
            running.pop(key, None)


class LocalLRU:
    """A small TTL + LRU map of bytes, per process, with each client's keys indexed
    and each client's generation (moved by :meth:`drop_client`)."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size, self.ttl = size, ttl
        self._data: OrderedDict[str, tuple[float, str, bytes]] = OrderedDict()
        self._by_client: dict[str, set[str]] = {}
        self._generations: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> bytes | None:
        """The live value of ``key``, refreshed as most recently used."""
        found = self._data.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        self._data.move_to_end(key)
        return found[2]

    def set(self, key: str, client: str, value: bytes) -> None:
        """Store ``value``; evict the least recently used past ``size``."""
        if self.size <= 0:
            return
        self._data[key] = (time.monotonic() + self.ttl, client, value)
        self._data.move_to_end(key)
        self._by_client.setdefault(client, set()).add(key)
        while len(self._data) > self.size:
            old_key, (_, old_client, _) = self._data.popitem(last=False)
            self._forget(old_client, old_key)  # the index must not outgrow the map

    def generation(self, client: str) -> int:
        """How many times ``client``'s lists were dropped in this process."""
        return self._generations.get(client, 0)

    def drop_client(self, client: str) -> None:
        """Forget every list of ``client`` and move its generation."""
        self._generations[client] = self._generations.get(client, 0) + 1
        for key in self._by_client.pop(client, set()):
            self._data.pop(key, None)

    def clients(self) -> list[str]:
        """The clients with lists held here."""
        return list(self._by_client)

    def indexed_keys(self) -> int:
        """Keys held in the per-client index (equals ``len(self)``; tests check it)."""
        return sum(len(keys) for keys in self._by_client.values())

    def _forget(self, client: str, key: str) -> None:
        keys = self._by_client.get(client)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_client[client]


class ListCache:
    """Two levels: the local LRU, then Redis when configured; and the lists being
    computed now (:class:`InFlight`)."""

    def __init__(self, redis_url: str | None, ttl: int, local_size: int, backlog: int = 32) -> None:
        self.ttl = ttl
        self.local = LocalLRU(local_size if redis_url else max(local_size, 1000), ttl)
        self.redis: Any = (
            aioredis.from_url(redis_url, socket_timeout=0.2, socket_connect_timeout=0.2)
            if redis_url
            else None
        )
        self.healthy = self.redis is None
        self.inflight = InFlight()
        self.queue = ListQueue(backlog)
        if self.redis is not None:
            self._store = self.redis.register_script(STORE)
            self._drop = self.redis.register_script(DROP)

    @property
    def backend(self) -> str:
        """``redis`` or ``memory``."""
        return "redis" if self.redis is not None else "memory"

    async def get(self, key: str) -> bytes | None:
        """Local first, then Redis. A Redis hit is not copied into the local level: only
        lists this process computed are there, so its events can drop them."""
        value = self.local.get(key)
        if value is None and self.redis is not None:
            value = await self._redis(self.redis.get(key))
        return value

    def generation_here(self, client: str) -> Generation:
        """``client``'s generation now, without Redis (in process: nothing to await)."""
        return Generation(self.local.generation(client), None)

    async def generation(self, client: str) -> Generation:
        """``client``'s generation now: read it before what events change."""
        if self.redis is None:
            return self.generation_here(client)
        local = self.local.generation(client)
        shared = await self._redis(self.redis.get(generation_key(client)), _DOWN)
        return Generation(local, None if shared is _DOWN else shared or b"0")

    def store_here(self, key: str, client: str, value: bytes, seen: Generation) -> bool:
        """:meth:`store` without Redis (in process: nothing to await)."""
        if self.local.generation(client) != seen.local:
            return False
        self.local.set(key, client, value)
        return True

    async def store(self, key: str, client: str, value: bytes, seen: Generation) -> bool:
        """Store in both levels if ``client``'s generation is still ``seen``; whether
        it was (Redis failing, the local level still takes it)."""
        if self.redis is None or seen.shared is None:
            return self.store_here(key, client, value, seen)
        if self.local.generation(client) != seen.local:
            return False
        keys = [key, f"keys:{client}", generation_key(client)]
        stored = await self._redis(self._store(keys=keys, args=[value, self.ttl, seen.shared]))
        if stored == 0 or self.local.generation(client) != seen.local:
            return False
        self.local.set(key, client, value)
        return True

    async def drop_client(self, client: str) -> None:
        """Invalidate every cached list of ``client`` and move its generation (after
        an event: lists computed before it are not stored)."""
        self.local.drop_client(client)
        if self.redis is not None:
            keys = [f"keys:{client}", generation_key(client)]
            await self._redis(self._drop(keys=keys, args=[GENERATION_TTL]))

    async def ping(self) -> bool:
        """Whether Redis answers now (always true without Redis)."""
        if self.redis is None:
            return True
        return await self._redis(self.redis.ping()) is not None

    async def _redis(self, call: Any, down: Any = None) -> Any:
        """``call``'s result, or ``down`` when Redis failed."""
        try:
            result = await call
        except (RedisError, OSError):
            self.healthy = False
            return down
        self.healthy = True
        return result

    async def close(self) -> None:
        """Close the Redis connection pool."""
        if self.redis is not None:
            await self.redis.aclose()
