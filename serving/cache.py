"""Ranked lists cached as the exact response bytes: in-process LRU, then Redis.

Keys carry the model version, so a new model never serves stale lists. Each
client's keys are listed in a Redis set (and a local index) so an event drops
exactly that client's lists. When Redis fails the service keeps answering from
the in-process path; ``healthy`` says so until a command succeeds again.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["ListCache", "LocalLRU", "queue_list"]


def queue_list(pipe: Any, key: str, client: str, value: bytes, ttl: int) -> None:
    """Queue the Redis writes of one cached list on ``pipe`` (sync or async pipeline):
    the bytes, and the key in the client's key set that events invalidate."""
    pipe.set(key, value, ex=ttl)
    pipe.sadd(f"keys:{client}", key)
    pipe.expire(f"keys:{client}", ttl)


class LocalLRU:
    """A small TTL + LRU map of bytes, per process, with each client's keys indexed."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size, self.ttl = size, ttl
        self._data: OrderedDict[str, tuple[float, str, bytes]] = OrderedDict()
        self._by_client: dict[str, set[str]] = {}

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

    def drop_client(self, client: str) -> None:
        """Forget every list of ``client``."""
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
    """Two levels: the local LRU, then Redis when configured."""

    def __init__(self, redis_url: str | None, ttl: int, local_size: int) -> None:
        self.ttl = ttl
        self.local = LocalLRU(local_size if redis_url else max(local_size, 1000), ttl)
        self.redis: Any = (
            aioredis.from_url(redis_url, socket_timeout=0.2, socket_connect_timeout=0.2)
            if redis_url
            else None
        )
        self.healthy = self.redis is None

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

    async def set(self, key: str, client: str, value: bytes) -> None:
        """Store in both levels; the client's key set lets events drop it."""
        self.local.set(key, client, value)
        if self.redis is not None:
            pipe = self.redis.pipeline(transaction=False)
            queue_list(pipe, key, client, value, self.ttl)
            await self._redis(pipe.execute())

    async def drop_client(self, client: str) -> None:
        """Invalidate every cached list of ``client`` (after an event)."""
        self.local.drop_client(client)
        if self.redis is not None:
            keys = await self._redis(self.redis.smembers(f"keys:{client}")) or set()
            await self._redis(self.redis.delete(f"keys:{client}", *keys))

    async def ping(self) -> bool:
        """Whether Redis answers now (always true without Redis)."""
        if self.redis is None:
            return True
        return await self._redis(self.redis.ping()) is not None

    async def _redis(self, call: Any) -> Any:
        try:
            result = await call
        except (RedisError, OSError):
            self.healthy = False
            return None
        self.healthy = True
        return result

    async def close(self) -> None:
        """Close the Redis connection pool."""
        if self.redis is not None:
            await self.redis.aclose()
