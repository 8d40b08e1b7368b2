"""Lists to compute, taken in turn by a few workers on the event loop.

A list is ~1 ms of numpy with the GIL held, run on the loop (in threads they fought
over the GIL). Computed inline, a burst of misses runs back to back in one turn of
the loop and every request behind them waits, hits included. Queued, each worker
yields to the loop after each 5 ms of lists, so other requests go on between them, and the
queue's length says how long a new list would wait: :meth:`ListQueue.admits` refuses
one that would not be ready within the budget (the miss is answered by the fallback
instead, :mod:`serving.misses`). A finished list reaches its request only some turns of
the loop later, after the other requests of those turns: under a flood of misses that took
half as long again as the lists ahead (all-miss load, 64 connections: a predicted 24 ms
wait took 35), so the queue also learns that lag, from each request that resumes with
its list (:meth:`ListQueue.resumed`), and counts it in. With nothing ahead a list is
always admitted: the lag is measured again, so one long stall cannot shut the queue.
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
#: Seconds of lists computed back to back before the loop serves the others (hits wait
#: at most this long behind lists; one list per turn starved the lists under a flood
#: of cheap answers, as each turn of the loop served all of those first).
SLICE = 0.005


class _Lane:
    """One event loop's queue, workers and keys queued for a refresh."""

    def __init__(self) -> None:
        self.jobs: deque[tuple[Work, asyncio.Future[Any], Hashable, float]] = deque()
        self.running, self.workers = 0, 0
        self.turn = self.last_done = 0.0
        """When the current slice began; when the last list was done."""
        self.refreshing: set[Hashable] = set()
        """Keys of the refreshes queued or running."""
        self.queued: dict[Hashable, asyncio.Future[Any]] = {}
        """The future of each key's job waiting in the queue (not started)."""
        self.tasks: set[asyncio.Task[None]] = set()
        """The workers' tasks, referenced while they run."""


class ListQueue:
    """Lists waiting to be computed, in arrival order, the mean time the queue takes
    per list while busy (the lists and what the loop serves between them) and the
    mean lag from a list's end to the loop's next turn, where its request resumes."""

    def __init__(self, backlog: int, mean: float = 0.002, lag: float = 0.0) -> None:
        self.backlog, self.mean, self.lag = backlog, mean, lag
        self._finished: WeakKeyDictionary[asyncio.Future[Any], float] = WeakKeyDictionary()
        """When each list's future got its result (read by :meth:`resumed`)."""
        self._lanes: WeakKeyDictionary[asyncio.AbstractEventLoop, _Lane] = WeakKeyDictionary()

    def _lane(self) -> _Lane:
        return self._lanes.setdefault(asyncio.get_running_loop(), _Lane())

    def pending(self) -> int:
        """Lists queued or being computed on this loop."""
        lane = self._lane()
        return len(lane.jobs) + lane.running

    def admits(self, budget: float) -> bool:
        """Whether one more list would reach its request within ``budget`` seconds, as
        the lists ahead of it and the loop's turns took on average, and the backlog
        has room."""
        ahead = self.pending()  # one loop runs them all: in turn, whatever the workers
        if ahead == 0:  # a probe: its request measures the lag again
            return self.backlog > 0
        return ahead < self.backlog and (ahead + 1) * self.mean + self.lag <= budget

    def resumed(self, future: asyncio.Future[Any]) -> None:
        """Fold into the lag the time from ``future``'s list's end to now, where the
        request waiting for it resumed (once per list, by its first request)."""
        finished = self._finished.pop(future, None)
        if finished is not None:
            self.lag += 0.05 * (time.perf_counter() - finished - self.lag)

    def submit(
        self, work: Work, key: Hashable | None = None, refresh: bool = False
    ) -> asyncio.Future[Any]:
        """Queue ``work()``; its result (or error) arrives in the future returned. While
        a job of the same ``key`` waits in the queue, its future is shared (it reads
        what events changed when it starts); a ``refresh`` (nobody waits for it) is not
        queued either while one of its key runs (its future is then a done one)."""
        lane = self._lane()
        if key is not None and key in lane.queued:
            return lane.queued[key]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if refresh and key in lane.refreshing:
            future.set_result(None)
            return future
        if refresh:
            lane.refreshing.add(key)
        if key is not None:
            lane.queued[key] = future
        lane.jobs.append((work, future, key, time.perf_counter()))
        if lane.workers < WORKERS:
            lane.workers += 1
            task = asyncio.ensure_future(self._work(lane))
            lane.tasks.add(task)
            task.add_done_callback(lane.tasks.discard)
        return future

    async def _work(self, lane: _Lane) -> None:
        try:
            while lane.jobs:
                if time.perf_counter() - lane.turn >= SLICE:
                    await asyncio.sleep(0)  # let the loop serve the others
                    lane.turn = time.perf_counter()
                    continue
                work, future, key, queued = lane.jobs.popleft()
                if lane.queued.get(key) is future:
                    del lane.queued[key]  # started: a later request queues its own
                lane.running += 1
                try:
                    await self._one(work, future)
                finally:
                    lane.running -= 1
                    lane.refreshing.discard(key)
                self._done(lane, queued)
        finally:
            lane.workers -= 1

    def _done(self, lane: _Lane, queued: float) -> None:
        """Fold one list into the mean: the time since the list before was done while
        this one waited (how fast a busy queue drains), else since it was queued."""
        now = time.perf_counter()
        interval = now - max(queued, lane.last_done)
        lane.last_done = now
        self.mean += 0.05 * (interval - self.mean)

    async def _one(self, work: Work, future: asyncio.Future[Any]) -> None:
        try:
            result = await work()
        except Exception as error:  # handed to whoever waits; logged when nobody does
            if not future.done():
                future.set_exception(error)
            future.add_done_callback(_retrieved)
            return
        if not future.done():
            future.set_result(result)
            self._finished[future] = time.perf_counter()


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a queued list failed: %r", future.exception())
