"""The redis fixture starts a real server that answers."""

from __future__ import annotations

import redis


def test_redis_server_answers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("recsys:probe", b"1", ex=5)
    assert client.get("recsys:probe") == b"1"
    client.close()
