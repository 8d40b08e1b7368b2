"""The service end to end with TestClient: without Redis, and against a real Redis."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from recsys.bundle import Bundle
from serving.app import create_app
from tests.conftest import a_client, settings_for
from tests.servers import LOOPBACK, free_port, start_redis
from training.cli import app as cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", params=["local", "spark"])
def bundles(request: pytest.FixtureRequest, bundles: Path) -> Path:
    """Every service test runs on the bundle trained locally and on the one trained
    with ``--engine spark``: the service cannot tell them apart."""
    return bundles if request.param == "local" else request.getfixturevalue("spark_bundles")


@pytest.fixture
def client(bundles: Path, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(bundles, tmp_path)), client=LOOPBACK) as test_client:
        yield test_client


def test_recommendations_cached_on_second_call(client: TestClient, bundles: Path) -> None:
    who, bought = a_client(bundles)
    first = client.get(f"/v1/clients/{who}/recommendations?k=5")
    assert first.status_code == 200
    body = first.json()
    assert body["client_id"] == who and body["cached"] is False and len(body["items"]) == 5
    assert not {i["item_id"] for i in body["items"]} & bought
    assert all(i["reasons"] and i["reasons"][0]["text"] for i in body["items"])
    second = client.get(f"/v1/clients/{who}/recommendations?k=5").json()
    assert second["cached"] is True and second["items"] == body["items"]


def test_unknown_client_is_cold_start(client: TestClient) -> None:
    body = client.get("/v1/clients/nobody-at-all/recommendations?k=3").json()
    assert len(body["items"]) == 3
    assert all(r["source"] == "popular" for i in body["items"] for r in i["reasons"])


def test_event_invalidates_and_folds_in(client: TestClient, bundles: Path) -> None:
    who, _ = a_client(bundles)
    before = client.get(f"/v1/clients/{who}/recommendations?k=5").json()
    top = before["items"][0]["item_id"]
    event = {"client_id": who, "item_id": top, "type": "purchase"}
    assert client.post("/v1/events", json=event).json() == {"accepted": 1}
    after = client.get(f"/v1/clients/{who}/recommendations?k=5").json()
    assert after["cached"] is False  # the event dropped the cached list
    assert top not in {i["item_id"] for i in after["items"]}  # bought now: filtered at once


def test_events_are_durable_before_the_answer(client: TestClient, tmp_path: Path) -> None:
    batch = {"events": [{"client_id": "c1", "item_id": "i1"}, {"client_id": "c2", "item_id": "i2"}]}
    assert client.post("/v1/events", json=batch).json() == {"accepted": 2}
    stored = (tmp_path / "events.jsonl").read_text().splitlines()
    assert len(stored) == 2 and '"client_id":"c1"' in stored[0]


def test_related_and_basket(client: TestClient, bundles: Path) -> None:
    bundle = Bundle.load(next(p for p in bundles.iterdir() if p.is_dir()))
    popular_item = str(bundle.data.items.ids[int(np.argmax(bundle.models["popular"].popularity))])
    related = client.get(f"/v1/items/{popular_item}/related?k=4")
    assert related.status_code == 200 and related.json()["items"]
    assert client.get("/v1/items/NO-SUCH-ITEM/related").status_code == 404
    basket = client.post("/v1/baskets/recommendations", json={"items": [popular_item], "k": 4})
    assert basket.status_code == 200
    assert popular_item not in {i["item_id"] for i in basket.json()["items"]}


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("get", "/v1/clients/x/recommendations?k=0", None, "k"),
        ("get", "/v1/clients/x/recommendations?k=100000", None, "k"),
        ("get", "/v1/clients/x/recommendations?k=abc", None, "k"),
        ("get", "/v1/items/x/related?k=-1", None, "k"),
        ("post", "/v1/baskets/recommendations", {"items": "notalist"}, "items"),
        ("post", "/v1/baskets/recommendations", {"items": [], "k": 10**6}, "k"),
        ("post", "/v1/events", {"client_id": "c", "item_id": "i", "quantity": -2}, "quantity"),
        ("post", "/v1/events", {"client_id": "", "item_id": "i"}, "client_id"),
        ("post", "/v1/events", {"events": []}, "events"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    client: TestClient, method: str, url: str, body: object, field: str
) -> None:
    response = getattr(client, method)(url, json=body) if body is not None else client.get(url)
    assert response.status_code == 422
    assert field in response.text


def test_health_ready_metrics_model(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["model_version"]
    info = client.get("/v1/model").json()
    assert info["version"] == ready["model_version"] and "ease" in info["models"]
    assert info["notes"] == {}  # 3,6xx items: EASE covers the whole catalogue
    client.get("/v1/clients/x/recommendations")
    text = client.get("/metrics").text
    assert (
        'recsys_requests_total{route="/v1/clients/{client_id}/recommendations",status="200"}'
        in text
    )
    assert "recsys_request_seconds_bucket" in text and "recsys_model_info" in text


def test_api_keys(bundles: Path, tmp_path: Path) -> None:
    settings = settings_for(bundles, tmp_path, read_api_key="r-key", admin_api_key="a-key")
    with TestClient(create_app(settings), client=LOOPBACK) as keyed:
        url = "/v1/clients/x/recommendations"
        assert keyed.get(url).status_code == 401
        assert keyed.get(url, headers={"X-API-Key": "wrong"}).status_code == 403
        assert keyed.get(url, headers={"X-API-Key": "r-key"}).status_code == 200
        event = {"client_id": "c", "item_id": "i"}
        assert (
            keyed.post("/v1/events", json=event, headers={"X-API-Key": "r-key"}).status_code == 403
        )
        assert (
            keyed.post("/v1/events", json=event, headers={"X-API-Key": "a-key"}).status_code == 200
        )


def test_hot_reload_and_refusal_of_a_broken_bundle(bundles: Path, tmp_path: Path) -> None:
    served = tmp_path / "bundles"
    original = next(p for p in bundles.iterdir() if p.is_dir())
    shutil.copytree(original, served / original.name)
    settings = settings_for(served, tmp_path, admin_api_key="a")
    with TestClient(create_app(settings), client=LOOPBACK) as test_client:
        old = test_client.get("/v1/model").json()["version"]
        broken = served / "zz-broken"
        shutil.copytree(original, broken)
        (broken / "items.npy").write_bytes(b"garbage")
        (served / "CURRENT").write_text("zz-broken")
        refused = test_client.post("/v1/model/reload", headers={"X-API-Key": "a"})
        assert refused.status_code == 409 and "zz-broken" in refused.json()["error"]
        assert test_client.get("/v1/model").json()["version"] == old  # old one keeps serving
        newer = served / "zz-newer"
        shutil.copytree(original, newer)
        manifest = (newer / "manifest.json").read_text().replace(old, "v-newer")
        (newer / "manifest.json").write_text(manifest)
        (served / "CURRENT").write_text("zz-newer")
        assert test_client.post("/v1/model/reload", headers={"X-API-Key": "a"}).status_code == 200
        assert test_client.get("/v1/model").json()["version"] == "v-newer"
        body = test_client.get("/v1/clients/x/recommendations").json()
        assert body["model_version"] == "v-newer"


def test_with_real_redis_and_redis_killed(bundles: Path, tmp_path: Path) -> None:
    port = free_port()
    extra_redis = start_redis(port, tmp_path)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        with TestClient(
            create_app(settings_for(bundles, tmp_path, redis_url=url, local_cache_size=0)),
            client=LOOPBACK,
        ) as c:
            who, _ = a_client(bundles)
            assert c.get(f"/v1/clients/{who}/recommendations").json()["cached"] is False
            assert c.get(f"/v1/clients/{who}/recommendations").json()["cached"] is True
            import redis

            assert any(k.startswith(b"rec:") for k in redis.Redis.from_url(url).keys("*"))
            extra_redis.kill()
            extra_redis.wait()
            down = c.get(f"/v1/clients/{who}/recommendations")
            assert down.status_code == 200 and down.json()["items"]
            assert c.get("/readyz").json()["status"] == "degraded"
            assert "recsys_redis_up 0.0" in c.get("/metrics").text
    finally:
        extra_redis.kill()


def test_precompute_fills_redis_for_every_client(
    bundles: Path, tmp_path: Path, redis_url: str
) -> None:
    import redis

    settings = settings_for(bundles, tmp_path, redis_url=redis_url, local_cache_size=0)
    patch = pytest.MonkeyPatch()
    patch.setenv("RECSYS_REDIS_URL", redis_url)
    patch.setenv("RECSYS_BUNDLE_PATH", str(bundles))
    # The same analyst rules as the service: they are part of the cache key.
    patch.setenv("RECSYS_CROSS_SELL_PATH", str(settings.cross_sell_path))
    try:
        result = CliRunner().invoke(cli, ["precompute", "--k", "4", "--workers", "2"])
    finally:
        patch.undo()
    assert result.exit_code == 0, result.output
    bundle = Bundle.load(next(p for p in bundles.iterdir() if p.is_dir()))
    stored = redis.Redis.from_url(redis_url).keys(f"rec:{bundle.version}.*:k=4")
    assert len(stored) == len(bundle.data.clients)
    assert "clients/s" in result.output and "bytes of Redis per list" in result.output
    stored_value = redis.Redis.from_url(redis_url).get(stored[0])
    # The ranking alone, compressed; reasons are rendered when read.
    assert stored_value is not None and stored_value.startswith(b"R") and len(stored_value) < 600
    fresh = settings_for(bundles, tmp_path / "fresh", local_cache_size=0)
    ids = [str(i) for i in bundle.data.clients.ids[:: max(1, len(bundle.data.clients) // 25)]]
    with (
        TestClient(create_app(settings), client=LOOPBACK) as c,
        TestClient(create_app(fresh), client=LOOPBACK) as computed,
    ):
        for who in ids:  # the batched, stored list is the one a request computes
            first = c.get(f"/v1/clients/{who}/recommendations?k=4").json()
            again = computed.get(f"/v1/clients/{who}/recommendations?k=4").json()
            assert first["cached"] is True and again["cached"] is False
            # Scores are float32 sums taken in another order: equal to 1e-5.
            assert [i["item_id"] for i in first["items"]] == [i["item_id"] for i in again["items"]]
            assert [i["reasons"] for i in first["items"]] == [i["reasons"] for i in again["items"]]
            for a, b in zip(first["items"], again["items"], strict=True):
                assert a["score"] == pytest.approx(b["score"], abs=1e-5), who
    no_redis = CliRunner().invoke(cli, ["precompute"])
    assert no_redis.exit_code == 4 and "RECSYS_REDIS_URL" in no_redis.output
    patch.setenv("RECSYS_BUNDLE_PATH", str(bundles))
    patch.setenv("RECSYS_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nobody there
    try:
        down = CliRunner().invoke(cli, ["precompute"])
    finally:
        patch.undo()
    assert down.exit_code == 4 and "RECSYS_REDIS_URL: Redis did not answer" in down.output
    assert down.exception is None or isinstance(down.exception, SystemExit)  # no traceback


def test_blend_weights_are_a_setting(bundles: Path, tmp_path: Path) -> None:
    settings = settings_for(bundles, tmp_path, blend_weights={"ease": 1.0, "popular": 0.1})
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        who, _ = a_client(bundles)
        body = c.get(f"/v1/clients/{who}/recommendations?k=10").json()
        sources = {r["source"] for item in body["items"] for r in item["reasons"]}
        assert sources <= {"ease", "popular"} and "ease" in sources


def guest_only_items(raw: pd.DataFrame) -> list[str]:
    """Product codes sold only on invoices without a client (the raw sample, counted
    here with plain pandas: sales lines, positive quantity and price)."""
    sales = raw[~raw["Invoice"].str.startswith("C")]
    sales = sales[(sales["Quantity"].astype(float) > 0) & (sales["Price"].astype(float) > 0)]
    products = sales[sales["StockCode"].str.match(r"^\d{5}")]
    guests = set(products.loc[products["Customer ID"] == "", "StockCode"])
    return sorted(guests - set(products.loc[products["Customer ID"] != "", "StockCode"]))


def test_related_for_items_sold_only_to_guests(
    client: TestClient, sample_raw: pd.DataFrame
) -> None:
    """The events know them (their baskets, their titles): a product page of such an
    item shows a full list, never "unknown item"."""
    guests = guest_only_items(sample_raw)
    assert len(guests) >= 10  # the sample keeps 100 guest invoices for this
    for item in guests:
        answer = client.get(f"/v1/items/{item}/related?k=5")
        assert answer.status_code == 200, (item, answer.text)
        listed = [i["item_id"] for i in answer.json()["items"]]
        assert len(listed) == 5 and item not in listed and len(set(listed)) == 5, (item, listed)
        assert all(i["reasons"] for i in answer.json()["items"])
