"""Re-purchases: the rhythm fitted by hand, the served reason, and next-best offers as
the client's list with bought items allowed (the re-purchase probability itself:
tests/test_rebuy.py; the reason's days and age from the raw lines: tests/test_clock.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from fastapi.testclient import TestClient

from recsys.bundle import Bundle
from recsys.errors import ModelError
from recsys.repeat import RepeatIndex
from recsys.vocab import IdMap
from serving.app import create_app
from tests.conftest import settings_for
from tests.servers import LOOPBACK

DAY0 = (date(2026, 1, 1) - date(1970, 1, 1)).days


def _events(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["client_id", "item_id", "timestamp"]).assign(
        timestamp=lambda f: pd.to_datetime(f["timestamp"], format="ISO8601")
    )


def test_rhythm_by_hand(tmp_path: Path) -> None:
    events = _events(
        [
            ("c", "mug", "2026-01-01 09:00"),
            ("c", "mug", "2026-01-01 17:00"),  # the same day: one purchase day
            ("c", "mug", "2026-01-11"),
            ("c", "mug", "2026-01-21"),  # days 0, 10, 20: every 10 days, last day 20
            ("c", "tea", "2026-01-05"),  # bought once: no rhythm
            ("d", "tea", "2026-01-02"),
            ("d", "tea", "2026-01-02"),  # twice on one day: no rhythm
        ]
    )
    index = RepeatIndex.fit(events, IdMap(np.array(["c", "d"])), IdMap(np.array(["mug", "tea"])))
    items, interval, last = index.row(0)
    assert items.tolist() == [0] and interval.tolist() == [10.0] and last.tolist() == [DAY0 + 20]
    assert index.row(1)[0].size == 0 and index.as_of == DAY0 + 20
    index.save(tmp_path / "repeats.npz")
    again = RepeatIndex.load(tmp_path / "repeats.npz")
    assert (again.days != index.days).nnz == 0 and (again.first != index.first).nnz == 0
    assert again.as_of == index.as_of
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match=r"bad\.npz"):
        RepeatIndex.load(tmp_path / "bad.npz")


def _most_rebought(repeats: RepeatIndex) -> int:
    """The row with the most items bought on two or more days."""
    d = repeats.days
    again = sp.csr_matrix(((d.data >= 2).astype(np.int64), d.indices, d.indptr), shape=d.shape)
    return int(np.argmax(np.asarray(again.sum(axis=1)).ravel()))


def test_every_bought_item_by_hand(tmp_path: Path) -> None:
    events = _events(
        [("c", "mug", "2026-01-01"), ("c", "mug", "2026-01-11"), ("c", "tea", "2026-01-05")]
    )
    index = RepeatIndex.fit(events, IdMap(np.array(["c"])), IdMap(np.array(["mug", "tea"])))
    items, days, first, last = index.entries(0)
    assert items.tolist() == [0, 1] and days.tolist() == [2, 1]
    assert first.tolist() == [DAY0, DAY0 + 4] and last.tolist() == [DAY0 + 10, DAY0 + 4]
    assert index.units.data.tolist() == [2, 1]  # no quantity: one a line
    # Units: the lines' positive quantities (a return line counts none), a day's mean.
    events["quantity"] = [6.0, -2.0, 3.0]
    counted = RepeatIndex.fit(events, IdMap(np.array(["c"])), IdMap(np.array(["mug", "tea"])))
    assert counted.units.data.tolist() == [6, 3] and counted.units_per_day(0).tolist() == [3, 3]
    counted.save(tmp_path / "units.npz")
    loaded = RepeatIndex.load(tmp_path / "units.npz").units
    for array in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(loaded, array), getattr(counted.units, array))
    # A first-format file (re-bought pairs and intervals only) still loads.
    np.savez(
        tmp_path / "old.npz",
        indptr=np.array([0, 1]),
        indices=np.array([0]),
        interval=np.array([10.0], dtype=np.float32),
        last=np.array([DAY0 + 10], dtype=np.float32),
        shape=np.array([1, 2]),
        as_of=np.array([DAY0 + 10.0]),
    )
    old = RepeatIndex.load(tmp_path / "old.npz")
    assert [a.tolist() for a in old.row(0)] == [[0], [10.0], [DAY0 + 10]]
    assert old.units_per_day(0).tolist() == [1.0]  # no units: one a purchase day


def test_bought_again_is_offered_with_its_rhythm(
    bundle: Bundle, bundles: Path, tmp_path: Path
) -> None:
    """Where bought items may be offered, the repeat source speaks for bought items only:
    on how many days and when for items bought on two or more days, when otherwise."""
    repeats = bundle.repeats
    assert repeats is not None
    row = _most_rebought(repeats)  # the client with the most items re-bought
    who = str(bundle.data.clients.ids[row])
    items_, days, _, _ = repeats.entries(row)
    ids = bundle.data.items.ids
    rebought = {str(ids[i]) for i, d in zip(items_, days, strict=True) if d >= 2}
    once = {str(ids[i]) for i, d in zip(items_, days, strict=True) if d == 1}
    with TestClient(create_app(settings_for(bundles, tmp_path)), client=LOOPBACK) as client:
        listed = client.get(f"/v1/clients/{who}/recommendations?k=20&exclude_purchased=false")
        items = listed.json()["items"]
        said = [r for i in items for r in i["reasons"] if r["source"] == "repeat"]
        assert said, "no re-purchase offered"
        for item in items:
            for reason in item["reasons"]:
                if reason["source"] != "repeat":
                    continue
                days = reason["evidence"]["days_bought"]
                if item["item_id"] in rebought:
                    assert reason["text"].startswith("You bought ")
                    assert f" on {days} days, last " in reason["text"] and days >= 2
                else:
                    assert item["item_id"] in once and reason["text"].startswith("You bought ")
                    assert days == 1
        usual = client.get(f"/v1/clients/{who}/recommendations?k=20").json()["items"]
        assert not any(r["source"] == "repeat" for i in usual for r in i["reasons"])


def test_next_best_offers_are_the_list_with_bought_items(
    bundle: Bundle, bundles: Path, sample_features: Path, tmp_path: Path
) -> None:
    """One place decides: next-best offers are the client's ``exclude_purchased=false``
    list (items, scores, reasons), with its profile's targeting, a declined offer held
    back and a purchase since training counted by both; its bought items come back by
    the re-purchase score, each saying on how many days it was bought."""
    repeats = bundle.repeats
    assert repeats is not None
    who = str(bundle.data.clients.ids[_most_rebought(repeats)])
    settings = settings_for(bundles, tmp_path, features_path=sample_features)
    with TestClient(create_app(settings), client=LOOPBACK) as client:

        def both() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            nbo = client.get(f"/v1/clients/{who}/next-best-offers?k=20").json()["offers"]
            url = f"/v1/clients/{who}/recommendations?k=20&exclude_purchased=false"
            return nbo, client.get(url).json()["items"]

        first, _ = both()
        top, fresh = first[0]["item_id"], first[1]["item_id"]
        declined = {"outcome": "declined", "channel": "call"}
        assert client.post(f"/v1/clients/{who}/offers/{top}/outcome", json=declined).is_success
        assert client.post("/v1/events", json={"client_id": who, "item_id": fresh}).is_success
        offers, listed = both()
    assert offers == listed and top not in [o["item_id"] for o in offers]
    said = {o["item_id"]: r for o in offers for r in o["reasons"] if r["source"] == "repeat"}
    assert len(said) >= 10 and said[fresh]["text"].endswith(", the last one recently")
    assert all(r["text"].startswith("You bought ") for r in said.values())
