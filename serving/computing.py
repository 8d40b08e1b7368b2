"""Lists to compute, taken in turn by a few workers on the event loop.

A list is ~1 ms of numpy with the GIL held, run on the loop (in threads they fought
over the GIL). Computed inline, a burst of misses runs back to back in one turn of
the loop and every request behind them waits, hits included. Queued, each worker
yields to the loop after each slice of lists (5 ms, or as long as the loop gave the
others between two slices, up to 25 ms: lists waiting keep about half of the loop), so
other requests go on between them, and the queue says how long a new list would wait
(:meth:`ListQueue.wait`): :meth:`ListQueue.admits` refuses one that would not be ready
within the budget (the miss is answered by the fallback instead,
:mod:`serving.misses`). The wait is the lists ahead and the new one (their mean cost),
a turn of the loop after each full slice of them (what the loop gave the others between
two slices, on average), and the lag from a list's end to where its request resumes,
learnt once per list from its first request that resumes with it
(:meth:`ListQueue.resumed`). With nothing ahead a list is always admitted: the lag is
measured again, so one long stall cannot shut the queue.

Each request waits on a future of its own, awaited directly (:meth:`ListQueue.within`):
it resumes one turn after its list (through ``asyncio.wait`` it took two, each a slice
and a turn long under a flood of misses), and a budget that runs out cancels its future
only; the list is still computed and cached. A list's reads and its store are not its
cost (:class:`serving.lists.ListJob`: ``read`` starts when the list is queued, side by side
with the others', and is awaited before the work, untimed and outside the slice; ``then``
stores it on its own): through Redis, awaited inside the work, each list's reads took
turns of a loop busy with every other request and counted in its cost: under a flood of
misses the queue then admitted almost none (100 % of the answers the fallback).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any
from weakref import WeakKeyDictionary

__all__ = ["ListQueue"]

log = logging.getLogger("recsys.serving")

Work = Callable[[], Any]
"""A list's computation: CPU only (a plain function), or awaitable (its awaits then count
in its cost and in the slice)."""
Then = Callable[[], Awaitable[Any]]
"""What comes before a list's work (its reads: awaited by the worker, untimed) or after
it (storing it: run on its own once its requests have it, untimed)."""
#: Lists computed side by side: two, so one waiting on Redis leaves the CPU to another.
WORKERS = 2
#: Seconds of lists computed back to back before the loop serves the others, at least
#: (hits wait about this long behind lists; one list per turn starved the lists under a
#: flood of cheap answers, as each turn of the loop served all of those first).
SLICE = 0.005
#: The longest slice. A slice lasts as long as the loop gives the others between two
#: slices (at least :data:`SLICE`), so lists waiting keep about half of the loop: with
#: 5 ms slices, a flood of fallback answers filled the loop between them (each answered
#: at once and asking again), fewer lists ran, more misses got the fallback. A request
#: on the loop waits at most about one slice per worker behind lists.
LONGEST_SLICE = 0.025


_Done = tuple[float, list[bool]]
"""When a list was done, and whether a request resuming with it was counted in the lag."""


class _Job:
    """One list to compute, and the futures of the requests waiting for it: one each,
    so a request that stops waiting (its budget ran out) cancels its own only."""

    __slots__ = ("key", "reading", "then", "tickets", "work")

    def __init__(self, work: Work, key: Hashable, ticket: asyncio.Future[Any],
                 read: Then | None, then: Then | None) -> None:  # fmt: skip
        self.work, self.key, self.tickets, self.then = work, key, [ticket], then
        # Read at once, side by side with the others queued: awaited by a worker in
        # turn, each read took turns of a loop busy with the other requests' (through
        # Redis, under a flood of misses, ~170 ms between a worker's slices).
        self.reading = None if read is None else asyncio.ensure_future(read())


class _Lane:
    """One event loop's queue, workers and keys queued for a refresh."""

    def __init__(self) -> None:
        self.jobs: deque[_Job] = deque()
        self.running, self.workers = 0, 0
        self.busy = 0.0
        """Seconds of slices so far, every worker of the lane."""
        self.mark = (0.0, 0.0)
        """(when, :attr:`busy`) as the last slice began."""
        self.refreshing: set[Hashable] = set()
        """Keys of the refreshes queued or running."""
        self.queued: dict[Hashable, _Job] = {}
        """Each key's job waiting in the queue (not started)."""
        self.tasks: set[asyncio.Task[None]] = set()
        """The workers' tasks and the stores after lists, referenced while they run."""


class ListQueue:
    """Lists waiting to be computed, in arrival order, and what a new one would wait:
    the lists ahead and itself (their mean ``cost``), the loop's turns between the
    slices that takes (their mean ``gap``), and the mean ``lag`` from a list's end to
    where its request resumes."""

    def __init__(
        self, backlog: int, cost: float = 0.001, lag: float = 0.0, gap: float = 0.0
    ) -> None:
        self.backlog, self.cost, self.lag, self.gap = backlog, cost, lag, gap
        self._finished: WeakKeyDictionary[asyncio.Future[Any], _Done] = WeakKeyDictionary()
        """When each list's future got its result (read by :meth:`resumed`)."""
        self._lanes: WeakKeyDictionary[asyncio.AbstractEventLoop, _Lane] = WeakKeyDictionary()

    def _lane(self) -> _Lane:
        return self._lanes.setdefault(asyncio.get_running_loop(), _Lane())

    def pending(self) -> int:
        """Lists queued or being computed on this loop."""
        lane = self._lane()
        return len(lane.jobs) + lane.running

    def admits(self, budget: float) -> bool:
        """Whether one more list would reach its request within ``budget`` seconds
        (:meth:`wait`), and the backlog has room."""
        ahead = self.pending()  # one loop runs them all: in turn, whatever the workers
        if ahead == 0:  # a probe: its request measures the lag again
            return self.backlog > 0
        return ahead < self.backlog and self.wait(ahead) <= budget

    def wait(self, ahead: int) -> float:
        """Seconds a list queued behind ``ahead`` others would take to reach its
        request: the lists, a turn of the loop after each full slice of them, then the
        lag. Not the time a busy queue took per list: when the fallback answers most
        misses, the turns between slices fill with those answers, few lists run per
        second, and a mean per list counted the turns once per list instead of once
        per slice: the queue then admitted one list at a time, which kept the fallback
        answering most (an all-miss load settled at 99 % fallback, ~30 lists a second)."""
        lists = (ahead + 1) * self.cost
        slices = math.floor(lists / self.slice() + 1e-9)  # 0.03 // 0.01 is 2.0
        return lists + slices * self.gap + self.lag

    def slice(self) -> float:
        """Seconds of lists computed back to back before the loop serves the others:
        as long as the loop gives the others between two slices, within [SLICE,
        LONGEST_SLICE]."""
        return max(SLICE, min(self.gap, LONGEST_SLICE))

    async def within(self, future: asyncio.Future[Any], budget: float) -> tuple[bool, Any]:
        """(True, the result) when ``future`` (from :meth:`submit`) is done within
        ``budget`` seconds, else (False, None): it is cancelled, the list is still
        computed and cached. Awaited directly, the request resumes one turn of the loop
        after its list (``asyncio.wait`` took two); a list done in the turn the budget
        ran out still counts."""
        try:
            async with asyncio.timeout(budget):
                await future
        except TimeoutError:
            if not future.done() or future.cancelled():
                return False, None
        self.resumed(future)
        return True, future.result()

    def resumed(self, future: asyncio.Future[Any]) -> None:
        """Fold into the lag the time from ``future``'s list's end to now, where the
        request waiting for it resumed (once per list, by its first request)."""
        finished = self._finished.pop(future, None)
        if finished is not None and not finished[1][0]:
            finished[1][0] = True
            self.lag += 0.05 * (time.perf_counter() - finished[0] - self.lag)

    def submit(
        self,
        work: Work,
        key: Hashable | None = None,
        refresh: bool = False,
        read: Then | None = None,
        then: Then | None = None,
    ) -> asyncio.Future[Any]:
        """Queue ``work()``, after ``read()`` (started now, awaited untimed before the
        work: its I/O is not the list's cost); its result (or error) arrives in the
        future returned (the caller's own: await it directly, a timeout may cancel it),
        then ``then()`` runs on its own (after a result only). While a job of the same
        ``key`` waits in the queue, it serves this caller too (it ranks with what events
        changed when it starts); a ``refresh`` (nobody waits for it) is not queued
        either while one of its key runs (its future is then a done one)."""
        lane = self._lane()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if key is not None and key in lane.queued:
            lane.queued[key].tickets.append(future)
            return future
        if refresh and key in lane.refreshing:
            future.set_result(None)
            return future
        if refresh:
            lane.refreshing.add(key)
        job = _Job(work, key, future, read, then)
        if key is not None:
            lane.queued[key] = job
        lane.jobs.append(job)
        if lane.workers < WORKERS:
            if lane.workers == 0:  # a new burst: the idle time before it was nobody's
                lane.mark = (time.perf_counter(), lane.busy)
            lane.workers += 1
            task = asyncio.ensure_future(self._work(lane))
            lane.tasks.add(task)
            task.add_done_callback(lane.tasks.discard)
        return future

    async def _work(self, lane: _Lane) -> None:
        turn = time.perf_counter()  # when this worker's slice began
        read = 0.0  # seconds of it awaiting jobs' reads: the loop served the others
        try:
            while lane.jobs:
                if time.perf_counter() - turn - read >= self.slice():
                    lane.busy += time.perf_counter() - turn - read
                    await asyncio.sleep(0)  # let the loop serve the others
                    turn, read = self._turned(lane), 0.0
                    continue
                job = lane.jobs.popleft()
                if lane.queued.get(job.key) is job:
                    del lane.queued[job.key]  # started: a later request queues its own
                lane.running += 1
                try:
                    waited, spent = await self._one(job)
                finally:
                    lane.running -= 1
                    lane.refreshing.discard(job.key)
                read += waited
                if spent is not None:  # a failed read ran no work: nothing to learn
                    self.cost += 0.05 * (spent - self.cost)
        finally:
            lane.busy += time.perf_counter() - turn - read
            lane.workers -= 1

    def _turned(self, lane: _Lane) -> float:
        """A slice begins now: fold into the gap what the loop gave the others since the
        last slice began (the time since, less the lane's slices meanwhile: a worker's
        slice is not a turn of the loop for the other)."""
        now = time.perf_counter()
        then, busy = lane.mark
        self.gap += 0.05 * (max(now - then - (lane.busy - busy), 0.0) - self.gap)
        lane.mark = (now, lane.busy)
        return now

    async def _one(self, job: _Job) -> tuple[float, float | None]:
        """Run ``job``: seconds awaiting its read (untimed), seconds of its work
        (``None`` when its read failed: no work ran)."""
        began = time.perf_counter()
        started: float | None = None  # when the work began, once the read is done
        try:
            if job.reading is not None:
                await job.reading
            started = time.perf_counter()
            result = job.work()
            if inspect.isawaitable(result):
                result = await result
        except Exception as error:  # to whoever waits; logged once
            for ticket in job.tickets:
                if not ticket.done():
                    ticket.set_exception(error)
                    ticket.add_done_callback(_retrieved)
            log.error("a queued list failed: %r", error)
            now = time.perf_counter()  # a failed read is no work, a failed work no read
            return (now - began, None) if started is None else (started - began, now - started)
        done = (time.perf_counter(), [False])  # the lag: once per list, by its first request
        for ticket in job.tickets:
            if not ticket.done():
                ticket.set_result(result)
                self._finished[ticket] = done
        if job.then is not None:  # not in the list's cost, nor in the slice
            task = asyncio.ensure_future(_then(job.then))
            self._lane().tasks.add(task)
            task.add_done_callback(self._lane().tasks.discard)
        return started - began, done[0] - started


async def _then(then: Then) -> None:
    try:
        await then()
    except Exception as error:  # nobody waits for it: logged
        log.error("storing a computed list failed: %r", error)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark the error seen (the request got it, or nobody waits: logged once above)."""
    if not future.cancelled():
        future.exception()
