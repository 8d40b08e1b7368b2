"""The single-request path serving uses gives the batched path's answer.

``HybridRecommender.rank_one`` (each source's ``one``: sorted item columns) is an
optimisation of ``BlendCore.rank`` (each source's ``batch``: sparse rows): on real data,
for known and unknown clients, baskets and filters, both must rank the same
items with the same scores and the same per-source shares. The helpers it
stands on are checked against scipy and a full stable sort.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys._sparse import dense_block, gather_rows, row_sums
from recsys.data import load_events
from recsys.models import top_k
from recsys.ranking import BlendConfig, HybridRecommender, RequestOptions
from recsys.ranking.blend import Blended
from recsys.rules.cross_sell import load_cross_sell
from training import jobs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def recommender(sample_data: Path) -> HybridRecommender:
    loaded = load_events(sample_data, "online-retail")
    models = jobs.choose_models(["popular", "als", "itemknn", "bpr"], {"bpr": {"iterations": 5}})
    rules = jobs.rules_config({"rules": {"min_support": 0.02}})
    bundle = jobs.train(loaded, models, jobs.matrix_config({}), rules)
    weights = {
        "als": 1.0,
        "itemknn": 0.5,
        "bpr": 0.3,
        "rules": 0.25,
        "analyst": 1.0,
        "popular": 0.2,
    }
    cross_sell = load_cross_sell(ROOT / "examples" / "cross_sell.yaml")
    return HybridRecommender(bundle, bundle.rules, cross_sell, BlendConfig(weights=weights))


def _batched(r: HybridRecommender, row: int, basket: np.ndarray, k: int, o: RequestOptions):  # type: ignore[no-untyped-def]
    n = r.n_items
    history = (
        r.bundle.data.matrix[[row]].astype(np.float32)
        if row >= 0
        else sp.csr_matrix((1, n), dtype=np.float32)
    )
    cart = sp.csr_matrix(
        (np.ones(basket.size, np.float32), (np.zeros(basket.size, int), basket)), shape=(1, n)
    )
    return r.rank(np.array([row]), history, cart, k, o).blended


OPTIONS = [
    RequestOptions(),
    RequestOptions(exclude_purchased=False),
    RequestOptions(segment="loyal", country="United Kingdom"),
    RequestOptions(max_per_category=None, exclude=("85123A", "nope")),
]


@pytest.mark.parametrize("options", OPTIONS, ids=["default", "keep-bought", "segment", "exclude"])
def test_single_request_ranks_as_the_batch(
    recommender: HybridRecommender, options: RequestOptions
) -> None:
    r = recommender
    rng = np.random.default_rng(7)
    clients = len(r.bundle.data.clients)
    r.set_segments({str(c): "loyal" for c in r.bundle.data.clients.ids[: clients // 2]})
    rows = [-1] * 10 + rng.choice(clients, 60, replace=False).tolist()
    for row in rows:
        basket = rng.choice(r.n_items, rng.integers(0, 4), replace=False)
        ids = tuple(r.id_list[b] for b in basket)
        query = r.query(None if row < 0 else row, ids, options=options)
        one = r.rank_one(query, 10).blended
        many = _batched(r, row, query.basket, 10, options)
        _same_ranking(one, many, row)


# Both paths normalise float32 model scores in float64, in another order: shares may
# differ in the last float32 digits, and items whose blended scores are that close
# may swap places; anything larger is a real difference.
_ATOL = 1e-6


def _same_ranking(one: Blended, many: Blended, row: int) -> None:
    np.testing.assert_allclose(one.scores, many.scores, rtol=1e-4, atol=_ATOL)
    assert one.parts.keys() == many.parts.keys()
    a, b = one.items[0].tolist(), many.items[0].tolist()
    score_a = dict(zip(a, one.scores[0].tolist(), strict=True))
    score_b = dict(zip(b, many.scores[0].tolist(), strict=True))
    for position, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:  # a swap only between near-equal scores (a tie may cross the cut)
            assert abs(score_a[x] - score_b.get(x, score_b[y])) <= _ATOL, (row, position)
    for name in one.parts:  # shares compared item by item, whatever the tie order
        by_item = dict(zip(b, many.parts[name][0].tolist(), strict=True))
        common = [p for p, item in enumerate(a) if item in by_item]
        expected = [by_item[a[p]] for p in common]
        np.testing.assert_allclose(one.parts[name][0][common], expected, rtol=1e-4, atol=_ATOL)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([-np.inf, 0.0, 1.0, 2.0, 2.5, 7.0]), min_size=1, max_size=40),
    st.integers(1, 50),
)
def test_top_k_of_one_row_is_a_full_stable_sort(values: list[float], k: int) -> None:
    row = np.array(values)
    items, _ = top_k(row[None, :], k)
    expected = np.argsort(-row, kind="stable")[:k]
    expected = np.where(np.isfinite(row[expected]), expected, -1)
    assert items[0][: len(expected)].tolist() == expected.tolist()
    assert (items[0][len(expected) :] == -1).all()


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 120),
    st.integers(1, 20),
    st.integers(0, 2**32 - 1),
)
def test_top_k_of_a_block_is_a_full_stable_sort(rows: int, columns: int, k: int, seed: int) -> None:
    """Batches take the partition path (k much smaller than a row): ties by index and
    ``-inf`` entries exactly as a full stable sort orders them."""
    rng = np.random.default_rng(seed)
    block = rng.choice([-np.inf, 0.0, 1.0, 2.0, 2.5, 7.0], size=(rows, columns))
    items, _ = top_k(block, k)
    for r in range(rows):
        expected = np.argsort(-block[r], kind="stable")[:k]
        expected = np.where(np.isfinite(block[r][expected]), expected, -1)
        assert items[r][: len(expected)].tolist() == expected.tolist()
        assert (items[r][len(expected) :] == -1).all()


def test_row_helpers_match_scipy() -> None:
    matrix = sp.random(60, 30, density=0.2, format="csr", random_state=3)
    columns = np.array([4, 0, 29, 17])
    for rows in (np.array([5, 9, 9, 0, 59]), np.array([12]), np.array([], dtype=int)):
        expected = np.asarray(matrix[rows].sum(axis=0)).ravel()
        np.testing.assert_allclose(row_sums(matrix, rows), expected)
        np.testing.assert_allclose(
            dense_block(matrix, rows, columns), matrix[rows][:, columns].toarray()
        )
        got_columns, _ = gather_rows(matrix, rows)
        assert sorted(got_columns.tolist()) == sorted(matrix[rows].indices.tolist())


@pytest.mark.parametrize("options", OPTIONS[:3], ids=["default", "keep-bought", "segment"])
def test_batched_lists_with_reasons_equal_single_requests(
    recommender: HybridRecommender, options: RequestOptions
) -> None:
    """What precompute writes (one batched ranking, then each row's reasons) is what a
    request for the client answers, reasons included."""
    r = recommender
    rows = np.random.default_rng(11).choice(len(r.bundle.data.clients), 80, replace=False)
    many = r.for_clients(rows, 10, options)
    for row, listed in zip(rows.tolist(), many, strict=True):
        one = r.for_client(r.bundle.data.clients.ids[row], 10, options=options)
        assert len(listed) == len(one)
        for a, b in zip(listed, one, strict=True):
            if a.item_id != b.item_id:  # only near-equal scores may swap (see _ATOL)
                assert abs(a.score - b.score) <= _ATOL, row
                continue
            assert a.score == pytest.approx(b.score, rel=1e-4, abs=_ATOL)
            assert [x.text for x in a.reasons] == [x.text for x in b.reasons]


def test_batched_lists_with_purchases_since_training_equal_single_requests(
    recommender: HybridRecommender,
) -> None:
    """Bought items offered again, with purchases since training drawn from the whole
    catalogue (each row 0-3 items, known pairs and new ones, with the real sample's
    units): a batch scores every row as its own request does."""
    weights = {**recommender.config.weights, "repeat": 3.0}
    bundle = recommender.bundle
    assert bundle.repeats is not None
    r = HybridRecommender(bundle, bundle.rules, None, BlendConfig(weights=weights))
    rng = np.random.default_rng(13)
    rows = rng.choice(len(r.bundle.data.clients), 80, replace=False)
    recent = [
        tuple(sorted(r.id_list[i] for i in rng.choice(r.n_items, rng.integers(0, 4), False)))
        for _ in rows
    ]
    options = RequestOptions(exclude_purchased=False)
    many = r.for_clients(rows, 10, options, recent)
    for row, listed, bought in zip(rows.tolist(), many, recent, strict=True):
        one = r.for_client(r.bundle.data.clients.ids[row], 10, options=options, recent=bought)
        assert len(listed) == len(one)
        for a, b in zip(listed, one, strict=True):
            if a.item_id != b.item_id:  # only near-equal scores may swap (see _ATOL)
                assert abs(a.score - b.score) <= _ATOL, row
                continue
            assert a.score == pytest.approx(b.score, rel=1e-4, abs=_ATOL)
            assert [x.text for x in a.reasons] == [x.text for x in b.reasons]
