"""No cold-cache cliff: stale lists after a switch, warm-up before it, the latency budget.

The switch is a real one: a second bundle directory (the session bundle under another
version) named in ``CURRENT`` and loaded through ``POST /v1/model/reload``. The
staleness bound is read on a clock the test moves. Expected lists come from outside
the code under test: the first list the client got, or the items' buyer counts.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from recsys.bundle import Bundle
from serving.app import create_app
from serving.computing import ListQueue
from tests.conftest import settings_for
from tests.servers import LOOPBACK, free_port, start_redis
from tests.test_list_events import HeldAsync

Q = "/v1/clients/{}/recommendations?k=10&exclude=zz"
WARMED = "/v1/clients/{}/recommendations?k=10"


class Clock:
    """Seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test alone."""
    process = start_redis(port := free_port(), tmp_path)
    yield f"redis://127.0.0.1:{port}/0"
    process.kill()
    process.wait(timeout=30)


@pytest.fixture
def served(bundles: Path, tmp_path: Path) -> Path:
    """A directory of two bundles: ``a`` (served first, ``CURRENT``) and ``b``, the same
    files under the version ``v-b``."""
    original = next(p for p in bundles.iterdir() if p.is_dir())
    out = tmp_path / "served"
    shutil.copytree(original, out / "a")
    shutil.copytree(original, out / "b")
    version = Bundle.load(original).version
    manifest = out / "b" / "manifest.json"
    manifest.write_text(manifest.read_text().replace(version, "v-b"))
    (out / "CURRENT").write_text("a")
    return out


def _switch(c: TestClient, served: Path) -> None:
    (served / "CURRENT").write_text("b")
    assert c.post("/v1/model/reload").status_code == 200
    assert c.get("/v1/model").json()["version"] == "v-b"


def _ids(body: dict[str, Any]) -> list[str]:
    return [i["item_id"] for i in body["items"]]


def _until(get: Callable[[], Any], done: Callable[[Any], bool], seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = get()
        if done(found):
            return found
        time.sleep(0.05)
    raise AssertionError("not reached in time")


def _clients(bundles: Path, n: int) -> list[str]:
    bundle = Bundle.load(next(p for p in bundles.iterdir() if p.is_dir()))
    sizes = np.diff(bundle.data.matrix.indptr)
    rows = np.argsort(-sizes, kind="stable")[:n]
    return [str(bundle.data.clients.ids[r]) for r in rows]


def test_after_a_switch_the_old_list_answers_stale_then_the_new_one(
    bundles: Path, served: Path, tmp_path: Path
) -> None:
    settings = settings_for(served, tmp_path, warm_clients=0, list_budget_ms=0, stale_seconds=60)
    who = _clients(bundles, 1)[0]
    app = create_app(settings)
    with TestClient(app, client=LOOPBACK) as c:
        clock = app.state.context.state.clock = Clock()
        first = c.get(Q.format(who)).json()
        other = c.get(Q.format(who) + "&k=5").json()  # another key, read after the bound
        _switch(c, served)
        answer = c.get(Q.format(who))
        stale = answer.json()
        assert stale["stale"] is True and answer.headers["X-Recommendation-Stale"] == "true"
        assert stale["model_version"] == first["model_version"] != "v-b"
        assert _ids(stale) == _ids(first)
        fresh = _until(lambda: c.get(Q.format(who)).json(), lambda b: "stale" not in b)
        assert fresh["model_version"] == "v-b" and fresh["cached"] is True  # refreshed
        clock.now += 61
        late = c.get(Q.format(who) + "&k=5").json()
    assert other["cached"] is False and "stale" not in late and late["model_version"] == "v-b"


def test_a_stale_list_never_holds_what_was_bought_declined_or_withdrawn_since(
    bundles: Path, served: Path, tmp_path: Path
) -> None:
    settings = settings_for(served, tmp_path, warm_clients=0, list_budget_ms=0, stale_seconds=60)
    rng = np.random.default_rng(7)
    clients = _clients(bundles, 12)
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        before = {who: _ids(c.get(Q.format(who)).json()) for who in clients}
        gone: dict[str, str] = {}
        for n, who in enumerate(clients):  # each client's history gets one of three events
            item = str(rng.choice(before[who]))
            gone[who] = item
            if n % 3 == 0:
                event = {"client_id": who, "item_id": item, "type": "purchase"}
                assert c.post("/v1/events", json=event).is_success
            elif n % 3 == 1:
                outcome = {"outcome": "declined", "channel": "call"}
                assert c.post(f"/v1/clients/{who}/offers/{item}/outcome", json=outcome).is_success
            else:
                assert c.put(f"/v1/items/{item}", json={"available": False}).is_success
        _switch(c, served)
        after = {who: c.get(Q.format(who)).json() for who in clients}
    for who, body in after.items():
        assert gone[who] not in _ids(body), (who, body.get("stale"))
        withdrawn = {i for n, (w, i) in enumerate(gone.items()) if n % 3 == 2}
        assert not withdrawn & set(_ids(body))


def test_the_most_active_clients_are_warm_before_the_switch(
    bundles: Path, served: Path, tmp_path: Path
) -> None:
    settings = settings_for(served, tmp_path, warm_clients=5, list_budget_ms=0, stale_seconds=0)
    warm, cold = _clients(bundles, 6)[0], _clients(bundles, 6)[5]
    app = create_app(settings)
    with TestClient(app, client=LOOPBACK) as c:
        _switch(c, served)
        hit = c.get(WARMED.format(warm)).json()
        bare = c.get(f"/v1/clients/{warm}/recommendations").json()
        miss = c.get(WARMED.format(cold)).json()
        computed = c.get(WARMED.format(warm) + "&exclude_purchased=true").json()
    assert hit["cached"] is True and bare["cached"] is True and hit["model_version"] == "v-b"
    assert miss["cached"] is False  # the sixth most active client was not warmed
    # The warmed list (batched ranking, explained) is what a request computes.
    assert _ids(hit) == _ids(computed) == _ids(bare)
    assert [i["reasons"] for i in hit["items"]] == [i["reasons"] for i in computed["items"]]


def test_over_the_budget_the_fallback_answers_and_the_list_is_cached_later(
    bundles: Path, tmp_path: Path, own_redis: str
) -> None:
    bundle = Bundle.load(next(p for p in bundles.iterdir() if p.is_dir()))
    who, other = _clients(bundles, 2)
    # Independently: items by number of buyers (ties: lower index), the bought ones out.
    buyers = np.asarray((bundle.data.matrix > 0).sum(axis=0)).ravel()
    expected = {}
    for client in (who, other):
        bought = set(bundle.data.matrix[bundle.data.clients.lookup(client)].indices.tolist())
        order = [i for i in np.argsort(-buyers, kind="stable").tolist() if i not in bought]
        expected[client] = [str(bundle.data.items.ids[i]) for i in order[:10]]
    settings = settings_for(
        bundles, tmp_path, redis_url=own_redis, list_budget_ms=50, compute_backlog=1
    )
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        ctx = c.app.state.context  # type: ignore[attr-defined]
        held = ctx.live_profiles.get = HeldAsync(ctx.live_profiles.get)  # what lists read
        held.free = False
        try:
            answer = c.get(Q.format(who))  # its list waits on the held read: over budget
            assert held.entered == 1
            shed = c.get(Q.format(other)).json()  # one list in flight already: not queued
            assert held.entered == 1
            metrics = c.get("/metrics").text
        finally:
            held.release()
        # The list is stored just after its requests have it: a request in between may
        # compute its own (not yet cached), so wait for the stored one.
        real = _until(lambda: c.get(Q.format(who)).json(), _stored)
    body = answer.json()
    assert body["degraded"] is True and answer.headers["X-Recommendation-Degraded"] == "true"
    assert _ids(body) == expected[who] and _ids(shed) == expected[other]
    assert shed["degraded"] is True and "cached" in real and real["cached"] is True
    assert _ids(real) != expected[who]  # the real list, computed once the read came back
    assert 'recsys_miss_answers_total{answer="degraded"} 2.0' in metrics


def _stored(body: dict[str, Any]) -> bool:
    return "degraded" not in body and body.get("cached") is True


def test_an_experiment_starting_is_read_and_its_arms_answer_stale_at_first(
    bundles: Path, tmp_path: Path
) -> None:
    experiments = tmp_path / "experiments.json"
    experiments.write_text(json.dumps({"experiments": []}))
    settings = settings_for(
        bundles, tmp_path, experiments_path=experiments, list_budget_ms=0, warm_clients=0
    )
    who = _clients(bundles, 1)[0]
    arms = [{"name": "a", "share": 50}, {"name": "b", "share": 50, "blend": {"popular": 1}}]
    started = {"name": "e1", "control": "a", "start": "2000-01-01", "arms": arms}
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        first = c.get(Q.format(who)).json()
        experiments.write_text(json.dumps({"experiments": [started]}))
        assert c.post("/v1/model/reload").status_code == 200
        stale = c.get(Q.format(who)).json()
        new = _until(lambda: c.get(Q.format(who)).json(), lambda b: "stale" not in b)
    assert "experiment" not in first and stale["stale"] is True and _ids(stale) == _ids(first)
    assert new["experiment"] == "e1" and new["arm"] in ("a", "b")


def test_the_queue_admits_what_the_budget_allows() -> None:
    async def scenario() -> list[bool]:
        queue = ListQueue(backlog=6, cost=0.01)
        gate = asyncio.Event()
        for _ in range(4):  # four lists ahead: 5 × 10 ms ≤ 50 ms (no turns between)
            queue.submit(gate.wait)
        await asyncio.sleep(0)
        found = [queue.admits(0.05)]
        queue.submit(gate.wait)  # five ahead: 60 ms > 50 ms
        found += [queue.admits(0.05), queue.admits(1.0)]
        queue.submit(gate.wait)  # six: the backlog, whatever the budget
        found.append(queue.admits(10.0))
        gate.set()
        while queue.pending():
            await asyncio.sleep(0)
        return found

    assert asyncio.run(scenario()) == [True, False, True, False]


def test_the_queue_counts_the_lag_before_a_list_reaches_its_request() -> None:
    """A request resumes with its finished list only turns of the loop later, after
    what else those turns run: the queue learns that lag from the requests that
    resume, and admits fewer lists ahead for it; with nothing ahead it admits one
    whatever the lag (else a lag learnt in one stall would shut it for good)."""

    async def scenario() -> tuple[float, list[bool]]:
        queue, loop = ListQueue(backlog=100, cost=0.01), asyncio.get_running_loop()

        async def list_then_a_busy_turn() -> None:
            loop.call_soon(time.sleep, 0.02)  # the turn's other work: at least 20 ms

        for _ in range(60):  # as serving.misses.answer_miss waits for its list
            future = queue.submit(list_then_a_busy_turn)
            await asyncio.wait((future,), timeout=5)
            queue.resumed(future)
        learnt = queue.lag
        queue.cost, queue.lag, queue.gap = 0.01, 0.03, 0.0
        gate = asyncio.Event()
        queue.submit(gate.wait)
        await asyncio.sleep(0)
        found = [queue.admits(0.05)]  # one ahead: 20 ms + 30 ms of lag
        queue.submit(gate.wait)
        found.append(queue.admits(0.05))  # two ahead: 30 ms + 30 ms > 50 ms
        gate.set()
        while queue.pending():
            await asyncio.sleep(0)
        queue.lag = 10.0  # a stall long past: nothing ahead, a list is admitted
        found.append(queue.admits(0.05))
        return learnt, found

    learnt, found = asyncio.run(scenario())
    assert learnt > 0.015 and found == [True, False, True]


def test_the_quick_fallback_is_popularity_ranked_for_the_client(bundles: Path) -> None:
    """The per-segment head, filtered per request, gives the items the popularity-only
    blend ranks for that client itself: every client of the sample, with an exclusion,
    a held-back offer and a tenth of the items out of stock."""
    from recsys.ranking import RequestOptions
    from serving.fallback import fallback_items
    from serving.ranked import ClientNow
    from serving.settings import ServingSettings
    from serving.state import load

    current = load(ServingSettings(bundle_path=bundles))
    facts, ids = current.fallback.facts, current.bundle.data.items.ids
    facts.unavailable = np.arange(0, len(ids), 10, dtype=np.int64)
    rng = np.random.default_rng(3)
    for client in current.bundle.data.clients.ids.tolist()[::7]:
        options = RequestOptions(exclude=(str(rng.choice(ids)), str(rng.choice(ids))))
        who = ClientNow(str(client), (str(rng.choice(ids)),))
        quick = fallback_items(current, who, 10, options)
        ranked = current.fallback.for_client(who.client_id, 10, (), options, who.recent)
        assert [i.item_id for i in quick] == [i.item_id for i in ranked], client


def test_the_wait_counts_the_lists_a_turn_after_each_slice_and_the_lag() -> None:
    """Hand-worked: 1 ms a list, 10 ms turns of the loop between slices, 12 ms of lag.
    A slice lasts as long as a turn (lists keep half of the loop), within 5–25 ms."""
    queue = ListQueue(backlog=100, cost=0.001, gap=0.010, lag=0.012)
    assert queue.slice() == pytest.approx(0.010)
    # 35 lists (34 ahead) = 35 ms: three full 10 ms slices, each followed by a turn.
    assert queue.wait(34) == pytest.approx(0.035 + 3 * 0.010 + 0.012)
    assert queue.wait(4) == pytest.approx(0.005 + 0 * 0.010 + 0.012)  # within one slice
    queue.gap = 0.001  # short turns: 5 ms slices, 7 of them in 35 ms
    assert queue.slice() == pytest.approx(0.005)
    assert queue.wait(34) == pytest.approx(0.035 + 7 * 0.001 + 0.012)
    queue.gap = 0.100  # long turns: slices of 25 ms at most
    assert queue.slice() == pytest.approx(0.025)
    assert queue.wait(34) == pytest.approx(0.035 + 1 * 0.100 + 0.012)


def test_a_request_that_stops_waiting_leaves_the_list_to_the_others() -> None:
    """Requests for one key share its queued list, each on a future of its own: one
    whose budget runs out cancels only its own; the list is computed once and the
    others get it."""

    async def scenario() -> tuple[bool, str, int]:
        queue, gate, runs = ListQueue(backlog=10), asyncio.Event(), []

        async def work() -> str:
            await gate.wait()
            runs.append(1)
            return "the list"

        first = queue.submit(work, "k")
        second = queue.submit(work, "k")
        try:
            async with asyncio.timeout(0.01):
                await first
        except TimeoutError:
            pass
        gate.set()
        got = await second
        while queue.pending():
            await asyncio.sleep(0)
        return first.cancelled(), got, len(runs)

    assert asyncio.run(scenario()) == (True, "the list", 1)


def test_a_list_done_as_the_budget_runs_out_still_answers() -> None:
    """The budget's timer and the list's end in one turn of the loop: the request gets
    the list (it is done), not the fallback; one not done in time is cancelled and
    still computed."""

    async def scenario() -> tuple[tuple[bool, object], tuple[bool, object], bool, list[str]]:
        queue, gate, ran = ListQueue(backlog=10), asyncio.Event(), []

        async def instant() -> str:
            return "the list"

        async def late() -> str:
            await gate.wait()
            ran.append("late")
            return "later"

        at_once = await queue.within(queue.submit(instant, "a"), 0)
        late_ticket = queue.submit(late, "b")
        missed = await queue.within(late_ticket, 0.01)
        gate.set()
        while queue.pending():
            await asyncio.sleep(0)
        return at_once, missed, late_ticket.cancelled(), ran

    assert asyncio.run(scenario()) == ((True, "the list"), (False, None), True, ["late"])


def test_the_gap_counts_the_loop_given_to_others_not_the_other_workers_slices() -> None:
    """Two workers and lists alone on the loop (1 ms of CPU each, nothing else to
    serve): the loop gives the others nothing, so the slice stays the shortest; with 3 ms
    of other work a turn, each slice is followed by its half of it. Counted around each
    worker's own yield, the other worker's slice made the gap, and so the slice, grow to
    25 ms."""

    async def scenario(others: float) -> float:
        queue = ListQueue(backlog=1000)

        async def list_of_1ms() -> None:
            time.sleep(0.001)  # CPU held, as numpy holds it

        for _ in range(300):
            queue.submit(list_of_1ms)
        while queue.pending():  # this task: the loop's other work, each turn
            time.sleep(others)
            await asyncio.sleep(0)
        return queue.gap

    assert asyncio.run(scenario(0.0)) < 0.002  # 5 ms slices: ~5 ms counted per yield before
    # 3 ms of others a turn, two slices a turn: ~1.5 ms a slice (10 ms counted before).
    assert 0.001 < asyncio.run(scenario(0.003)) < 0.004


def test_the_lag_is_learnt_once_per_list() -> None:
    """Three requests resume with one list: the first counts in the lag, the others
    not (a list shared by many must not weigh as many)."""

    async def scenario() -> list[float]:
        queue, gate = ListQueue(backlog=10), asyncio.Event()

        async def work() -> str:
            await gate.wait()
            return "the list"

        tickets = [queue.submit(work, "k") for _ in range(3)]
        gate.set()
        await asyncio.gather(*tickets)
        lags = []
        for ticket in tickets:
            queue.resumed(ticket)
            lags.append(queue.lag)
        return lags

    first, second, third = asyncio.run(scenario())
    assert first > 0 and second == first and third == first
