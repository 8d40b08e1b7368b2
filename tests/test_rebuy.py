"""The re-purchase probability (issue 24): item terms and probabilities by hand, the fit,
what the fit may read, and the repeat source with it (reasons, recent purchases, cold
clients, batch = one)."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from recsys.bundle import Bundle
from recsys.matrix import MatrixConfig, build_matrix
from recsys.ranking import BlendConfig, HybridRecommender, RequestOptions
from recsys.ranking.explain import ago
from recsys.ranking.rebuy import ItemTerms, Rebuy, _newton, fit_on_events, probability
from recsys.repeat import RepeatIndex

DAY0 = date(2026, 1, 1)
EPOCH0 = (DAY0 - date(1970, 1, 1)).days
# a: mug on days 0, 50, 90 (6 units each) and tea on 95; b: mug on 60, jam on 10 and
# 20; c: tea on 100. One unit a line unless said.
BOUGHT = [
    ("a", "mug", 0, 6.0),
    ("a", "mug", 50, 6.0),
    ("a", "mug", 90, 6.0),
    ("a", "tea", 95),
    ("b", "mug", 60),
    ("b", "jam", 10),
    ("b", "jam", 20),
    ("c", "tea", 100),
]
#: A model whose coefficients are easy to work by hand.
HAND = Rebuy(
    days=1.0, age=-1.0, quantity=0.5, buyers=0.5, rate=2.0, recent=1.0, season=0.0, intercept=-1.0
)


def _events(rows: list[tuple]) -> pd.DataFrame:  # type: ignore[type-arg]
    """(client, item, day[, quantity: 1 when left out]) rows."""
    stamps = [pd.Timestamp(DAY0 + timedelta(days=r[2])) for r in rows]
    return pd.DataFrame(
        {
            "client_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "timestamp": stamps,
            "quantity": [r[3] if len(r) > 3 else 1.0 for r in rows],
        }
    )


@pytest.fixture(scope="module")
def recommender() -> HybridRecommender:
    events = _events(BOUGHT)
    data = build_matrix(events, MatrixConfig(weighting="binary"))
    repeats = RepeatIndex.fit(events, data.clients, data.items)
    titles = np.array([str(i).upper() for i in data.items.ids])
    bundle = Bundle(data, {}, MatrixConfig(), "test", titles, repeats=repeats)
    config = BlendConfig(weights={"repeat": 1.0, "popular": 0.1}, rebuy=HAND)
    return HybridRecommender(bundle, config=config, today=lambda: DAY0 + timedelta(days=100))


def test_item_terms_by_hand(recommender: HybridRecommender) -> None:
    """Windows 14 and 56 days before day 100 (the last day): last purchases after day
    86 count as recent, after day 44 as in the season. The rate counts the buyers who
    bought anything after their first purchase of the item (last days: a 95, b 60,
    c 100): a's mug (first 0) and b's jam (first 10) only."""
    index = recommender.bundle.repeats
    assert index is not None and index.as_of == EPOCH0 + 100
    terms = ItemTerms.of(index, HAND)
    jam, mug, tea = (recommender.bundle.data.items.lookup(i) for i in ("jam", "mug", "tea"))
    expected = {
        mug: [math.log(2), (1 + 1) / (1 + 2), math.log1p(1), math.log1p(2)],  # a re-bought it
        tea: [math.log(2), (0 + 1) / (0 + 2), math.log1p(2), math.log1p(2)],
        jam: [math.log(1), (1 + 1) / (1 + 2), math.log1p(0), math.log1p(0)],  # last day 20
    }
    for item, row in expected.items():
        assert terms.features[item] == pytest.approx(row)
    # Usual units a day: mug exp((log 7 + log 2) / 2) − 1 (a 6, b 1), the others 1.
    assert terms.units[[mug, tea, jam]] == pytest.approx([math.sqrt(14) - 1, 1, 1])
    # a's mug on day 100: 3 days, last 10 days ago, 6 units a day.
    logit = math.log(3) - math.log1p(10) + 0.5 * math.log(7)
    logit += 0.5 * math.log(2) + 2 * 2 / 3 + math.log1p(1) - 1
    pairs = (np.array([3.0]), np.array([90.0]), np.array([6.0]))
    found = probability(HAND, terms, np.array([mug]), pairs, 100.0)
    assert found[0] == pytest.approx(1 / (1 + math.exp(-logit)), rel=1e-5)


def test_mixed_list_reasons_and_recent_purchases(recommender: HybridRecommender) -> None:
    """Logits on day 100 by hand (item terms: mug 0.5 log 2 + 4/3 + log 2 − 1 = 1.37,
    tea 0.5 log 2 + 1 + log 3 − 1 = 1.45, jam 4/3 − 1 = 1/3): the mug (3 days, 10 days
    ago, 6 units a day) log 3 − log 11 + 0.5 log 7 + 1.37 = 1.05; a jam bought since
    training (1 day, today, the usual 1 unit) 0.5 log 2 + 1/3 = 0.68; the tea (1 day,
    5 days ago, 1 unit) −log 6 + 0.5 log 2 + 1.45 = 0.00. At one unit a day the mug
    would come after the jam (0.42). Reasons say on how many days and when; the mug
    bought again since training: one more day, the last one today."""
    options = RequestOptions(exclude_purchased=False)
    got = recommender.for_client("a", k=3, options=options, recent=("jam",))
    reasons = {g.item_id: next(r for r in g.reasons if r.source == "repeat") for g in got}
    assert [g.item_id for g in got] == ["mug", "jam", "tea"]
    assert reasons["mug"].text == "You bought MUG on 3 days, last 10 days ago"
    assert reasons["mug"].evidence == {"days_bought": 3, "last_days_ago": 10}
    assert reasons["tea"].text == "You bought TEA 5 days ago"
    assert reasons["jam"].text == "You bought JAM recently"
    again = recommender.for_client("a", k=3, options=options, recent=("mug",))
    mug = next(r for g in again if g.item_id == "mug" for r in g.reasons if r.source == "repeat")
    assert mug.text == "You bought MUG on 4 days, the last one recently"  # 3 days + today
    assert mug.evidence == {"days_bought": 4, "last_days_ago": 0}
    usual = recommender.for_client("a", k=3)  # bought items excluded: no repeat source
    assert not any(r.source == "repeat" for g in usual for r in g.reasons)


def test_unknown_and_cold_clients(recommender: HybridRecommender) -> None:
    """A client the index never saw gets its purchases since training back; with none
    (cold), popularity alone."""
    options = RequestOptions(exclude_purchased=False)
    fresh = recommender.for_client("stranger", k=3, options=options, recent=("jam",))
    assert fresh[0].item_id == "jam" and fresh[0].reasons[0].text == "You bought JAM recently"
    cold = recommender.for_client(None, k=3, options=options)
    assert cold and all(r.source == "popular" for g in cold for r in g.reasons)


def test_batch_equals_one_with_recent_purchases(recommender: HybridRecommender) -> None:
    options = RequestOptions(exclude_purchased=False, day=DAY0 + timedelta(days=120))
    rows = np.arange(3)
    recent = [("jam",), (), ("mug", "tea")]
    batch = recommender.for_clients(rows, 3, options, recent)
    ids = recommender.bundle.data.clients.ids
    for row in rows:
        one = recommender.for_client(str(ids[row]), 3, options=options, recent=recent[row])
        got = [(i.item_id, i.score, i.reasons) for i in batch[row]]
        assert [(i.item_id, i.score, i.reasons) for i in one] == got


def test_a_new_pair_buys_the_item_s_usual_units(recommender: HybridRecommender) -> None:
    """c (tea on day 100) buys a mug since training: 1 day, today, the mug's usual
    √14 − 1 = 2.74 units a day: logit 0.5 log 3.74 + 1.37 = 2.03, above its tea's
    0.5 log 2 + 1.45 = 1.79; at one unit a day the mug would score 1.72, below it."""
    options = RequestOptions(exclude_purchased=False)
    got = recommender.for_client("c", k=2, options=options, recent=("mug",))
    assert [g.item_id for g in got] == ["mug", "tea"]
    c = recommender.bundle.data.clients.lookup("c")
    rows = recommender.for_clients(np.array([c]), 2, options, [("mug",)])
    assert [(i.item_id, i.score) for i in rows[0]] == [(i.item_id, i.score) for i in got]


def test_newton_recovers_a_known_model() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=(20_000, 3)), np.ones(20_000)])
    beta = np.array([1.0, -0.5, 0.25, -1.0])
    y = (rng.random(20_000) < 1 / (1 + np.exp(-(x @ beta)))).astype(float)
    np.testing.assert_allclose(_newton(x, y, l2=1.0), beta, atol=0.06)


def _rebuying(seed: int) -> list[tuple[str, str, int]]:
    """60 clients, each with 4 items bought on 1, 2 or 3 days before day 80, each bought
    again in days 80..119 with a chance of 0.1, 0.5 or 0.9 by those days."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(60):
        for i in rng.choice(8, 4, replace=False):
            n = int(rng.integers(1, 4))
            rows += [(f"c{c}", f"i{i}", int(d)) for d in rng.choice(80, n, replace=False)]
            if rng.random() < (0.1, 0.5, 0.9)[n - 1]:
                rows.append((f"c{c}", f"i{i}", int(rng.integers(80, 120))))
    return rows


def test_the_fit_reads_nothing_from_the_end_of_its_period_on() -> None:
    """Rows on or after the period's end (the test period) change nothing; a purchase
    inside the period is a label and changes the fit."""
    rows = _rebuying(1)
    events = _events(rows)
    data = build_matrix(events, MatrixConfig(weighting="binary"))
    period = (str(DAY0 + timedelta(days=80)), str(DAY0 + timedelta(days=120)))
    fitted = fit_on_events(events, data.clients, data.items, period)
    assert fitted.days > 0.5  # the more days, the likelier again
    later = [(c, i, d + 120) for c, i, d in rows if d < 80]  # all again from the end on
    assert fit_on_events(_events([*rows, *later]), data.clients, data.items, period) == fitted
    inside = [(c, i, 100) for c, i, d in rows if d < 80]  # all bought again inside
    assert fit_on_events(_events([*rows, *inside]), data.clients, data.items, period) != fitted


def test_ago_by_hand() -> None:
    days = [0, 1, 9, 13, 14, 21, 60, 61, 400, 730]
    assert [ago(d) for d in days] == [
        "today",
        "yesterday",
        "9 days ago",
        "13 days ago",
        "2 weeks ago",
        "3 weeks ago",
        "9 weeks ago",
        "2 months ago",
        "13 months ago",
        "2 years ago",
    ]


def test_the_fit_learns_that_bulk_buys_come_back() -> None:
    """Pairs bought by the box (10 units a day) come back in days 80..119 with a chance
    of 0.8, others (1 unit) with 0.2, whatever else they share: the fitted quantity
    coefficient is positive, and zero-ish where units say nothing."""
    rng = np.random.default_rng(3)
    rows, flat = [], []
    for c in range(80):
        for i in rng.choice(8, 4, replace=False):
            day, bulk = int(rng.integers(0, 80)), bool(rng.random() < 0.5)
            rows.append((f"c{c}", f"i{i}", day, 10.0 if bulk else 1.0))
            flat.append((f"c{c}", f"i{i}", day, 10.0 if rng.random() < 0.5 else 1.0))
            if rng.random() < (0.8 if bulk else 0.2):
                again = (f"c{c}", f"i{i}", int(rng.integers(80, 120)))
                rows.append(again)
                flat.append(again)
    period = (str(DAY0 + timedelta(days=80)), str(DAY0 + timedelta(days=120)))
    fitted = [
        fit_on_events(e, d.clients, d.items, period).quantity
        for e in (_events(rows), _events(flat))
        for d in [build_matrix(e, MatrixConfig(weighting="binary"))]
    ]
    assert fitted[0] > 0.5 and abs(fitted[1]) < 0.3


def test_a_pair_of_no_units_keeps_its_place_in_a_batch() -> None:
    """A pair whose lines are all returns holds 0 units; beside an unknown client in a
    batch, and merged with purchases since training (a new pair, the 0-unit one again),
    every client's pairs still line up with their units (batch = one)."""
    rows = [*BOUGHT, ("b", "tea", 30, -2.0), ("c", "cup", 100, 4.0)]
    events = _events(rows)
    data = build_matrix(events, MatrixConfig(weighting="binary"))
    repeats = RepeatIndex.fit(events, data.clients, data.items)
    assert 0.0 in repeats.units.data.tolist()
    titles = np.array([str(i).upper() for i in data.items.ids])
    bundle = Bundle(data, {}, MatrixConfig(), "test", titles, repeats=repeats)
    config = BlendConfig(weights={"repeat": 1.0}, rebuy=HAND)
    model = HybridRecommender(bundle, config=config, today=lambda: DAY0 + timedelta(days=100))
    options = RequestOptions(exclude_purchased=False)
    b = data.clients.lookup("b")
    for recent in [(), ("cup", "tea")]:
        batch = model.for_clients(np.array([-1, b]), 4, options, [("jam",), recent])
        one = model.for_client("b", 4, options=options, recent=recent)
        assert [(i.item_id, i.score) for i in batch[1]] == [(i.item_id, i.score) for i in one]
        assert {i.item_id for i in one} == {"mug", "jam", "tea", *recent}
        stranger = model.for_client("stranger", 4, options=options, recent=("jam",))
        assert [(i.item_id, i.score) for i in batch[0]] == [(i.item_id, i.score) for i in stranger]


def test_batch_equals_one_in_every_row_whoever_else_bought_since() -> None:
    """60 clients, 4 items each with 1-12 units a line: one batch in which every other
    row has purchases since training (new pairs and known ones) scores each row as
    its own request does, to the last bit; so does a batch of unknown clients only."""
    rng = np.random.default_rng(5)
    rows = [(c, i, d, float(rng.integers(1, 13))) for c, i, d in _rebuying(2)]
    events = _events(rows)
    data = build_matrix(events, MatrixConfig(weighting="binary"))
    repeats = RepeatIndex.fit(events, data.clients, data.items)
    titles = np.array([str(i).upper() for i in data.items.ids])
    bundle = Bundle(data, {}, MatrixConfig(), "test", titles, repeats=repeats)
    model = HybridRecommender(bundle, config=BlendConfig(weights={"repeat": 1.0}))
    options = RequestOptions(exclude_purchased=False, day=DAY0 + timedelta(days=130))
    items = [str(i) for i in data.items.ids]
    recent = [tuple(rng.choice(items, 2, replace=False)) if r % 2 else () for r in range(60)]
    ids = [str(c) for c in data.clients.ids]
    batch = model.for_clients(np.arange(len(ids)), 8, options, recent)
    for row, client in enumerate(ids):
        one = model.for_client(client, 8, options=options, recent=recent[row])
        assert [(i.item_id, i.score) for i in batch[row]] == [(i.item_id, i.score) for i in one]
    strangers = model.for_clients(np.array([-1, -1]), 8, options, [(items[0],), ()])
    alone = model.for_client("stranger", 8, options=options, recent=(items[0],))
    assert [(i.item_id, i.score) for i in strangers[0]] == [(i.item_id, i.score) for i in alone]
