"""Blending: order, normalisation, filters, reasons and cold start, worked by hand."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.catalogue import ItemFilter
from recsys.errors import NotFoundError
from recsys.matrix import InteractionMatrix, MatrixConfig
from recsys.models import ItemKNNConfig, ItemKNNScorer
from recsys.ranking import MAX_K, BlendConfig, HybridRecommender, RequestOptions, blend, normalise
from recsys.ranking.blend import Blocking
from recsys.rules import RuleIndex, RulesConfig, build_baskets, mine_rules
from recsys.rules.cross_sell import CrossSellRules
from recsys.vocab import IdMap
from tests.model_contract import MATRIX
from tests.test_rules import BASKETS, events_of


def test_normalise_by_hand() -> None:
    scores = np.array([[4.0, 2.0, 0.0], [5.0, 9.0, 9.0]])
    valid = np.array([[True, True, True], [True, False, False]])
    np.testing.assert_allclose(normalise(scores, valid), [[1.0, 0.5, 0.0], [1.0, 0.0, 0.0]])


def test_blend_order_parts_blocked_and_pinned() -> None:
    a = (np.array([[0, 1, 2]]), np.array([[10.0, 5.0, 0.0]]))  # normalised 1, .5, 0
    b = (np.array([[2, 3, -1]]), np.array([[3.0, 1.0, np.nan]]))  # normalised 1, 0
    out = blend({"a": a, "b": b}, {"a": 1.0, "b": 2.0}, n_items=6, k=6)
    # totals: item2 = 0 + 2·1 = 2; item0 = 1; item1 = .5; item3 = 0 (+ε); 4, 5 never proposed.
    assert out.items[0].tolist() == [2, 0, 1, 3, -1, -1]
    np.testing.assert_allclose(out.parts["b"][0, 0], 2.0, atol=1e-6)
    blocked = Blocking(np.array([2]))  # keys: row × n_items + item
    pinned = np.array([3])
    out = blend({"a": a, "b": b}, {"a": 1.0, "b": 2.0}, 6, 3, blocked, pinned)
    assert out.items[0].tolist() == [3, 0, 1]


ITEMS = ["bread", "butter", "milk", "jam", "beer", "crisps", "cheese", "wine", "eggs", "tea"]
TITLES = np.array([i.upper() for i in ITEMS])
CATEGORIES = np.array(
    ["bakery", "dairy", "dairy", "pantry", "drinks", "snacks", "dairy", "drinks", "dairy", "drinks"]
)
CROSS_SELL = CrossSellRules.model_validate(
    {
        "version": "1",
        "rules": [
            {
                "id": "beer-crisps",
                "if_bought": {"items": ["beer"]},
                "offer": ["crisps"],
                "reason": "Beer goes with crisps",
                "priority": 5,
            },
            {
                "id": "xmas",
                "if_bought": {"items": ["wine"]},
                "offer": ["cheese"],
                "reason": "Christmas cheese board",
                "pinned": True,
                "valid_to": "2024-12-31",
            },
        ],
    }
)


@pytest.fixture(scope="module")
def recommender() -> HybridRecommender:
    items = IdMap(ITEMS)
    data = InteractionMatrix(MATRIX, IdMap([f"c{i}" for i in range(8)]), items)
    knn = ItemKNNScorer(ItemKNNConfig(similarity="cosine", neighbours=20)).fit(MATRIX)
    baskets = build_baskets(events_of(BASKETS), items)
    rules = RuleIndex.from_rules(
        mine_rules(baskets, RulesConfig(min_support=0.2, min_confidence=0.5)), 10
    )
    bundle = Bundle(data, {"itemknn": knn}, MatrixConfig(), "test", TITLES, CATEGORIES, rules)
    return HybridRecommender(bundle, rules, CROSS_SELL)


def test_unknown_client_with_nothing_gets_popular(recommender: HybridRecommender) -> None:
    got = recommender.for_client("stranger", k=3)
    buyers = (MATRIX.toarray() > 0).sum(axis=0)
    expected = sorted(range(10), key=lambda i: (-buyers[i], i))[:3]
    assert [g.item_id for g in got] == [ITEMS[i] for i in expected]
    for item in got:
        assert [r.source for r in item.reasons] == ["popular"]
        assert (
            item.reasons[0].text
            == f"Popular: bought by {buyers[ITEMS.index(item.item_id)]:,} clients"
        )


def test_already_bought_switch(recommender: HybridRecommender) -> None:
    bought = {ITEMS[i] for i in MATRIX[0].indices}  # c0: bread, butter, eggs
    got = {g.item_id for g in recommender.for_client("c0", k=10)}
    assert not got & bought
    options = RequestOptions(exclude_purchased=False)
    assert bought & {g.item_id for g in recommender.for_client("c0", k=10, options=options)}


def test_filters(recommender: HybridRecommender) -> None:
    base = [g.item_id for g in recommender.for_client("c0", k=10)]
    options = RequestOptions(exclude=(base[0],), out_of_stock=(base[1],))
    assert not {base[0], base[1]} & {
        g.item_id for g in recommender.for_client("c0", 10, options=options)
    }
    dairy = recommender.for_client(
        "c0", 10, options=RequestOptions(only=ItemFilter(categories=("dairy",)))
    )
    assert dairy and all(CATEGORIES[ITEMS.index(g.item_id)] == "dairy" for g in dairy)
    diverse = recommender.for_client("stranger", 10, options=RequestOptions(max_per_category=1))
    categories = [CATEGORIES[ITEMS.index(g.item_id)] for g in diverse]
    assert len(categories) == len(set(categories))


def test_basket_fires_rules_with_exact_evidence(recommender: HybridRecommender) -> None:
    got = recommender.for_basket(("butter",), k=5)
    assert "butter" not in [g.item_id for g in got]
    bread = next(g for g in got if g.item_id == "bread")
    rule = next(r for r in bread.reasons if r.source == "rules")
    # butter in 4 of 8 baskets, with bread in 3: confidence 75%, lift 0.75 / (5/8) = 1.2.
    assert rule.text == "Clients who buy BUTTER buy BREAD: confidence 75%, lift 1.2"
    assert rule.evidence["rule"] == "butter→bread"
    assert rule.evidence["confidence"] == pytest.approx(0.75)


def test_analyst_rules_and_pinning(recommender: HybridRecommender) -> None:
    got = recommender.for_basket(("beer",), k=5, options=RequestOptions(day=date(2024, 6, 1)))
    crisps = next(g for g in got if g.item_id == "crisps")
    analyst = next(r for r in crisps.reasons if r.source == "analyst")
    assert analyst.text == "Marketing rule: Beer goes with crisps"
    assert analyst.evidence == {"rule_id": "beer-crisps", "priority": 5, "version": "1"}
    pinned = recommender.for_basket(("wine",), k=3, options=RequestOptions(day=date(2024, 6, 1)))
    assert pinned[0].item_id == "cheese" and pinned[0].reasons[0].source == "analyst"
    expired = recommender.for_basket(("wine",), k=3, options=RequestOptions(day=date(2025, 6, 1)))
    assert all(r.source != "analyst" for g in expired for r in g.reasons)


def test_related_items_and_unknown_item(recommender: HybridRecommender) -> None:
    got = recommender.for_item("butter", k=4)
    assert got and "butter" not in [g.item_id for g in got]
    assert any(r.source == "rules" for g in got for r in g.reasons)
    with pytest.raises(NotFoundError, match="item_id"):
        recommender.for_item("caviar")


def test_k_is_capped() -> None:
    """A catalogue wider than ``MAX_K`` whose every item is a candidate, so only the cap
    can stop a list at ``MAX_K`` (on the 10-item fixture any k gives at most 10)."""
    n = MAX_K + 50
    # c0 buys everything, c1 the first 60 items, c2 the first 10: buyers 3, 2, 1 by
    # block, so popularity ranks the items in index order (ties by index).
    rows = [0] * n + [1] * 60 + [2] * 10
    cols = [*range(n), *range(60), *range(10)]
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(3, n))
    ids = [f"i{j:03d}" for j in range(n)]
    data = InteractionMatrix(matrix, IdMap(["c0", "c1", "c2"]), IdMap(ids))
    bundle = Bundle(data, {}, MatrixConfig(), "wide", np.array([i.upper() for i in ids]))
    wide = HybridRecommender(
        bundle, None, None, BlendConfig(weights={"popular": 1.0}, candidates=n)
    )
    assert [g.item_id for g in wide.for_client("stranger", k=10_000)] == ids[:MAX_K]
    assert len(wide.for_client("stranger", k=MAX_K + 1)) == MAX_K
    assert len(wide.for_client("stranger", k=MAX_K - 1)) == MAX_K - 1  # below it: k
    out = blend({"p": (np.arange(n)[None, :], np.arange(n, 0, -1.0)[None, :])}, {"p": 1}, n, n)
    assert out.items.shape == (1, MAX_K) and out.items[0].tolist() == list(range(MAX_K))


def test_weights_switch_sources_off(recommender: HybridRecommender) -> None:
    only_popular = HybridRecommender(
        recommender.bundle, recommender.rules, None, BlendConfig(weights={"popular": 1.0})
    )
    got = only_popular.for_client("c0", k=3)
    assert all([r.source for r in g.reasons] == ["popular"] for g in got)


def test_popularity_within_the_segment(recommender: HybridRecommender) -> None:
    recommender.set_segments({f"c{i}": ("a" if i < 4 else "b") for i in range(8)})
    try:
        # Within b (c4..c7): eggs 4 buyers, then items 4..7 two each (ties by index).
        got = recommender.for_client("stranger", 3, options=RequestOptions(segment="b"))
        assert [g.item_id for g in got] == ["eggs", "beer", "crisps"]
        assert got[1].reasons[0].text == "Popular with b clients: bought by 2 of them"
        plain = recommender.for_client("stranger", 3)
        assert [g.item_id for g in plain] == ["eggs", "bread", "butter"]
    finally:
        recommender.popular.segment_buyers = {}


def test_blend_when_every_candidate_is_blocked() -> None:
    """A category filter no candidate passes: an empty list, not an IndexError (found
    by the fast-path fuzzing on the real catalogue, where no item had the category)."""
    a = (np.array([[0, 1]]), np.array([[2.0, 1.0]]))
    out = blend({"a": a}, {"a": 1.0}, 4, 3, Blocking(np.array([0, 1])))
    assert out.items[0].tolist() == [-1, -1, -1] and out.parts["a"][0].tolist() == [0, 0, 0]
