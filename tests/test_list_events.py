"""Served lists honour every event: precomputed ones, and ones computed across an event.

Each test runs on its own redis-server (real Redis, nothing shared with other tests).
Slow reads are injected by holding the feature-store reader the app uses open until
the test lets it go (no fixed sleeps: every wait polls against a deadline).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from recsys.ranking import RequestOptions
from serving.app import create_app
from serving.cache import ListCache
from serving.lists import Served, compute_list, list_key
from serving.precompute import precompute
from tests.conftest import a_client, settings_for
from tests.servers import LOOPBACK, free_port, start_redis

URL = "/v1/clients/{}/recommendations?k=10"
#: The same list under another query string: a cache miss, computed now.
FRESH = URL + "&exclude_purchased=true"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test alone."""
    port = free_port()
    process = start_redis(port, tmp_path)
    yield f"redis://127.0.0.1:{port}/0"
    process.kill()
    process.wait(timeout=30)


def _ids(body: dict[str, Any]) -> list[str]:
    return [i["item_id"] for i in body["items"]]


def _until(done: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


class Held:
    """A reader whose reads wait until the test releases them (a slow Redis round trip,
    as long as the test needs), each read behind its own gate."""

    def __init__(self, read: Callable[[str], Any]) -> None:
        self.read, self.free, self.lock = read, True, threading.Lock()
        self.gates: list[threading.Event] = []

    @property
    def entered(self) -> int:
        """Reads that reached the reader so far."""
        return len(self.gates)

    def __call__(self, client: str) -> Any:
        with self.lock:
            gate = threading.Event()
            if self.free:
                gate.set()
            self.gates.append(gate)
        assert gate.wait(20), "never released"
        return self.read(client)

    def release(self) -> None:
        """Let every read through, now and from now on."""
        with self.lock:
            self.free = True
            for gate in self.gates:
                gate.set()


class HeldAsync(Held):
    """:class:`Held` for a reader awaited on the event loop (the service's feature reads
    through Redis, :class:`serving.profiles.LiveProfiles`): the loop goes on meanwhile."""

    async def __call__(self, client: str) -> Any:  # type: ignore[override]
        with self.lock:
            gate = threading.Event()
            if self.free:
                gate.set()
            self.gates.append(gate)
        for _ in range(10_000):  # 20 s
            if gate.is_set():
                return await self.read(client)
            await asyncio.sleep(0.002)
        raise AssertionError("never released")


def test_precompute_honours_a_decline_and_a_purchase_made_before_it(
    bundles: Path, tmp_path: Path, own_redis: str, sample_features: Path
) -> None:
    # Segments and countries too: a stored list is targeted as a request is.
    settings = settings_for(bundles, tmp_path, redis_url=own_redis, features_path=sample_features)
    who, _ = a_client(bundles)
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        declined, bought = _ids(c.get(URL.format(who)).json())[:2]
        outcome = {"outcome": "declined", "channel": "call"}
        assert c.post(f"/v1/clients/{who}/offers/{declined}/outcome", json=outcome).is_success
        event = {"client_id": who, "item_id": bought, "type": "purchase"}
        assert c.post("/v1/events", json=event).is_success
        precompute(settings, k=10)
        stored = c.get(URL.format(who)).json()
        fresh = c.get(FRESH.format(who)).json()
    assert stored["cached"] is True and fresh["cached"] is False
    assert not {declined, bought} & set(_ids(stored))
    assert stored["items"] == fresh["items"]  # what a request computes now, reasons included


def test_precompute_fills_the_new_arrivals_slot(
    bundles: Path, tmp_path: Path, own_redis: str, sample_features: Path
) -> None:
    # Segments and countries too: a stored list is targeted as a request is.
    settings = settings_for(bundles, tmp_path, redis_url=own_redis, features_path=sample_features)
    who, bought = a_client(bundles)
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        mine = [{"item_id": i, "category": "Candles"} for i in sorted(bought)]
        assert c.post("/v1/items/batch", json={"items": mine}).is_success
        new = {"title": "Scented candle in a jar", "category": "Candles"}
        assert c.put("/v1/items/NEW-1", json=new).is_success
        precompute(settings, k=10)
        stored = c.get(URL.format(who)).json()
        fresh = c.get(FRESH.format(who)).json()
    assert stored["cached"] is True and fresh["cached"] is False
    assert _ids(stored)[-1] == "NEW-1" and _ids(stored) == _ids(fresh)
    assert [i["reasons"] for i in stored["items"]] == [i["reasons"] for i in fresh["items"]]
    for a, b in zip(stored["items"], fresh["items"], strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)  # batched: another sum order


@pytest.mark.parametrize("local", [0, 1000], ids=["redis-only", "with-local-cache"])
def test_a_purchase_during_a_slow_list_never_appears_later(
    bundles: Path, tmp_path: Path, own_redis: str, local: int
) -> None:
    # Waits for every list (no latency budget): the test holds the list in flight.
    settings = settings_for(
        bundles, tmp_path, redis_url=own_redis, local_cache_size=local, list_budget_ms=0
    )
    who, _ = a_client(bundles)
    answers: dict[str, dict[str, Any]] = {}

    def ask(name: str) -> None:
        answers[name] = c.get(URL.format(who)).json()

    with TestClient(create_app(settings), client=LOOPBACK) as c:
        ctx = c.app.state.context  # type: ignore[attr-defined]
        held = ctx.live_profiles.get = HeldAsync(ctx.live_profiles.get)  # what lists read
        top = _ids(c.get(FRESH.format(who)).json())[0]
        key = list_key(ctx.current, who, b"k=10", None)
        held.free = False
        first = threading.Thread(target=ask, args=("first",))
        later = threading.Thread(target=ask, args=("later",))
        first.start()
        try:
            _until(lambda: held.entered == 2, 10, "the list was not computed")
            event = {"client_id": who, "item_id": top, "type": "purchase"}
            assert c.post("/v1/events", json=event).is_success
            later.start()  # arrives after the event, while the first list is in flight
            _until(lambda: held.entered == 3, 10, "a later request was handed the old list")
            held.gates[1].set()  # the first list ends, the later one is still computed
            first.join(20)
            assert not first.is_alive()
            stored = [redis.Redis.from_url(own_redis).get(key), ctx.cache.local.get(key)]
            assert not any(f'"item_id":"{top}"'.encode() in (s or b"") for s in stored)
        finally:
            held.release()
            first.join(20)
            if later.ident is not None:  # started
                later.join(20)
        assert not first.is_alive() and not later.is_alive()
        assert top not in _ids(answers["later"])
        again = [c.get(URL.format(who)).json() for _ in range(3)]
        assert all(top not in _ids(a) for a in again), "a list from before the purchase"
    shared = redis.Redis.from_url(own_redis).get(key) or b""
    assert f'"item_id":"{top}"'.encode() not in shared  # what other replicas read


def test_in_flight_lists_are_not_shared_across_event_loops(
    bundles: Path, tmp_path: Path, own_redis: str
) -> None:
    """Two loops serving one app (two lifespans: the test client's and another's)."""
    from feature_store import OnlineStore

    who, _ = a_client(bundles)
    store = OnlineStore(own_redis)  # read off the loop, in the threadpool
    held = store.get = Held(store.get)  # type: ignore[method-assign]
    served: list[Served] = []
    errors: list[BaseException] = []
    with TestClient(create_app(settings_for(bundles, tmp_path)), client=LOOPBACK) as c:
        ctx = replace(c.app.state.context, features=store)  # type: ignore[attr-defined]
        key = list_key(ctx.current, who, b"k=10", None)

        def one_loop() -> None:
            try:
                served.append(asyncio.run(compute_list(ctx, key, who, 10, RequestOptions())))
            except BaseException as error:  # reported below
                errors.append(error)

        held.free = False
        loops = [threading.Thread(target=one_loop) for _ in range(2)]
        loops[0].start()
        try:
            _until(lambda: held.entered == 1, 10, "the first loop did not start its list")
            loops[1].start()
            _until(lambda: held.entered == 2 or bool(errors), 10, "the second loop waited")
        finally:
            held.release()
            for thread in loops:
                thread.join(20)
    assert not any(t.is_alive() for t in loops)
    assert not errors, errors
    assert len(served) == 2 and served[0].listed == served[1].listed


def test_a_list_is_not_stored_once_an_event_moved_the_generation(own_redis: str) -> None:
    async def scenario() -> list[bytes | None]:
        cache = ListCache(own_redis, 60, 100)
        before = await cache.generation("c")
        await cache.drop_client("c")  # an event for the client while its list was computed
        refused = await cache.store("rec:v:c:", "c", b"stale", before)
        kept = await cache.get("rec:v:c:")
        now = await cache.generation("c")
        accepted = await cache.store("rec:v:c:", "c", b"fresh", now)
        found = await cache.get("rec:v:c:")
        await cache.close()
        assert not refused and accepted
        return [kept, found]

    assert asyncio.run(scenario()) == [None, b"fresh"]
    other = ListCache(own_redis, 60, 0)  # another replica reads what Redis holds
    assert asyncio.run(other.get("rec:v:c:")) == b"fresh"


def test_precompute_targets_from_the_redis_feature_store(
    bundles: Path, tmp_path: Path, own_redis: str, sample_features: Path
) -> None:
    """Without a features file the service reads segment and country from Redis, and so
    does precompute: the teacup buyers (a country-targeted analyst rule) get stored lists
    equal to what a request computes."""
    import pandas as pd

    from feature_store.online import OnlineStore
    from recsys.bundle import Bundle

    OnlineStore(own_redis).materialise(pd.read_parquet(sample_features), "v1")
    settings = settings_for(bundles, tmp_path, redis_url=own_redis)
    bundle = Bundle.load(next(p for p in bundles.iterdir() if p.is_dir()))
    column = bundle.data.items.lookup("22697")
    buyers = bundle.data.matrix[:, column].nonzero()[0]
    clients = [str(c) for c in bundle.data.clients.ids[buyers]]
    assert len(clients) >= 5  # the sample's teacup buyers
    precompute(settings, k=10)
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        for who in clients:
            stored, fresh = c.get(URL.format(who)).json(), c.get(FRESH.format(who)).json()
            assert stored["cached"] is True and fresh["cached"] is False
            # The batch and the single path sum float32 scores in another order.
            assert _without_scores(stored) == _without_scores(fresh), who
            scores = [[i["score"] for i in body["items"]] for body in (stored, fresh)]
            assert scores[0] == pytest.approx(scores[1], rel=1e-5), who


def _without_scores(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k != "score"} for item in body["items"]]
