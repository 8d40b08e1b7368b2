"""Write every known client's top-k list into Redis ahead of traffic (pipelined)."""

from __future__ import annotations

import redis

from recsys.errors import ConfigError
from serving.cache import queue_list
from serving.lists import cache_key, list_body
from serving.settings import ServingSettings
from serving.state import load

__all__ = ["precompute"]


def precompute(settings: ServingSettings, k: int = 10, batch: int = 500) -> tuple[str, int]:
    """Cache ``?k=<k>`` lists of all clients of the bundle; return (version, count).

    Keys are those the service looks up for the query string ``k=<k>``, so the
    first request of every known client is a hit.
    """
    if settings.redis_url is None:
        raise ConfigError("redis_url: precompute writes to Redis; set RECSYS_REDIS_URL")
    loaded = load(settings)
    query, ttl = f"k={k}".encode(), settings.cache_ttl_seconds
    client = redis.Redis.from_url(settings.redis_url)
    pipe = client.pipeline(transaction=False)
    ids = loaded.bundle.data.clients.ids
    for n, client_id in enumerate(ids.tolist()):
        key = cache_key(loaded.cache_version, client_id, query)
        body = list_body(client_id, loaded.version, loaded.recommender.for_client(client_id, k))
        queue_list(pipe, key, client_id, body, ttl)
        if n % batch == batch - 1:
            pipe.execute()
    pipe.execute()
    client.close()
    return loaded.version, len(ids)
