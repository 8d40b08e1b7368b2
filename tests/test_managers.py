"""Clients' managers: the features' ``manager`` column, the online store's index of
each manager's clients, and assignments made on the screen (in process and Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import redis

from feature_store import FEATURES, OnlineStore, build_features
from recsys.data import read_events

AS_OF = "2024-02-01"
#: Purchases and who handled them. c1 changed hands (ann, then " bob "; a later line names
#: nobody): bob. c2: never named. c3: carol; dave's line is after AS_OF.
LINES = [
    ("c1", "i1", "o1", "2024-01-02", "ann"),
    ("c1", "i2", "o2", "2024-01-05", " bob "),
    ("c1", "i2", "o3", "2024-01-06", ""),
    ("c2", "i1", "o4", "2024-01-03", ""),
    ("c3", "i3", "o5", "2024-01-04", "carol"),
    ("c3", "i3", "o6", "2024-02-05", "dave"),
]


@pytest.fixture
def raw(tmp_path: Path) -> pd.DataFrame:
    frame = pd.DataFrame(LINES, columns=["client_id", "item_id", "order_id", "timestamp", "m"])
    path = tmp_path / "events.csv"
    frame.drop(columns="m").assign(quantity=1, price=2.5).to_csv(path, index=False)
    # The column as an import that keeps it hands it over (empty cells: None).
    return read_events(path, "canonical").assign(manager=frame["m"].replace("", None))


def test_features_take_the_manager_of_the_latest_line(raw: pd.DataFrame) -> None:
    table = build_features(raw, AS_OF)
    assert table["manager"].to_dict() == {"c1": "bob", "c2": None, "c3": "carol"}
    assert list(table.columns) == [f.name for f in FEATURES]


def test_features_without_the_column_have_no_manager(raw: pd.DataFrame) -> None:
    table = build_features(raw.drop(columns="manager"), AS_OF)
    assert table["manager"].tolist() == [None, None, None]


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[OnlineStore]:
    """An empty store; Redis on a database of its own, emptied before and after."""
    if request.param == "memory":
        yield OnlineStore(None)
        return
    url = request.getfixturevalue("redis_url").rsplit("/", 1)[0] + "/11"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield OnlineStore(url)
    client.flushdb()
    client.close()


def _table(managers: list[str | None]) -> pd.DataFrame:
    clients = pd.Index(["c1", "c2", "c3", "c4"], name="client_id")
    risk = {"churn_risk": [True, False, True, True], "monetary": [10.0, 20.0, 30.0, 40.0]}
    return pd.DataFrame({"manager": managers, **risk}, index=clients)


def test_clients_of_follow_the_features_and_assignments(store: OnlineStore) -> None:
    store.materialise(_table(["ann", "ann", "bob", None]), "v1")
    assert [store.clients_of(m) for m in ("ann", "bob", "zoe")] == [["c1", "c2"], ["c3"], []]
    profile, nobody = store.get("c1"), store.get("c4")
    assert profile is not None and profile["manager"] == "ann"
    assert nobody is not None and nobody["manager"] is None
    store.assign("c3", "ann")  # moved on the screen
    store.assign("c1", None)  # nobody's now
    assert store.clients_of("ann") == ["c2", "c3"] and store.clients_of("bob") == []
    assert (store.get("c3") or {})["manager"] == "ann"
    assert (store.get("c1") or {})["manager"] is None
    fields = store.fields_of(["c1", "c3"], ("manager", "monetary"))
    assert fields == {
        "c1": {"manager": None, "monetary": 10.0},
        "c3": {"manager": "ann", "monetary": 30.0},
    }
    money = store.fields_of(["c1", "c4", "nobody"], ("monetary",))
    assert money == {"c1": {"monetary": 10.0}, "c4": {"monetary": 40.0}}


def test_assignments_outlive_a_new_version(store: OnlineStore) -> None:
    store.materialise(_table(["ann", "ann", "bob", None]), "v1")
    store.assign("c3", "ann")
    store.assign("c1", None)
    store.materialise(_table(["ann", "bob", "bob", "bob"]), "v2")
    # v2 gives c1 to ann (assigned to nobody: stays nobody's), c3 to bob (assigned to
    # ann: stays ann's), c2 and c4 to bob.
    assert store.clients_of("ann") == ["c3"]
    assert store.clients_of("bob") == ["c2", "c4"]
    store.assign("c9", "bob")  # a client without features yet
    assert store.clients_of("bob") == ["c2", "c4", "c9"] and store.get("c9") is None


def test_forget_drops_a_client_from_every_index(store: OnlineStore) -> None:
    store.materialise(_table(["ann", "ann", "bob", None]), "v1")
    store.materialise(_table(["ann", "ann", "ann", None]), "v2")
    store.assign("c2", "bob")
    assert store.forget("c1") == 2 and store.forget("c2") == 2
    assert store.clients_of("ann") == ["c3"] and store.clients_of("bob") == []
    if store.redis is not None:  # nothing of theirs is left in Redis
        sets = list(store.redis.scan_iter(match="recsys:manager:*"))
        assert sets and not any(store.redis.sismember(k, c) for k in sets for c in ("c1", "c2"))
        assert store.redis.hlen("recsys:manager-assigned") == 0


def test_names_are_kept_as_written_and_empty_refused(store: OnlineStore) -> None:
    store.materialise(_table(["ann", "ann", "bob", None]), "v1")
    store.assign("c2", " Анна Петрова ")
    assert (store.get("c2") or {})["manager"] == "Анна Петрова"
    assert store.clients_of("Анна Петрова") == ["c2"]
    with pytest.raises(ValueError, match="manager"):
        store.assign("c2", "  ")


def test_a_table_without_managers(store: OnlineStore) -> None:
    store.materialise(_table(["ann", "ann", "bob", None]).drop(columns="manager"), "v1")
    assert store.clients_of("ann") == []
    assert "manager" not in (store.get("c1") or {"manager": "?"})


def test_at_risk_of_one_manager() -> None:
    store = OnlineStore(None)
    store.materialise(_table(["ann", "ann", "bob", None]), "v1")
    # At risk: c1 (10), c3 (30), c4 (40), highest spend first; ann's: c1 only (c2 is not).
    assert [c for c, _ in store.at_risk(10)] == ["c4", "c3", "c1"]
    assert [c for c, _ in store.at_risk(10, manager="ann")] == ["c1"]
    store.assign("c3", "ann")
    found = store.at_risk(10, manager="ann")
    assert [(c, f["manager"]) for c, f in found] == [("c3", "ann"), ("c1", "ann")]
