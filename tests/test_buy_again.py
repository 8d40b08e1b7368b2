"""The storefront's "buy it again" shelf: ``mode=repeat`` lists only what the client
bought (bought since training too), ``mode=explore`` only what they did not, checked
against the bundle's own matrix; a bad mode is refused naming ``mode``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from recsys.bundle import Bundle
from serving.app import create_app
from tests.conftest import a_client, settings_for
from tests.servers import LOOPBACK


def _bought(bundle: Bundle, client: str) -> set[str]:
    row = bundle.data.clients.lookup(client)
    return set(bundle.data.items.to_ids(bundle.data.matrix[row].indices).tolist())


def _short_history(bundle: Bundle) -> str:
    """A client with 3 to 5 items bought: a new purchase must make a top 20."""
    sizes = np.diff(bundle.data.matrix.indptr)
    return str(bundle.data.clients.ids[int(np.flatnonzero((sizes >= 3) & (sizes <= 5))[0])])


def test_repeat_and_explore_split_the_mixed_list(bundles: Path, tmp_path: Path) -> None:
    bundle = Bundle.load(next(p for p in bundles.iterdir() if p.is_dir()))
    client, _ = a_client(bundles)
    bought = _bought(bundle, client)
    url = f"/v1/clients/{client}/recommendations?k=20&exclude_purchased=false"
    with TestClient(create_app(settings_for(bundles, tmp_path)), client=LOOPBACK) as api:
        repeat = api.get(f"{url}&mode=repeat").json()["items"]
        explore = api.get(f"{url}&mode=explore").json()["items"]
        mixed = api.get(url).json()["items"]
        named = api.get(f"{url}&mode=mixed").json()["items"]
    assert len(repeat) == 20 and {i["item_id"] for i in repeat} <= bought
    assert all(any("bought" in r["text"] for r in i["reasons"]) for i in repeat)
    assert len(explore) == 20 and not {i["item_id"] for i in explore} & bought
    assert [i["item_id"] for i in mixed] == [i["item_id"] for i in named]


def test_repeat_holds_a_purchase_since_training(bundles: Path, tmp_path: Path) -> None:
    bundle = Bundle.load(next(p for p in bundles.iterdir() if p.is_dir()))
    client = _short_history(bundle)
    new = next(i for i in bundle.data.items.ids if str(i) not in _bought(bundle, client))
    url = f"/v1/clients/{client}/recommendations?k=20&exclude_purchased=false&mode=repeat"
    with TestClient(create_app(settings_for(bundles, tmp_path)), client=LOOPBACK) as api:
        before = {i["item_id"] for i in api.get(url).json()["items"]}
        sent = api.post("/v1/events", json={"client_id": client, "item_id": str(new)})
        assert sent.status_code == 200
        after = {i["item_id"] for i in api.get(url).json()["items"]}
    assert before == _bought(bundle, client)
    assert after == before | {str(new)}


def test_mode_wins_bad_modes_and_cold_clients(bundles: Path, tmp_path: Path) -> None:
    client, bought = a_client(bundles)
    with TestClient(create_app(settings_for(bundles, tmp_path)), client=LOOPBACK) as api:
        shelf = api.get(f"/v1/clients/{client}/recommendations?mode=repeat&k=20")
        assert shelf.status_code == 200  # the shelf is bought items, whatever else is said
        assert {i["item_id"] for i in shelf.json()["items"]} <= bought
        odd = api.get(f"/v1/clients/{client}/recommendations?mode=sometimes")
        assert odd.status_code == 422 and odd.json()["detail"][0]["loc"] == ["query", "mode"]
        cold = api.get("/v1/clients/never-seen/recommendations?exclude_purchased=false&mode=repeat")
        assert cold.status_code == 200 and cold.json()["items"] == []


def test_the_shelf_holds_no_new_arrival(bundles: Path, tmp_path: Path) -> None:
    """A new catalogue item of the client's category takes the last place of a mixed
    list (the new-arrivals slot), never a place on the buy-again shelf."""
    client, bought = a_client(bundles)
    url = f"/v1/clients/{client}/recommendations?k=10&exclude_purchased=false"
    with TestClient(create_app(settings_for(bundles, tmp_path)), client=LOOPBACK) as api:
        mine = [{"item_id": i, "category": "Candles"} for i in sorted(bought)]
        assert api.post("/v1/items/batch", json={"items": mine}).status_code == 200
        new = {"title": "Scented candle in a jar", "category": "Candles", "price": 4.0}
        assert api.put("/v1/items/NEW-1", json=new).status_code == 200
        mixed = [i["item_id"] for i in api.get(url).json()["items"]]
        shelf = [i["item_id"] for i in api.get(f"{url}&mode=repeat").json()["items"]]
    assert mixed[-1] == "NEW-1"  # the slot is filled where it should be
    assert "NEW-1" not in shelf and set(shelf) <= bought and len(shelf) == 10
