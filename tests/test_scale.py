"""Large catalogues: approximate candidates, how exact they are, and what one request
allocates.

The faiss indexes replace the catalogue scans of the factor models above
``ann_min_items``. Read whole, an index is exact: the blended lists must then be
the exact path's. Read as configured, its top 100 must hold ≥ 95 % of the exact
top 100 (counted against a brute-force scan). And no request may allocate an
array as long as the catalogue: measured with tracemalloc on a 1M-item bundle.
"""

from __future__ import annotations

import copy
import tracemalloc
from dataclasses import replace

import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.catalogue import ItemFilter
from recsys.data import load_events
from recsys.matrix import InteractionMatrix, MatrixConfig, build_matrix
from recsys.models import ALSConfig, ALSScorer, EASEConfig, EASEScorer, PopularScorer
from recsys.models._ann import ItemIndex
from recsys.ranking import BlendConfig, HybridRecommender, RequestOptions
from recsys.rules.cross_sell import CrossSellRules
from recsys.rules.index import RuleIndex
from recsys.synth import SynthConfig, synthesize
from recsys.vocab import IdMap

WEIGHTS = {"als": 1.0, "rules": 0.1, "popular": 0.1}


def _read_whole(model: ALSScorer) -> ALSScorer:
    """The same fitted ALS with indexes whose every cluster is read: exact search."""
    indexed = copy.copy(model)
    factors = np.asarray(model.model.item_factors)
    # Items no client bought (sold only to guests) have zero factors: guarded as ALS does.
    unit = factors / np.maximum(np.linalg.norm(factors, axis=1, keepdims=True), 1e-12)
    indexed.ann = {
        "inner": ItemIndex.build(factors, probe=10**6, seed=0),
        "cosine": ItemIndex.build(unit, probe=10**6, seed=0),
    }
    return indexed


def test_index_read_whole_gives_the_exact_lists(bundle: Bundle) -> None:
    als = bundle.models["als"]
    assert isinstance(als, ALSScorer) and als.ann is None  # 3,5xx items: exact
    config = BlendConfig(weights=WEIGHTS)
    exact = HybridRecommender(bundle, bundle.rules, None, config)
    indexed = replace(bundle, models={**bundle.models, "als": _read_whole(als)})
    approximate = HybridRecommender(indexed, bundle.rules, None, config)
    rng = np.random.default_rng(3)
    clients = rng.choice(bundle.data.clients.ids, 100, replace=False).tolist()
    for who in [*clients, "someone-new"]:
        basket = tuple(rng.choice(bundle.data.items.ids, 2).tolist())
        _same(exact.for_client(who, 10, basket), approximate.for_client(who, 10, basket))
    for item in rng.choice(bundle.data.items.ids, 60, replace=False).tolist():
        _same(exact.for_item(item, 10), approximate.for_item(item, 10))


def _same(a: list, b: list) -> None:  # type: ignore[type-arg]
    """Same items, scores and reasons; only near-equal scores may swap places."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.score == pytest.approx(y.score, abs=1e-5)
        if x.item_id == y.item_id:
            assert [r.text for r in x.reasons] == [r.text for r in y.reasons]


@pytest.fixture(scope="module")
def synthetic_als(tmp_path_factory: pytest.TempPathFactory) -> tuple[ALSScorer, sp.csr_matrix]:
    """ALS on a synthetic catalogue above the index threshold, saved and loaded back."""
    path = tmp_path_factory.mktemp("synth") / "events.parquet"
    config = SynthConfig(clients=20_000, items=60_000, events=400_000, item_exponent=0.6, seed=5)
    pq.write_table(synthesize(config), path)
    data = build_matrix(load_events(path).events, MatrixConfig())
    assert len(data.items) >= ALSConfig().ann_min_items
    model = ALSScorer(ALSConfig(factors=32, iterations=3)).fit(data.matrix)
    model.save(path.parent / "als")
    return ALSScorer.load(path.parent / "als"), data.matrix


def _recall(found: np.ndarray, exact_scores: np.ndarray, k: int) -> float:
    """Share of the exact top ``k`` the found items reach: an item counts if its exact
    score is at least the k-th best (ties at the cut count either way)."""
    kth = np.sort(exact_scores[np.isfinite(exact_scores)])[::-1][k - 1]
    return float(np.sum(exact_scores[found] >= kth - 1e-6 * abs(kth))) / k


def test_index_recall_at_100_on_a_synthetic_catalogue(
    synthetic_als: tuple[ALSScorer, sp.csr_matrix],
) -> None:
    model, matrix = synthetic_als
    assert model.ann is not None
    factors = np.asarray(model.model.item_factors, dtype=np.float64)
    rng = np.random.default_rng(0)
    recalls = []
    for row in rng.choice(matrix.shape[0], 200, replace=False):
        bought = np.unique(matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]])
        scores = factors @ model.fold_in(bought)  # brute force over every item
        scores[bought] = -np.inf
        got = model.basket_candidates(bought, 100, bought)
        assert got is not None and not set(got[0].tolist()) & set(bought.tolist())
        recalls.append(_recall(got[0], scores, 100))
    # Items no client bought (sold only to guests) have zero factors: guarded as ALS does.
    unit = factors / np.maximum(np.linalg.norm(factors, axis=1, keepdims=True), 1e-12)
    similar = []
    for item in rng.choice(matrix.shape[1], 200, replace=False):
        cosine = unit @ unit[item]
        cosine[item] = -np.inf
        similar.append(_recall(model.similar_candidates(int(item), 100)[0], cosine, 100))
    assert np.mean(recalls) >= 0.95, np.mean(recalls)
    assert np.mean(similar) >= 0.95, np.mean(similar)
    # The batched path (evaluation, precompute) searches the same index, many rows at once.
    rows = rng.choice(matrix.shape[0], 100, replace=False)
    history = (matrix[rows] > 0).astype(np.float32)
    batched = model.recommend(rows, history, k=100, fold_in=True).items
    in_batch = []
    for i in range(len(rows)):
        bought = history[i].indices
        scores = factors @ model.fold_in(np.sort(bought))
        scores[bought] = -np.inf
        assert not set(batched[i].tolist()) & set(bought.tolist())
        in_batch.append(_recall(batched[i][batched[i] >= 0], scores, 100))
    assert np.mean(in_batch) >= 0.95, np.mean(in_batch)


def _million_item_recommender() -> HybridRecommender:
    """A bundle of 1M items (each bought at least once) and 5,000 clients, built
    directly: EASE on the most-bought items, ALS with its indexes, rules, analyst
    rules. Fitting is not what is measured, so ALS runs one sweep of 8 factors."""
    n_items, n_clients = 1_000_000, 5_000
    rng = np.random.default_rng(1)
    rows = np.r_[rng.integers(0, n_clients, n_items), np.repeat(np.arange(n_clients), 20)]
    cols = np.r_[np.arange(n_items), rng.integers(0, 3_000, n_clients * 20)]
    matrix = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), (n_clients, n_items))
    matrix.data[:] = 1.0
    models = {
        "popular": PopularScorer().fit(matrix),
        "ease": EASEScorer(EASEConfig(max_items=1_000)).fit(matrix),
        "als": ALSScorer(ALSConfig(factors=8, iterations=1)).fit(matrix),
    }
    ids = np.char.add("i", np.arange(n_items).astype(str))
    data = InteractionMatrix(
        matrix, IdMap(np.char.add("c", np.arange(n_clients).astype(str))), IdMap(ids)
    )
    categories = np.char.add("cat", (np.arange(n_items) % 50).astype(str))
    antecedents = sp.csr_matrix(
        (np.ones(2_000, np.float32), (np.arange(2_000), rng.integers(0, 3_000, 2_000))),
        shape=(2_000, n_items),
    )
    metrics = {m: rng.random(2_000) for m in ("support", "confidence", "lift", "leverage")}
    rules = RuleIndex(antecedents, rng.integers(0, n_items, 2_000), metrics)
    bundle = Bundle(
        data, models, MatrixConfig(), "big", np.full(n_items, "", str), categories, rules
    )
    offer = {"id": "a", "if_bought": {"items": ["i1", "i2"]}, "reason": "x"}
    cross_sell = CrossSellRules.model_validate(
        {
            "version": "1",
            "rules": [
                {**offer, "offer": ["i7", "i999999"]},
                {**offer, "id": "b", "offer": ["i8"], "pinned": True},
            ],
        }
    )
    weights = {"ease": 1.0, "als": 0.5, "rules": 0.1, "analyst": 1.0, "popular": 0.1}
    return HybridRecommender(bundle, rules, cross_sell, BlendConfig(weights=weights))


def test_no_request_allocates_a_catalogue_long_array() -> None:
    """Every request kind on a 1M-item bundle allocates < 1 MB at its peak: one
    catalogue-long vector (8 MB of floats, 1 MB of booleans) would exceed it."""
    r = _million_item_recommender()
    assert r.bundle.models["als"].ann is not None  # type: ignore[attr-defined]
    heavy = RequestOptions(
        exclude_purchased=False, only=ItemFilter(categories=("cat3",)), exclude=("i5", "nope")
    )
    requests = {
        "known client": lambda: r.for_client("c17", 10),
        "unknown client": lambda: r.for_client("stranger", 10),
        "basket": lambda: r.for_basket(("i1", "i2", "i500000"), "c3", 10),
        "options": lambda: r.for_client("c42", 20, options=heavy),
        "related, popular item": lambda: r.for_item("i10", 10),
        "related, tail item": lambda: r.for_item("i876543", 10),
    }
    for name, call in requests.items():
        assert call(), name  # a list, and every lazily built cache is built
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            call()
            peak = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
        assert peak < 1_000_000, f"{name}: {peak:,} bytes"
