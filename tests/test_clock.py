"""One clock: every "today" of the service is one injectable UTC day; a re-purchase's
reason counts its days and its age on that day, and an item bought since training
counts as one more day, in next-best offers and the client's list alike.

The client, its re-bought item and the day it is due again are picked from the raw
sample by hand (pandas on the CSV's strings), not read from the bundle.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from recsys.bundle import Bundle
from recsys.ranking import HybridRecommender, RequestOptions
from recsys.ranking.sources import day_of
from serving.app import create_app
from serving.settings import ServingSettings
from tests.conftest import SAMPLE, settings_for
from tests.servers import LOOPBACK
from training.cli import app as cli


class Due(NamedTuple):
    """A client with one rhythm, its item, the usual interval, the day it is due, the
    client's items and the distinct days it bought that one on."""

    client: str
    item: str
    every: float
    day: date
    bought: frozenset[str]
    days: int


def purchases(raw: pd.DataFrame) -> pd.DataFrame:
    """Purchase lines of known clients (no cancellation, positive quantity and price,
    product codes only), with the client id as training spells it and the day."""
    kept = (
        (raw["Customer ID"] != "")
        & ~raw["Invoice"].str.startswith("C")
        & (raw["Quantity"].astype(float) > 0)
        & (raw["Price"].astype(float) > 0)
        & raw["StockCode"].str.fullmatch(r"\d{5}[A-Za-z]*")
    )
    return raw[kept].assign(
        client=lambda f: f["Customer ID"].str.removesuffix(".0"),
        day=lambda f: f["InvoiceDate"].str[:10],
    )


def one_rhythm(raw: pd.DataFrame) -> Due:
    """The client whose only item bought on two or more days was bought on the most
    days (ties: the smallest id), so on its due day it is the client's one due item:
    due = last day + mean interval (last − first) / (days − 1)."""
    lines = purchases(raw)
    pairs = lines.groupby(["client", "StockCode"])["day"].agg(["nunique", "min", "max"])
    again = pairs[pairs["nunique"] >= 2].reset_index()
    alone = again[again["client"].map(again["client"].value_counts()) == 1]
    pick = alone.sort_values(["nunique", "client"], ascending=[False, True]).iloc[0]
    first, last = date.fromisoformat(pick["min"]), date.fromisoformat(pick["max"])
    every = (last - first).days / (pick["nunique"] - 1)
    bought = frozenset(lines.loc[lines["client"] == pick["client"], "StockCode"])
    due = last + timedelta(round(every))
    return Due(pick["client"], pick["StockCode"], every, due, bought, int(pick["nunique"]))


@pytest.fixture(scope="module")
def due(sample_raw: pd.DataFrame) -> Due:
    """The sample's client with one rhythm (picked by hand from the raw lines)."""
    found = one_rhythm(sample_raw)
    assert found.every > 30  # a rhythm of months: a day either way is still "due"
    return found


def pinned(day: date) -> Callable[[], date]:
    """A clock that always says ``day``."""
    return lambda: day


def offers(client: TestClient, who: str) -> dict[str, dict[str, Any]]:
    """Next-best offers (the most a request may ask), by item id."""
    body = client.get(f"/v1/clients/{who}/next-best-offers?k=20").json()
    return {o["item_id"]: o for o in body["offers"]}


def repeat_reason(offer: dict[str, Any]) -> dict[str, Any] | None:
    """The offer's re-purchase reason, if it has one."""
    return next((r for r in offer["reasons"] if r["source"] == "repeat"), None)


def test_an_item_bought_today_counts_one_more_day_in_offers_and_the_list(
    due: Due, bundles: Path, tmp_path: Path
) -> None:
    """On its due day the item is offered for what it is, a re-purchase: bought on
    ``due.days`` days, the last ``round(due.every)`` days ago (from the raw lines: 5
    days, 80 days ago, said "3 months ago").
    Bought that day (an event, after training), it counts one more day, the last one
    recently; the offers are the client's ``exclude_purchased=false`` list either way."""
    with TestClient(
        create_app(settings_for(bundles, tmp_path, today=due.day)), client=LOOPBACK
    ) as client:
        before = offers(client, due.client)
        accepted = client.post("/v1/events", json={"client_id": due.client, "item_id": due.item})
        after = offers(client, due.client)
        url = f"/v1/clients/{due.client}/recommendations?k=20&exclude_purchased=false"
        listed = client.get(url).json()["items"]
    assert accepted.status_code == 200
    assert due.item in before and due.item in after, sorted(before)
    title = before[due.item]["title"] or due.item
    reason = repeat_reason(before[due.item])
    assert reason is not None
    assert reason["evidence"] == {"days_bought": due.days, "last_days_ago": round(due.every)}
    months = round(round(due.every) / 30.44)  # 61 days to 2 years: said in months
    assert 61 <= round(due.every) < 730 and months >= 2
    assert reason["text"] == f"You bought {title} on {due.days} days, last {months} months ago"
    again = repeat_reason(after[due.item])
    assert again is not None and again["evidence"] == {
        "days_bought": due.days + 1,
        "last_days_ago": 0,
    }
    assert again["text"] == f"You bought {title} on {due.days + 1} days, the last one recently"
    assert [(i["item_id"], i["reasons"]) for i in listed] == [
        (o["item_id"], o["reasons"]) for o in after.values()
    ]


def test_items_bought_since_training_count_alike_in_either_path(due: Due, bundle: Bundle) -> None:
    """The single request (``recent``) and the batch (``recent`` per row) agree: the
    item's days without the fresh purchase, one more with it."""
    recommender = HybridRecommender(bundle, bundle.rules, today=pinned(due.day))
    row = bundle.data.clients.lookup(due.client)
    assert row is not None
    options = RequestOptions(exclude_purchased=False)  # no day: the recommender's clock
    for recent in [(), (due.item,)]:
        one = recommender.for_client(due.client, 20, options=options, recent=recent)
        batch = recommender.for_clients(np.array([row]), 20, options, [recent])[0]
        assert [(i.item_id, i.reasons) for i in one] == [(i.item_id, i.reasons) for i in batch]
        said = next(r for i in one if i.item_id == due.item for r in i.reasons)
        assert said.source == "repeat" and said.evidence["days_bought"] == due.days + len(recent)


def test_the_core_reads_its_clock_and_sources_none_of_their_own(due: Due, bundle: Bundle) -> None:
    """The day comes from the injected clock: the item's last purchase reads as
    ``round(due.every)`` days ago on its due day, four intervals more four intervals
    later; a request the core has not dated has no day for a source to read."""
    every = round(due.every)
    for day, age in [(due.day, every), (due.day + timedelta(4 * every), 5 * every)]:
        recommender = HybridRecommender(bundle, bundle.rules, today=pinned(day))
        options = RequestOptions(exclude_purchased=False)
        found = {i.item_id: i for i in recommender.for_client(due.client, 50, options=options)}
        said = [r for r in found[due.item].reasons if r.source == "repeat"]
        assert said and said[0].evidence["last_days_ago"] == age, day
    with pytest.raises(ValueError, match="clock"):
        day_of(RequestOptions())


def test_the_day_is_read_from_recsys_today(monkeypatch: pytest.MonkeyPatch) -> None:
    """``RECSYS_TODAY`` is an ISO date; unset, the settings pin no day."""
    monkeypatch.setenv("RECSYS_TODAY", "2010-12-10")
    assert ServingSettings().today == date(2010, 12, 10)
    monkeypatch.delenv("RECSYS_TODAY")
    assert ServingSettings().today is None


@pytest.fixture
def served_on(
    due: Due, sample_raw: pd.DataFrame, bundles: Path, tmp_path: Path
) -> Iterator[tuple[TestClient, str]]:
    """The service pinned to the due day, with an analyst rule and an experiment that
    hold on that day only; and the item the rule offers (the most bought one the
    client never bought)."""
    counts = purchases(sample_raw)["StockCode"].value_counts()
    offered = str(next(i for i in counts.index if i not in due.bought))
    rule: dict[str, Any] = {"id": "on-the-day", "if_bought": {"items": [due.item]}}
    rule["offer"] = [offered]
    rule |= {"reason": "Only on the day", "valid_from": due.day, "valid_to": due.day}
    (tmp_path / "cross_sell.yaml").write_text(
        yaml.safe_dump({"version": "clock", "rules": [rule | {"pinned": True}]})
    )
    arms = [{"name": "a", "share": 50}, {"name": "b", "share": 50}]
    later = {"name": "later", "control": "a", "start": date(2020, 1, 1), "arms": arms}
    today = {"name": "on-the-day", "control": "a", "start": due.day, "arms": arms}
    today["end"] = due.day + timedelta(days=1)  # that day only
    path = tmp_path / "experiments.yaml"
    path.write_text(yaml.safe_dump({"experiments": [later, today]}))
    settings = settings_for(bundles, tmp_path, experiments_path=path, today=due.day)
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        yield client, offered


def test_every_route_reads_the_pinned_day(due: Due, served_on: tuple[TestClient, str]) -> None:
    """The recommendations route and next-best offers apply the rule of that day, and
    the offers bring back the item due on it, under the experiment running that day
    (arm by hand: sha256 of name, 0x1f, client; first 8 bytes mod 10,000; below 5,000
    is "a"); the experiments page shows that experiment, not the later one."""
    client, offered = served_on
    listed = client.get(f"/v1/clients/{due.client}/recommendations?k=10").json()
    nbo = client.get(f"/v1/clients/{due.client}/next-best-offers?k=20").json()
    page = client.get("/ui/experiments").text
    digest = hashlib.sha256(f"on-the-day\x1f{due.client}".encode()).digest()
    arm = "a" if int.from_bytes(digest[:8], "big") % 10_000 < 5_000 else "b"
    for body, key in [(listed, "items"), (nbo, "offers")]:
        assert (body["experiment"], body["arm"]) == ("on-the-day", arm)
        first = body[key][0]
        assert first["item_id"] == offered and first["reasons"][0]["source"] == "analyst"
    assert due.item in {o["item_id"] for o in nbo["offers"]}
    assert "Experiment on-the-day" in page and "Experiment later" not in page


def test_demo_serves_as_of_the_day_after_the_last_event(
    sample_raw: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``recsys demo`` on the sample (2009-12 … 2010-12) pins the service's day to the
    day after its last purchase, not the machine's date."""
    last = date.fromisoformat(purchases(sample_raw)["day"].max())
    seen: dict[str, str | None] = {}

    def served(*_: object) -> None:  # instead of starting the server
        seen["today"] = os.environ.get("RECSYS_TODAY")

    monkeypatch.setattr("training.cli.serve._run", served)
    for name in ("RECSYS_TODAY", "RECSYS_BUNDLE_PATH", "RECSYS_FEATURES_PATH"):
        monkeypatch.setenv(name, "")  # recorded, so the demo's values are undone after
        monkeypatch.delenv(name)
    args = ["demo", "--events", str(SAMPLE), "--out", str(tmp_path / "bundles")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert seen["today"] == (last + timedelta(days=1)).isoformat()
    assert f"served as of {seen['today']}" in result.output


def test_a_postponement_is_judged_on_the_pinned_day(
    due: Due, bundles: Path, tmp_path: Path
) -> None:
    """Postponed until a week after the service's day: held back on that day (on the real
    clock, years later, it would be back at once); declined offers count from it too."""
    week = (due.day + timedelta(days=7)).isoformat()
    with TestClient(
        create_app(settings_for(bundles, tmp_path, today=due.day)), client=LOOPBACK
    ) as client:
        assert due.item in offers(client, due.client)
        said = {"outcome": "postponed", "channel": "call", "until": week}
        answer = client.post(f"/v1/clients/{due.client}/offers/{due.item}/outcome", json=said)
        after = offers(client, due.client)
    assert answer.status_code == 200, answer.text
    assert answer.json()["held_back_until"].startswith(week)
    assert due.item not in after
