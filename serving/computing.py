"""Lists to compute, taken in turn by a few workers on the event loop.

A list is ~1 ms of numpy with the GIL held, run on the loop (in threads they fought
over the GIL). Computed inline, a burst of misses runs back to back in one turn of
the loop and every request behind them waits, hits included. Queued, each worker
yields to the loop after every list, so other requests go on between them, and the
queue's length says how long a new list would wait: :meth:`ListQueue.admits` refuses
one that would not be ready within the budget (the miss is answered by the fallback
instead, :mod:`serving.misses`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any
from weakref import WeakKeyDictionary

__all__ = ["ListQueue"]

log = logging.getLogger("recsys.serving")

Work = Callable[[], Awaitable[Any]]
#: Lists computed side by side: two, so one waiting on Redis leaves the CPU to another.
WORKERS = 2


class _Lane:
    """One event loop's queue, workers and keys queued for a refresh."""

    def __init__(self) -> None:
        self.jobs: deque[tuple[Work, asyncio.Future[Any], Hashable]] = deque()
        self.running, self.workers = 0, 0
        self.refreshing: set[Hashable] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        """The workers' tasks, referenced while they run."""


class ListQueue:
    """Lists waiting to be computed, in arrival order, and the mean time the queue
    takes per list (the lists and what the loop serves between them)."""

    def __init__(self, backlog: int, mean: float = 0.002) -> None:
        self.backlog, self.mean = backlog, mean
        self._lanes: WeakKeyDictionary[asyncio.AbstractEventLoop, _Lane] = WeakKeyDictionary()

    def _lane(self) -> _Lane:
        return self._lanes.setdefault(asyncio.get_running_loop(), _Lane())

    def pending(self) -> int:
        """Lists queued or being computed on this loop."""
        lane = self._lane()
        return len(lane.jobs) + lane.running

    def admits(self, budget: float) -> bool:
        """Whether one more list would be ready within ``budget`` seconds, as the
        lists ahead of it took on average, and the backlog has room."""
        ahead = self.pending()  # one loop runs them all: in turn, whatever the workers
        return ahead < self.backlog and (ahead + 1) * self.mean <= budget

    def submit(self, work: Work, refresh: Hashable | None = None) -> asyncio.Future[Any]:
        """Queue ``work()``; its result (or error) arrives in the future returned. A
        ``refresh`` key already queued is not queued twice (its future is a done one)."""
        lane, loop = self._lane(), asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if refresh is not None and refresh in lane.refreshing:
            future.set_result(None)
            return future
        if refresh is not None:
            lane.refreshing.add(refresh)
        lane.jobs.append((work, future, refresh))
        if lane.workers < WORKERS:
            lane.workers += 1
            task = asyncio.ensure_future(self._work(lane))
            lane.tasks.add(task)
            task.add_done_callback(lane.tasks.discard)
        return future

    async def _work(self, lane: _Lane) -> None:
        try:
            while lane.jobs:
                work, future, refresh = lane.jobs.popleft()
                lane.running += 1
                started = time.perf_counter()
                try:
                    await self._one(work, future)
                finally:
                    lane.running -= 1
                    lane.refreshing.discard(refresh)
                await asyncio.sleep(0)  # let the loop serve others before the next list
                # A worker's turn (its list, then what the loop served meanwhile, the
                # other worker's list too) over the workers: how fast the queue drains.
                turn = (time.perf_counter() - started) / lane.workers
                self.mean += 0.05 * (turn - self.mean)
        finally:
            lane.workers -= 1

    @staticmethod
    async def _one(work: Work, future: asyncio.Future[Any]) -> None:
        try:
            result = await work()
        except Exception as error:  # handed to whoever waits; logged when nobody does
            if not future.done():
                future.set_exception(error)
            future.add_done_callback(_retrieved)
            return
        if not future.done():
            future.set_result(result)


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a queued list failed: %r", future.exception())
