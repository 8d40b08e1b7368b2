"""Audiences in the core: a hand-worked example for the ranking and each exclusion, and
the blend read by item held to the served blend over every client of the sample bundle.

The hand-worked example: four clients, items A-D, a fixed model (its scores a table)
and popularity, weights 1.0 and 0.4, read on day 125 (days from 2024-01-01)::

    purchases (day)         fixed scores A B C D     activity (item-days)
    c1  A 100, 110, 120; B 50   .9 .1 .5 .3           4
    c2  A 60; C 60              .4 .8 .2 .6           2
    c3  B 115; C 100            .7 .2 .9 .1           2
    c4  D 90, 119               .3 .3 .6 .9           2

Every item is a candidate of both sources (depth ≥ 4). Fixed, min-max within each
client: A is c1 1, c2 (.4-.2)/.6 = 1/3, c3 (.7-.1)/.8 = .75, c4 0. Popularity (buyers
A 2, B 2, C 2, D 1, min-max 1..2): A and C get 1, × 0.4. Blend for A: c1 1.4, c2 .7333,
c3 1.15, c4 .4. Not due for A on day 125: c1 (own interval 10, last 5 days ago); c2
bought it once 65 days ago, A's usual interval is 10 (its only re-buyer, c1): due.
Audience of A = blend × activity: c3 2.3, c2 1.4667, c4 0.8.
For C, nobody bought it on two days: its past buyers c2 and c3 are left out; C's blend:
c1 .5 + .4 = .9, c4 .5 + .4 = .9. The audience of {A, C} sums both: c1 .9 × 4 = 3.6,
c4 (.4 + .9) × 2 = 2.6, c3 2.3, c2 1.4667.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.audience import (
    DEPTH,
    Exclusions,
    Target,
    audience,
    blend_columns,
    evaluate_audiences,
    score_clients,
    target_columns,
)
from recsys.audience.reasons import repeat_reason
from recsys.bundle import Bundle
from recsys.errors import NotFoundError
from recsys.matrix import InteractionMatrix, MatrixConfig
from recsys.models import Scorer
from recsys.models._base import ModelConfig
from recsys.privacy import client_hash
from recsys.ranking import BlendConfig, HybridRecommender, RequestOptions
from recsys.repeat import RepeatIndex
from recsys.vocab import IdMap

START = date(2024, 1, 1)
TODAY = START + timedelta(days=125)
CLIENTS, ITEMS = ["c1", "c2", "c3", "c4"], ["A", "B", "C", "D"]
BOUGHT = {
    "c1": [("A", 100), ("A", 110), ("A", 120), ("B", 50)],
    "c2": [("A", 60), ("C", 60)],
    "c3": [("B", 115), ("C", 100)],
    "c4": [("D", 90), ("D", 119)],
}
TABLE = np.array(
    [[0.9, 0.1, 0.5, 0.3], [0.4, 0.8, 0.2, 0.6], [0.7, 0.2, 0.9, 0.1], [0.3, 0.3, 0.6, 0.9]]
)


class Fixed(Scorer):
    """A model whose scores are :data:`TABLE` (bought items too, unless excluded)."""

    name = "fixed"
    config_class = ModelConfig
    personal = True

    def _fit(self, matrix: sp.csr_matrix, groups: np.ndarray | None) -> None:
        return None

    def _state(self) -> dict[str, Any]:
        return {}

    def _restore(self, state: dict[str, Any]) -> None:
        return None

    def _recommend(
        self, rows: np.ndarray, history: sp.csr_matrix, k: int, exclude_seen: bool, fold_in: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = TABLE[rows].copy()
        if exclude_seen:
            scores[history.toarray() > 0] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")
        top = np.take_along_axis(scores, order, 1)
        items = np.full((len(rows), k), -1, dtype=np.int64)
        values = np.full((len(rows), k), np.nan, dtype=np.float32)
        n = min(k, len(ITEMS))
        items[:, :n], values[:, :n] = order[:, :n], top[:, :n]
        return np.where(np.isfinite(values), items, -1), values


def events(bought: dict[str, list[tuple[str, int]]]) -> pd.DataFrame:
    """Purchase lines of ``bought`` (days from 2024-01-01)."""
    rows = [
        (c, i, f"o-{c}-{d}", pd.Timestamp(START) + pd.Timedelta(days=d))
        for c, lines in bought.items()
        for i, d in lines
    ]
    return pd.DataFrame(rows, columns=["client_id", "item_id", "order_id", "timestamp"])


@pytest.fixture(scope="module")
def hand() -> HybridRecommender:
    """The hand-worked example's recommender."""
    clients, items = IdMap(np.array(CLIENTS)), IdMap(np.array(ITEMS))
    lines = events(BOUGHT)
    rows, cols = clients.index(lines["client_id"]), items.index(lines["item_id"])
    matrix = sp.csr_matrix((np.ones(len(lines)), (rows, cols)), shape=(4, 4)).sign().tocsr()
    model = Fixed().fit(matrix)
    titles = np.array([""] * 4)
    repeats = RepeatIndex.fit(lines, clients, items)
    data = InteractionMatrix(matrix, clients, items)
    bundle = Bundle(data, {"fixed": model}, MatrixConfig(), "hand", titles, repeats=repeats)
    config = BlendConfig(weights={"fixed": 1.0, "popular": 0.4})
    return HybridRecommender(bundle, None, None, config, today=lambda: TODAY)


def members(found: Any) -> list[tuple[str, float]]:
    return [(m.client_id, round(m.score, 4)) for m in found.members]


def of(hand: HybridRecommender, *ids: str) -> np.ndarray:
    return np.array([hand.bundle.data.items.lookup(i) for i in ids])


def test_the_hand_worked_audience_of_one_item(hand: HybridRecommender) -> None:
    found = audience(hand, of(hand, "A"), 10)
    assert members(found) == [("c3", 2.3), ("c2", 1.4667), ("c4", 0.8)]  # c1: not due
    assert [m.rank for m in found.members] == [1, 2, 3] and found.items == ["A"]
    reasons = [(m.reason.source, m.reason.text) for m in found.members]
    assert reasons == [
        ("fixed", "Clients like this one bought it"),  # fixed .75 > popular .4
        ("popular", "Popular: bought by 2 clients"),  # popular .4 > fixed 1/3
        ("popular", "Popular: bought by 2 clients"),
    ]
    assert members(audience(hand, of(hand, "A"), 2)) == [("c3", 2.3), ("c2", 1.4667)]


def test_the_hand_worked_audience_of_a_set_sums_its_items(hand: HybridRecommender) -> None:
    found = audience(hand, of(hand, "A", "C"), 10)
    assert members(found) == [("c1", 3.6), ("c4", 2.6), ("c3", 2.3), ("c2", 1.4667)]
    said = {m.client_id: (m.item_id, m.reason.text) for m in found.members}
    assert said["c1"] == ("C", "C: Clients like this one bought it")  # A: not due
    assert said["c2"] == ("A", "A: Popular: bought by 2 clients")


def test_each_exclusion_on_the_hand_worked_example(hand: HybridRecommender) -> None:
    a = of(hand, "A")
    deleted = Exclusions(forgotten=frozenset({client_hash("c3")}))
    assert members(audience(hand, a, 10, deleted)) == [("c2", 1.4667), ("c4", 0.8)]
    declined = Exclusions(held_back={"c2": ("A",), "c4": ("B",)})
    assert members(audience(hand, a, 10, declined)) == [("c3", 2.3), ("c4", 0.8)]
    fresh = Exclusions(bought_since=lambda client: ("A",) if client == "c4" else ())
    assert members(audience(hand, a, 10, fresh)) == [("c3", 2.3), ("c2", 1.4667)]
    loyal = Exclusions(segment="loyal", segments={"c2": "loyal", "c3": "lost", "c4": "loyal"})
    assert members(audience(hand, a, 10, loyal)) == [("c2", 1.4667), ("c4", 0.8)]
    # in a set, a declined item leaves only its own part: c4 keeps A (.4 × 2)
    both = audience(hand, of(hand, "A", "C"), 10, Exclusions(held_back={"c4": ["C"]}))
    assert members(both) == [("c1", 3.6), ("c3", 2.3), ("c2", 1.4667), ("c4", 0.8)]
    assert both.members[-1].item_id == "A"
    gone = audience(hand, of(hand, "A", "C"), 10, Exclusions(held_back={"c1": ["C"]}))
    assert "c1" not in {m.client_id for m in gone.members}  # A not due, C declined


def test_not_due_follows_the_interval_and_the_day(hand: HybridRecommender) -> None:
    """On day 131 c1 is due for A again (own interval 10, last bought day 120)."""
    later = audience(hand, of(hand, "A"), 10, day=START + timedelta(days=131))
    assert members(later)[0] == ("c1", 5.6)  # 1.4 × 4
    without = Bundle(**{**hand.bundle.__dict__, "repeats": None})  # every past buyer out
    bare = HybridRecommender(without, None, None, hand.config, today=lambda: TODAY)
    assert [m.client_id for m in audience(bare, of(bare, "A"), 10).members] == ["c3", "c4"]


def test_repeat_reasons_say_the_rhythm(hand: HybridRecommender) -> None:
    index = hand.bundle.repeats
    assert index is not None
    c1, c2 = (hand.bundle.data.clients.lookup(c) for c in ("c1", "c2"))
    assert c1 is not None and c2 is not None
    text = repeat_reason(index, c1, 0, TODAY, 10.0).text
    assert text == "Bought it on 3 days, about every 10 days; last 5 days ago: due"
    late = repeat_reason(index, c1, 0, START + timedelta(days=150), 10.0).text
    assert late.endswith("last 30 days ago: overdue")
    once = repeat_reason(index, c2, 0, TODAY, 10.0).text
    assert once == "Bought it once, 2 months ago; its buyers buy it again about every 10 days"


def test_targets_and_unknown_ones(hand: HybridRecommender) -> None:
    assert target_columns(hand, Target("item", "C")).tolist() == [2]
    with pytest.raises(NotFoundError, match="item_id: unknown item 'Z'"):
        target_columns(hand, Target("item", "Z"))
    with pytest.raises(NotFoundError, match="category: no item the model knows has category"):
        target_columns(hand, Target("category", "mugs"))
    assert audience(hand, np.zeros(0, dtype=np.int64), 5).members == []


def test_the_hand_worked_evaluation(hand: HybridRecommender) -> None:
    """After the cut-off A is bought by c1, c2, c4 and a new client, C by c4. A: c1 is
    left out (not due), buyers c2, c4; C: buyers c4 (c2, c3 left out). Lists at k = 2:
    model A c3 c2 (1 hit), C c1 c4 (1); most active c1 c2 c3 c4 less those left out:
    A c2 c3 (1), C c1 c4 (1); past buyers A c2 (1), C none."""
    after = events({"c1": [("A", 130)], "c2": [("A", 131)], "c4": [("A", 140), ("C", 140)]})
    after = pd.concat([after, events({"c9": [("A", 133)]})])
    found = evaluate_audiences(hand, after, k=2, n_items=2, day=TODAY)
    got = {name: (row["precision@2"], row["recall@2"]) for name, row in found.rows.items()}
    assert got == {
        "model": (0.5, 0.75),
        "blend_only": (0.5, 0.75),
        "most_active": (0.5, 0.75),
        "past_buyers": (0.25, 0.25),
    }
    assert found.facts == {"items": 2, "buyers": 4, "left_out_share": 0.25, "k": 2, "depth": DEPTH}


# -- the sample bundle: the blend read by item against the served blend -------------------


@pytest.fixture(scope="module")
def deep(bundle: Bundle) -> HybridRecommender:
    """The served blend (no analyst rules: no pins) at the audience's candidate depth,
    read on :data:`DAY`."""
    config = BlendConfig(candidates=DEPTH)
    return HybridRecommender(bundle, bundle.rules, None, config, today=lambda: DAY)


#: A month after the sample's last day (some clients not due for an item, some due).
DAY = date(2011, 1, 8)


def popular_items(bundle: Bundle) -> list[str]:
    """The most bought item and one of middling popularity."""
    buyers = np.asarray((bundle.data.matrix > 0).sum(axis=0)).ravel()
    order = np.argsort(-buyers, kind="stable")
    return [str(bundle.data.items.ids[order[i]]) for i in (0, 60)]


def served_scores(recommender: HybridRecommender, item: str) -> np.ndarray:
    """Every client's blended score of ``item`` as the served blend ranks it: its list
    with every other item blocked (blocking comes after the per-client normalising)."""
    others = tuple(str(i) for i in recommender.bundle.data.items.ids if i != item)
    options = RequestOptions(exclude_purchased=False, exclude=others, day=DAY)
    rows = np.arange(len(recommender.bundle.data.clients))
    ranked = recommender.rank_clients(rows, 1, options)
    return np.where(ranked.items[:, 0] >= 0, np.nan_to_num(ranked.scores[:, 0]), 0.0)


@pytest.fixture(scope="module")
def served(deep: HybridRecommender) -> dict[str, np.ndarray]:
    """:func:`served_scores` of :func:`popular_items`, ranked once for both tests."""
    return {item: served_scores(deep, item) for item in popular_items(deep.bundle)}


def test_the_blend_read_by_item_is_the_served_blend(
    deep: HybridRecommender, served: dict[str, np.ndarray]
) -> None:
    for item in popular_items(deep.bundle):
        column = np.array([deep.bundle.data.items.lookup(item)])
        options = RequestOptions(exclude_purchased=False, day=DAY)
        read = blend_columns(deep, column, options).scores.toarray()[:, 0]
        np.testing.assert_allclose(read, served[item], rtol=1e-6, atol=1e-6)


def test_the_audience_is_the_brute_force_ranking_over_every_client(
    deep: HybridRecommender, served: dict[str, np.ndarray], sample_data: Any
) -> None:
    """The served scores × purchases, less the clients not due (counted from the raw
    events with pandas), ranked: the audience's top 50."""
    from recsys.data import load_events

    lines = load_events(sample_data, "online-retail").events
    lines = lines[lines["client_id"].notna()]
    pairs = lines.assign(day=lines["timestamp"].dt.normalize()).drop_duplicates(
        ["client_id", "item_id", "day"]
    )
    purchases = pairs.groupby(pairs["client_id"].astype(str)).size()
    ids = deep.bundle.data.clients.ids.astype(str)
    for item in popular_items(deep.bundle):
        score = served[item] * purchases.reindex(ids).to_numpy()
        score[np.isin(ids, list(not_due(pairs, item, pd.Timestamp(DAY))))] = 0
        order = np.lexsort((np.arange(ids.size), -score))[:50]
        column = np.array([deep.bundle.data.items.lookup(item)])
        found = audience(deep, column, 50)
        assert [m.client_id for m in found.members] == ids[order].tolist()
        np.testing.assert_allclose([m.score for m in found.members], score[order], rtol=1e-5)


def not_due(pairs: pd.DataFrame, item: str, today: pd.Timestamp) -> set[str]:
    """Clients who bought ``item`` within their interval (or the item's median)."""
    mine = pairs[pairs["item_id"].astype(str) == item]
    per = mine.groupby(mine["client_id"].astype(str))["day"].agg(["count", "min", "max"])
    spans = (per["max"] - per["min"]).dt.days / (per["count"] - 1).clip(lower=1)
    own = spans.clip(lower=1).where(per["count"] >= 2)
    every = own.fillna(own.median() if own.notna().any() else np.inf)
    return set(per.index[(today - per["max"]).dt.days < every])


def test_scoring_a_category_is_one_pass(deep: HybridRecommender) -> None:
    items = popular_items(deep.bundle)
    columns = np.array(sorted(deep.bundle.data.items.lookup(i) for i in items))
    scored = score_clients(deep, columns, DAY)
    assert scored.scores.shape == (len(deep.bundle.data.clients), 2)
    both = audience(deep, columns, 20)
    assert len(both.members) == 20 and both.items == [deep.id_list[c] for c in columns]
    assert all(m.item_id in items and m.reason.text for m in both.members)


def test_the_blend_read_by_item_ranks_each_client_with_its_country(
    bundle: Bundle, sample_data: Any
) -> None:
    """An analyst rule aimed at one country (the shipped example: Regency teacups → the
    saucer 22698, United Kingdom only) counts in the audience for the clients of that
    country only: each client's score is the served blend's for it with its profile."""
    from pathlib import Path

    from recsys.data import load_events
    from recsys.rules.cross_sell import load_cross_sell

    rules = load_cross_sell(Path(__file__).resolve().parents[1] / "examples" / "cross_sell.yaml")
    config = BlendConfig(candidates=DEPTH)
    deep = HybridRecommender(bundle, bundle.rules, rules, config, today=lambda: DAY)
    lines = load_events(sample_data, "online-retail").events
    cups = set(lines.loc[lines["item_id"].astype(str).isin(["22697", "22699"]), "client_id"])
    ids = bundle.data.clients.ids.astype(str)
    uk = np.isin(ids, [str(c) for c in cups])
    assert uk.sum() >= 5
    profiles = {c: (None, "United Kingdom") for c in ids[uk].tolist()}
    item, column = "22698", np.array([bundle.data.items.lookup("22698")])
    here = served_scores(deep, item)
    others = tuple(str(i) for i in bundle.data.items.ids if i != item)
    british = RequestOptions(
        exclude_purchased=False, exclude=others, day=DAY, country="United Kingdom"
    )
    ranked = deep.rank_clients(np.flatnonzero(uk), 1, british)
    there = np.where(ranked.items[:, 0] >= 0, np.nan_to_num(ranked.scores[:, 0]), 0.0)
    expected = here.copy()
    expected[uk] = there
    assert (np.abs(there - here[uk]) > 1e-6).any()  # the rule moves these clients' scores
    options = RequestOptions(exclude_purchased=False, day=DAY)
    read = blend_columns(deep, column, options, profiles=profiles).scores.toarray()[:, 0]
    np.testing.assert_allclose(read, expected, rtol=1e-6, atol=1e-6)
