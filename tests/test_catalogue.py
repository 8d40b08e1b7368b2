"""The catalogue: items, availability in every list (cached too), filters, new items."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from recsys.bundle import Bundle
from recsys.catalogue import Catalogue, CatalogueItem, ItemFacts, ItemFilter, read_items
from recsys.errors import DataError
from serving.app import create_app
from tests.conftest import a_client, settings_for, write_csv
from tests.servers import LOOPBACK
from training.cli import app as cli

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_item_windows_and_titles() -> None:
    item = CatalogueItem(
        item_id="a", title="  Red   mug ", available_from="2026-01-01T00:00:00", tags=("x", "x")
    )
    assert item.title == "Red mug" and item.tags == ("x",)
    assert item.available_from == T0  # naive read as UTC
    assert not item.sellable(T0 - timedelta(seconds=1)) and item.sellable(T0)
    ends = CatalogueItem(item_id="b", available_until=T0)
    assert ends.sellable(T0 - timedelta(seconds=1)) and not ends.sellable(T0)
    assert not CatalogueItem(item_id="c", available=False).sellable(T0)
    assert not CatalogueItem(item_id="d", deleted=True).sellable(T0)


def test_change_log_and_schedule() -> None:
    catalogue = Catalogue()
    catalogue.apply(CatalogueItem(item_id="a"))
    catalogue.apply(CatalogueItem(item_id="b", available_until=T0 + timedelta(hours=1)))
    catalogue.apply(CatalogueItem(item_id="c", available=False))
    assert catalogue.seq == 3
    assert catalogue.changed_since(0) == ["a", "b", "c"]
    assert catalogue.changed_since(2) == ["c"] and catalogue.changed_since(3) == []
    assert catalogue.unsellable(T0) == ["c"]
    assert catalogue.unsellable(T0 + timedelta(hours=2)) == ["b", "c"]
    assert catalogue.next_transition(T0) == (T0 + timedelta(hours=1)).timestamp()
    hour = (T0 + timedelta(hours=1)).timestamp()
    assert catalogue.ends_between(hour - 1, hour) and not catalogue.ends_between(hour, hour + 9)
    assert catalogue.touched(["a", "c"], 2, 0, 0) and not catalogue.touched(["a", "b"], 3, 0, 0)
    assert catalogue.touched(["b"], 3, hour - 1, hour) and not catalogue.touched(["a"], 3, 0, hour)
    catalogue.apply(CatalogueItem(item_id="c"), seq=10)  # a shared store's number
    assert catalogue.seq == 10 and catalogue.changed_since(3) == ["c"]
    assert catalogue.unsellable(T0) == []


@pytest.mark.parametrize("seed", range(5))
def test_filters_match_a_brute_force_check(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    facts = ItemFacts([f"i{i}" for i in range(n)], [""] * n, [""] * n)
    catalogue = Catalogue()
    kinds, tags = ["a", "b", "c", "d"], ["x", "y", "z"]
    described: dict[int, tuple[str, float | None, set[str]]] = {}
    for column in rng.choice(n, 200, replace=False).tolist():
        category = str(rng.choice(kinds))
        price = None if rng.random() < 0.2 else float(rng.integers(0, 100))
        mine = {t for t in tags if rng.random() < 0.4}
        item = CatalogueItem(item_id=f"i{column}", category=category, price=price, tags=tuple(mine))
        catalogue.apply(item)
        described[column] = (category, price, mine)
    facts.sync(catalogue, T0)
    for _ in range(20):
        wanted = ItemFilter(
            tuple(rng.choice(kinds, rng.integers(0, 3), replace=False).tolist()),
            float(rng.integers(0, 50)) if rng.random() < 0.5 else None,
            float(rng.integers(50, 100)) if rng.random() < 0.5 else None,
            tuple(rng.choice(tags, rng.integers(0, 2), replace=False).tolist()),
        )
        items = rng.choice(n, 60, replace=False)
        expected = [_passes(described.get(int(i)), wanted) for i in items]
        assert facts.allowed(items, wanted).tolist() == expected


def _passes(facts: tuple[str, float | None, set[str]] | None, wanted: ItemFilter) -> bool:
    category, price, tags = facts or ("", None, set())
    if wanted.categories and category not in wanted.categories:
        return False
    if wanted.price_min is not None and (price is None or price < wanted.price_min):
        return False
    if wanted.price_max is not None and (price is None or price > wanted.price_max):
        return False
    return not wanted.tags or bool(tags & set(wanted.tags))


def test_import_reads_a_file_and_names_bad_values(tmp_path: Path) -> None:
    good = write_csv(
        tmp_path / "items.csv",
        """
        item_id,title,category,price,available,tags,available_until
        A1,  Big   mug ,Kitchen,3.50,yes,blue|retro,2027-01-01
        A2,,,,false,,
        """,
    )
    first, second = read_items(good)
    assert first.title == "Big mug" and first.price == 3.5 and first.tags == ("blue", "retro")
    assert first.available_until == datetime(2027, 1, 1, tzinfo=UTC)
    assert second.title is None and second.available is False
    cases = {
        "item_id,price\nA1,3\nA2,-1\n": (2, "price"),
        "item_id,available\nA1,perhaps\n": (1, "available"),
        "item_id,available_from\nA1,someday\n": (1, "available_from"),
        "item_id,title\n,x\n": (1, "item_id"),
    }
    for number, (text, (row, column)) in enumerate(cases.items()):
        path = write_csv(tmp_path / f"bad{number}.csv", text)
        with pytest.raises(DataError) as found:
            read_items(path)
        assert (found.value.row, found.value.column) == (row, column), text
        result = CliRunner().invoke(
            cli, ["catalogue", "import", "--items", str(path), "--path", str(tmp_path / "c.jsonl")]
        )
        assert result.exit_code != 0 and str(path) in result.output
        assert f"row {row}" in result.output and repr(column) in result.output
    assert not (tmp_path / "c.jsonl").exists()  # nothing stored from a bad file
    unknown = write_csv(tmp_path / "unknown.csv", "item_id,colour\nA1,red\n")
    result = CliRunner().invoke(cli, ["catalogue", "import", "--items", str(unknown)])
    assert result.exit_code != 0 and "'colour'" in result.output


@pytest.fixture
def client(bundles: Path, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(bundles, tmp_path)), client=LOOPBACK) as test_client:
        yield test_client


def _ids(body: dict[str, list[dict[str, str]]], key: str = "items") -> list[str]:
    return [i["item_id"] for i in body[key]]


def _lists(client: TestClient, who: str, anchor: str) -> dict[str, list[str]]:
    """Every list type, for one known client, a cold client and one item."""
    return {
        "client": _ids(client.get(f"/v1/clients/{who}/recommendations?k=20").json()),
        "cold": _ids(client.get("/v1/clients/nobody-here/recommendations?k=20").json()),
        "basket": _ids(
            client.post("/v1/baskets/recommendations", json={"items": [anchor], "k": 20}).json()
        ),
        "related": _ids(client.get(f"/v1/items/{anchor}/related?k=20").json()),
        "offers": _ids(client.get(f"/v1/clients/{who}/next-best-offers?k=20").json(), "offers"),
    }


def test_unavailable_items_leave_every_list_cached_ones_too(
    client: TestClient, bundle: Bundle, bundles: Path
) -> None:
    who, bought = a_client(bundles)
    anchor = sorted(bought)[0]
    before = _lists(client, who, anchor)
    assert client.get(f"/v1/clients/{who}/recommendations?k=20").json()["cached"] is True
    # The top of each list, gone from the shop in three ways.
    out = before["related"][0]
    deleted, *rest = sorted({before["client"][0], before["cold"][0]} - {out})
    gone = {out, deleted, *rest}
    assert client.put(f"/v1/items/{out}", json={"available": False}).status_code == 200
    assert client.delete(f"/v1/items/{deleted}").json()["deleted"] is True
    for item in rest:
        ended = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        client.put(f"/v1/items/{item}", json={"available_until": ended})
    again = client.get(f"/v1/clients/{who}/recommendations?k=20").json()
    assert again["cached"] is False  # the cached list held an item that went out
    after = _lists(client, who, anchor)
    for kind, items in after.items():
        assert not gone & set(items), kind
        assert len(items) == len(before[kind]), kind  # refilled, not shortened
    # Back in stock: offered again at once where lists are not cached (cached lists
    # take it back when they are next computed).
    client.put(f"/v1/items/{out}", json={"available": True})
    assert _lists(client, who, anchor)["related"][0] == out


def test_changes_to_other_items_keep_a_cached_list(client: TestClient, bundles: Path) -> None:
    who, _ = a_client(bundles)
    listed = _ids(client.get(f"/v1/clients/{who}/recommendations?k=10").json())
    others = [{"item_id": f"other-{n}", "price": 1.0} for n in range(2000)]
    client.post("/v1/items/batch", json={"items": others})
    client.put(f"/v1/items/{listed[-1]}-not", json={"available": False})
    again = client.get(f"/v1/clients/{who}/recommendations?k=10").json()
    assert again["cached"] is True and _ids(again) == listed


def test_window_closing_hides_an_item_from_a_cached_list(client: TestClient, bundles: Path) -> None:
    context = client.app.state.context  # type: ignore[attr-defined]
    now = [T0]
    context.catalogue.clock = lambda: now[0]
    who, _ = a_client(bundles)
    top = _ids(client.get(f"/v1/clients/{who}/recommendations?k=10").json())[0]
    until = (T0 + timedelta(hours=1)).isoformat()
    client.put(f"/v1/items/{top}", json={"available_until": until, "price": 2.0})
    listed = client.get(f"/v1/clients/{who}/recommendations?k=10").json()
    assert top in _ids(listed)
    assert client.get(f"/v1/clients/{who}/recommendations?k=10").json()["cached"] is True
    now[0] = T0 + timedelta(hours=2)  # the window closed; no request changed anything
    later = client.get(f"/v1/clients/{who}/recommendations?k=10").json()
    assert later["cached"] is False and top not in _ids(later)
    assert client.get(f"/v1/items/{top}").json()["price"] == 2.0


def test_catalogue_titles_win_and_survive_a_restart(bundles: Path, tmp_path: Path) -> None:
    settings = settings_for(bundles, tmp_path)
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        who, _ = a_client(bundles)
        top = _ids(client.get(f"/v1/clients/{who}/recommendations?k=5").json())[0]
        client.put(f"/v1/items/{top}", json={"title": "Catalogue   title", "category": "Gifts"})
        listed = client.get(f"/v1/clients/{who}/recommendations?k=5").json()
        assert listed["items"][0]["title"] == "Catalogue title"
    with TestClient(create_app(settings), client=LOOPBACK) as client:  # the change log is read back
        assert client.get(f"/v1/items/{top}").json()["category"] == "Gifts"
        listed = client.get(f"/v1/clients/{who}/recommendations?k=5").json()
        assert listed["items"][0]["title"] == "Catalogue title"
        assert client.get("/v1/items/not-in-catalogue").status_code == 404


def test_filters_on_client_basket_and_related_lists(
    client: TestClient, bundle: Bundle, bundles: Path
) -> None:
    who, _ = a_client(bundles)
    order = np.argsort(-bundle.models["popular"].popularity, kind="stable")
    popular = [str(i) for i in bundle.data.items.ids[order[:400]]]
    entries = [
        {
            "item_id": item,
            "category": "even" if n % 2 == 0 else "odd",
            "price": float(n % 50),
            "tags": ["sale"] if n % 3 == 0 else [],
        }
        for n, item in enumerate(popular)
    ]
    assert client.post("/v1/items/batch", json={"items": entries}).json() == {"upserted": 400}
    facts = {e["item_id"]: e for e in entries}
    anchor = popular[0]
    queries = {
        "category=odd": lambda e: e["category"] == "odd",
        "category=odd&category=even": lambda e: True,
        "price_min=10&price_max=20": lambda e: 10 <= e["price"] <= 20,
        "tags=sale&category=even": lambda e: "sale" in e["tags"] and e["category"] == "even",
    }
    for query, holds in queries.items():
        for url in (
            f"/v1/clients/{who}/recommendations?k=10&{query}",
            f"/v1/items/{anchor}/related?k=10&{query}",
        ):
            items = _ids(client.get(url).json())
            assert items, url
            assert all(i in facts and holds(facts[i]) for i in items), url
    body = {"items": [anchor], "k": 10, "price_max": 5, "category": ["even"]}
    items = _ids(client.post("/v1/baskets/recommendations", json=body).json())
    assert items and all(facts[i]["price"] <= 5 and facts[i]["category"] == "even" for i in items)
    bad = client.get(f"/v1/clients/{who}/recommendations?price_min=-1")
    assert bad.status_code == 422 and "price_min" in bad.text


def test_new_item_gets_related_and_enters_lists(client: TestClient, bundles: Path) -> None:
    who, bought = a_client(bundles)
    assert client.get("/v1/items/NEW-1/related").status_code == 404
    mine = [{"item_id": i, "category": "Candles"} for i in sorted(bought)]
    client.post("/v1/items/batch", json={"items": mine})
    new = {"title": "Scented candle in a jar", "category": "Candles", "price": 4.0}
    assert client.put("/v1/items/NEW-1", json=new).status_code == 200
    related = client.get("/v1/items/NEW-1/related?k=5")
    assert related.status_code == 200
    items = related.json()["items"]
    assert items and all(i["item_id"] in bought for i in items)  # same category first
    assert "same category (Candles)" in items[0]["reasons"][0]["text"]
    listed = client.get(f"/v1/clients/{who}/recommendations?k=10").json()
    assert _ids(listed)[-1] == "NEW-1"
    reason = listed["items"][-1]["reasons"][0]
    assert reason["source"] == "new_arrivals" and "Candles" in reason["text"]
    offers = client.get(f"/v1/clients/{who}/next-best-offers?k=5").json()
    assert "NEW-1" in _ids(offers, "offers")
    # Not for a client who never bought a candle, and not once out of stock.
    assert "NEW-1" not in _ids(client.get("/v1/clients/nobody/recommendations").json())
    client.put("/v1/items/NEW-1", json={**new, "available": False})
    assert "NEW-1" not in _ids(client.get(f"/v1/clients/{who}/recommendations?k=10").json())


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("put", "/v1/items/x", {"price": -1}, "price"),
        ("put", "/v1/items/x", {"available": "maybe"}, "available"),
        ("put", "/v1/items/x", {"colour": "red"}, "colour"),
        ("put", "/v1/items/x", {"tags": ["t"] * 51}, "tags"),
        ("put", "/v1/items/x", {"available_until": 5}, "available_until"),
        ("post", "/v1/items/batch", {"items": [{"item_id": ""}]}, "item_id"),
    ],
)
def test_bad_catalogue_input_names_the_field(
    client: TestClient, method: str, url: str, body: object, field: str
) -> None:
    answer = getattr(client, method)(url, json=body)
    assert answer.status_code == 422 and field in answer.text


def test_catalogue_changes_reach_other_replicas_and_precompute(
    bundles: Path, tmp_path: Path, shared_state: str
) -> None:
    import redis

    redis_url = shared_state

    from serving import ranked

    a = settings_for(bundles, tmp_path / "a", redis_url=redis_url)
    b = settings_for(bundles, tmp_path / "b", redis_url=redis_url)
    who, _ = a_client(bundles)
    with (
        TestClient(create_app(a), client=LOOPBACK) as one,
        TestClient(create_app(b), client=LOOPBACK) as two,
    ):
        top = _ids(two.get(f"/v1/clients/{who}/recommendations?k=10").json())[0]
        assert two.get(f"/v1/clients/{who}/recommendations?k=10").json()["cached"] is True
        started = time.perf_counter()
        one.put(f"/v1/items/{top}", json={"available": False})
        while top in _ids(two.get(f"/v1/clients/{who}/recommendations?k=10").json()):
            # A deadline, not a speed check (bench/replicas.py measures propagation).
            assert time.perf_counter() - started < 15.0, "not gone from the other replica"
            time.sleep(0.01)
    patch = pytest.MonkeyPatch()
    patch.setenv("RECSYS_REDIS_URL", redis_url)
    patch.setenv("RECSYS_BUNDLE_PATH", str(bundles))
    patch.setenv("RECSYS_CROSS_SELL_PATH", str(a.cross_sell_path))
    try:
        result = CliRunner().invoke(cli, ["precompute", "--k", "7"])
    finally:
        patch.undo()
    assert result.exit_code == 0, result.output
    store = redis.Redis.from_url(redis_url)
    bundle = Bundle.load(next(p for p in bundles.iterdir() if p.is_dir()))
    column = bundle.data.items.lookup(top)
    stored = [store.get(k) for k in store.keys("rec:*:k=7")]
    assert len(stored) == len(bundle.data.clients)
    found = [_stored_items(v, bundle) for v in stored if v is not None]
    assert found and not any(column in items for items in found)
    assert ranked.MARK == b"R"


def _stored_items(stored: bytes, bundle: Bundle) -> list[int | None]:
    """The item columns of a stored list: a ranking (``R`` + zlib JSON of columns), or a
    whole response (clients with events since training are stored as a request stores)."""
    import zlib

    import orjson

    from serving.catalogue import _STAMP

    if stored[:1] == b"R":
        return list(orjson.loads(zlib.decompress(stored[1:]))["items"])
    assert stored[:1] == b"S", stored[:20]  # stamped: change number, clock, listed ids, body
    _, _, size = _STAMP.unpack_from(stored, 1)
    body = orjson.loads(stored[1 + _STAMP.size + size :])
    return [bundle.data.items.lookup(i["item_id"]) for i in body["items"]]
