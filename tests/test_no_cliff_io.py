"""A missed list's reads and store are not its cost in the queue (issue 29).

The queue admits a miss when the lists ahead would be ready within the budget, at their
mean cost, and gives them slices of the loop. Through Redis a list awaits reads (the
client's generation, its profile from the feature store) and a store: awaited inside
the queued work, that time counted as the list's cost and as slice time, so the queue
admitted fewer lists than it could compute. The reads now run before the work, untimed,
and the store after it, on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from redis.exceptions import TimeoutError as RedisTimeoutError

from serving.app import create_app
from serving.computing import ListQueue
from tests.conftest import settings_for
from tests.servers import LOOPBACK
from tests.test_no_cliff import Q, _clients, _until, own_redis

__all__ = ["own_redis"]  # the fixture, a redis-server of each test's own

#: How long each read is made to take (a slow feature store); a list's work takes far
#: less (2 ms here, ~1 ms in the service), even on a loaded machine.
SLOW = 0.05


def _spin(seconds: float) -> None:
    """Hold the CPU (and the loop) for ``seconds``, as a list's ranking does."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_the_queue_times_the_work_only_and_stores_after_the_answer() -> None:
    order: list[str] = []
    answered_first: list[bool] = []  # at each store: whether its request had the list
    futures: dict[int, asyncio.Future[Any]] = {}

    async def read() -> None:
        await asyncio.sleep(SLOW)
        order.append("read")

    def work() -> str:
        _spin(0.002)
        order.append("work")
        return "list"

    def store_of(key: int) -> Callable[[], Awaitable[None]]:
        async def store() -> None:
            answered_first.append(futures[key].done())
            await asyncio.sleep(SLOW)
            order.append("store")

        return store

    async def run() -> tuple[list[Any], ListQueue, float]:
        queue = ListQueue(backlog=100, cost=0.002)
        answers = []
        for i in range(8):  # one at a time: each read is waited for by the worker
            futures[i] = queue.submit(work, key=i, read=read, then=store_of(i))
            answers.append(await futures[i])
        busy = queue._lane().busy  # seconds of slices
        await asyncio.sleep(3 * SLOW)  # the stores, on their own
        return answers, queue, busy

    answers, queue, busy = asyncio.run(run())
    assert answers == ["list"] * 8
    # 2 ms of work each; counted, the 50 ms reads would make the mean (from 2 ms) 19 ms
    # and the slices 400 ms.
    assert queue.cost < SLOW / 4
    assert busy < 8 * SLOW / 2
    assert answered_first == [True] * 8  # nobody waited for a store
    assert order.count("read") == order.count("work") == order.count("store") == 8
    assert order.index("read") < order.index("work")


def test_through_redis_a_slow_feature_read_is_not_the_lists_cost(
    bundles: Path, tmp_path: Path, own_redis: str
) -> None:
    clients = _clients(bundles, 12)
    settings = settings_for(bundles, tmp_path, redis_url=own_redis, list_budget_ms=5000)
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        ctx = c.app.state.context  # type: ignore[attr-defined]
        read = ctx.live_profiles.get

        async def slow(client: str) -> Any:  # awaited: the loop goes on meanwhile
            await asyncio.sleep(SLOW)
            return await read(client)

        ctx.live_profiles.get = slow
        queue = ctx.cache.queue
        c.get(Q.format(clients[0]) + "&warm=1")  # the first list's warm-up is not judged
        queue.cost = 0.001
        first = [c.get(Q.format(client)).json() for client in clients]
        cost = queue.cost
        again = [_until(lambda x=x: c.get(Q.format(x)).json(), _cached) for x in clients]
    assert not any("degraded" in body for body in first)
    assert [b["items"] for b in again] == [b["items"] for b in first]  # stored after
    # Each list waited 50 ms for its profile: counted, the mean from 1 ms would be 24 ms.
    assert cost < SLOW / 4


def test_a_list_ranked_without_the_profile_the_store_did_not_give_is_not_stored(
    bundles: Path, tmp_path: Path, own_redis: str
) -> None:
    who = _clients(bundles, 1)[0]
    settings = settings_for(bundles, tmp_path, redis_url=own_redis, list_budget_ms=5000)
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        ctx = c.app.state.context  # type: ignore[attr-defined]
        read = ctx.live_profiles.get

        async def failing(client: str) -> Any:
            raise RedisTimeoutError("the feature store did not answer in time")

        ctx.live_profiles.get = failing
        first = c.get(Q.format(who))
        second = c.get(Q.format(who)).json()
        ctx.live_profiles.get = read
        third = c.get(Q.format(who)).json()
        fourth = _until(lambda: c.get(Q.format(who)).json(), _cached)
    assert first.status_code == 200 and "degraded" not in first.json()
    assert first.json()["cached"] is False and second["cached"] is False  # not stored
    assert third["cached"] is False and fourth["items"] == third["items"]  # then stored


def _cached(body: dict[str, Any]) -> bool:
    return body.get("cached") is True
