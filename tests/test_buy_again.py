"""The storefront's "buy it again" shelf: ``mode=repeat`` lists only what the client
bought (bought since training too), ``mode=explore`` only what they did not, checked
against the bundle's own matrix; contradictory options are refused naming ``mode``."""

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


def test_contradictions_and_cold_clients(bundles: Path, tmp_path: Path) -> None:
    client, _ = a_client(bundles)
    with TestClient(create_app(settings_for(bundles, tmp_path)), client=LOOPBACK) as api:
        refused = api.get(f"/v1/clients/{client}/recommendations?mode=repeat")
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["query", "mode"]
        odd = api.get(f"/v1/clients/{client}/recommendations?mode=sometimes")
        assert odd.status_code == 422 and odd.json()["detail"][0]["loc"] == ["query", "mode"]
        cold = api.get("/v1/clients/never-seen/recommendations?exclude_purchased=false&mode=repeat")
        assert cold.status_code == 200 and cold.json()["items"] == []
