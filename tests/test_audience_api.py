"""``GET /v1/items/{id}/audience`` on the bundle trained on the real sample."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from recsys.bundle import Bundle
from serving.app import create_app
from tests.conftest import settings_for
from tests.servers import LOOPBACK

DAY = date(2011, 1, 8)  # a month after the sample's last purchase


def most_bought(bundle: Bundle, at: int = 0) -> str:
    """The item with the ``at``-th most buyers."""
    buyers = np.asarray((bundle.data.matrix > 0).sum(axis=0)).ravel()
    return str(bundle.data.items.ids[np.argsort(-buyers, kind="stable")[at]])


@pytest.fixture(scope="module")
def client(bundles: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A service that nobody writes to (read-only tests share it)."""
    settings = settings_for(bundles, tmp_path_factory.mktemp("audience"), today=DAY)
    with TestClient(create_app(settings), client=LOOPBACK) as test_client:
        yield test_client


def test_an_items_audience_is_ranked_and_explained(client: TestClient, bundle: Bundle) -> None:
    item = most_bought(bundle)
    answer = client.get(f"/v1/items/{item}/audience?k=25")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["item_id"] == item and body["day"] == DAY.isoformat()
    assert body["model_version"] == bundle.version and body["segment"] is None
    clients = body["clients"]
    assert [c["rank"] for c in clients] == list(range(1, 26))
    scores = [c["score"] for c in clients]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    known = set(bundle.data.clients.ids.tolist())
    assert (
        len({c["client_id"] for c in clients}) == 25 and {c["client_id"] for c in clients} <= known
    )
    assert all(c["reason"]["text"] and c["reason"]["source"] for c in clients)
    assert client.get(f"/v1/items/{item}/audience?k=25").json() == body  # scored once


def test_bad_input_is_a_4xx_naming_the_field(client: TestClient, bundle: Bundle) -> None:
    item = most_bought(bundle)
    unknown = client.get("/v1/items/NO-SUCH-ITEM/audience")
    assert unknown.status_code == 404 and "item_id" in unknown.json()["detail"]
    for k in ("0", "-3", "1001", "100000", "ten"):
        answer = client.get(f"/v1/items/{item}/audience?k={k}")
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["query", "k"]
    vip = client.get(f"/v1/items/{item}/audience?segment=vip")
    assert vip.status_code == 422 and vip.json()["detail"][0]["loc"] == ["query", "segment"]
    featureless = client.get(f"/v1/items/{item}/audience?segment=loyal")  # no features here
    assert featureless.status_code == 409 and featureless.json()["detail"].startswith("segment:")
    long = client.get(f"/v1/items/{'x' * 129}/audience")
    assert long.status_code == 422 and long.json()["detail"][0]["loc"] == ["path", "item_id"]
    assert client.get(f"/v1/items/{item}/audience?segment=").status_code == 422


def test_leaves_out_declined_deleted_and_fresh_buyers(
    bundles: Path, bundle: Bundle, tmp_path: Path
) -> None:
    item = most_bought(bundle, 3)
    with TestClient(create_app(settings_for(bundles, tmp_path, today=DAY)), client=LOOPBACK) as api:
        first = [
            c["client_id"] for c in api.get(f"/v1/items/{item}/audience?k=10").json()["clients"]
        ]
        declined, deleted, bought = first[:3]
        said = {"outcome": "declined", "channel": "call"}
        assert (
            api.post(f"/v1/clients/{declined}/offers/{item}/outcome", json=said).status_code == 200
        )
        assert api.delete(f"/v1/clients/{deleted}").status_code == 200
        event = {"client_id": bought, "item_id": item}
        assert api.post("/v1/events", json={"events": [event]}).status_code == 200
        after = [
            c["client_id"] for c in api.get(f"/v1/items/{item}/audience?k=10").json()["clients"]
        ]
    assert not {declined, deleted, bought} & set(after)
    assert after[:7] == first[3:]  # the rest move up, in order


def test_new_unavailable_and_discontinued_items(
    bundles: Path, bundle: Bundle, tmp_path: Path
) -> None:
    item = most_bought(bundle, 1)
    with TestClient(create_app(settings_for(bundles, tmp_path, today=DAY)), client=LOOPBACK) as api:
        assert api.put("/v1/items/BRAND-NEW", json={"title": "New mug"}).status_code == 200
        fresh = api.get("/v1/items/BRAND-NEW/audience")
        assert fresh.status_code == 200 and fresh.json()["clients"] == []
        assert api.put(f"/v1/items/{item}", json={"available": False}).status_code == 200
        gone = api.get(f"/v1/items/{item}/audience")
        assert gone.status_code == 200 and gone.json()["clients"] == []
        assert api.delete(f"/v1/items/{item}").status_code == 200  # discontinued: 404
        ended = api.get(f"/v1/items/{item}/audience")
        assert ended.status_code == 404 and "discontinued" in ended.json()["detail"]


def test_a_segment_keeps_its_clients_only(
    bundles: Path, bundle: Bundle, sample_features: Path, tmp_path: Path
) -> None:
    segments = pd.read_parquet(sample_features, columns=["segment"])["segment"]
    settings = settings_for(bundles, tmp_path, today=DAY, features_path=sample_features)
    with TestClient(create_app(settings), client=LOOPBACK) as api:
        answer = api.get(f"/v1/items/{most_bought(bundle)}/audience?k=15&segment=can't lose")
    body = answer.json()
    assert answer.status_code == 200 and body["segment"] == "can't lose"
    assert body["clients"] and {segments[c["client_id"]] for c in body["clients"]} == {"can't lose"}


def test_profiles_come_from_the_redis_feature_store_without_a_features_file(
    bundles: Path, bundle: Bundle, sample_features: Path, tmp_path: Path
) -> None:
    """An analyst rule aimed at one country (the shipped example: Regency teacups → the
    saucer 22698, United Kingdom only) counts for that country's clients when the
    service reads client features from Redis as it does from the features file; without
    either it counts for nobody."""
    from feature_store.online import OnlineStore
    from tests.servers import free_port, start_redis

    process = start_redis(port := free_port(), tmp_path)
    try:
        redis = f"redis://127.0.0.1:{port}/0"
        OnlineStore(redis).materialise(pd.read_parquet(sample_features), "v1")
        runs = {
            "file": {"features_path": sample_features},
            "redis": {"redis_url": redis},
            "none": {},
        }
        found = {
            name: _saucer_audience(bundles, tmp_path / name, extra) for name, extra in runs.items()
        }
    finally:
        process.kill()
        process.wait(timeout=30)
    assert found["redis"] == found["file"]
    assert found["file"] != found["none"]  # the rule moves the United Kingdom's clients


def _saucer_audience(bundles: Path, tmp: Path, extra: dict[str, object]) -> list[tuple[str, float]]:
    settings = settings_for(bundles, tmp, today=DAY, **extra)
    with TestClient(create_app(settings), client=LOOPBACK) as api:
        answer = api.get("/v1/items/22698/audience?k=200")
    assert answer.status_code == 200, answer.text
    return [(c["client_id"], round(c["score"], 6)) for c in answer.json()["clients"]]


def test_a_feature_store_that_does_not_answer_keeps_the_profiles_served(
    bundles: Path, sample_features: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bundle loaded while the Redis feature store is down keeps the profiles of the
    one it replaces (none at the first load: the service still starts)."""
    import shutil

    from feature_store.online import OnlineStore
    from serving.state import ServiceState, load
    from tests.servers import free_port, start_redis

    served, original = tmp_path / "bundles", next(p for p in bundles.iterdir() if p.is_dir())
    for name in ("a", "b"):
        shutil.copytree(original, served / name)
    (served / "CURRENT").write_text("a")
    process = start_redis(port := free_port(), tmp_path)
    redis = f"redis://127.0.0.1:{port}/0"
    settings = settings_for(served, tmp_path / "service", redis_url=redis)
    try:
        OnlineStore(redis).materialise(pd.read_parquet(sample_features), "v1")
        state = ServiceState(settings)
        assert state.reload() and state.current is not None
        read = state.current.profiles
        assert len(read) > 500  # the sample's clients with features
    finally:
        process.kill()
        process.wait(timeout=30)
    (served / "CURRENT").write_text("b")
    assert state.reload() and state.current.source.name == "b"
    assert state.current.profiles == read and "profiles kept" in caplog.text
    assert load(settings).profiles == {}  # a first load: nothing to keep
