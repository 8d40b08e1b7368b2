"""The contract every model's tests inherit: fit, unknown client, empty history,
the already-bought switch, similar items, save/load round trip."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pytest import approx

from recsys.errors import ModelError
from recsys.models import Scorer

# Two taste groups: clients 0-3 buy items 0-3, clients 4-7 buy items 4-7;
# item 8 is bought by everyone (the most popular), item 9 by nobody.
_ROWS, _COLS = [], []
for client in range(8):
    base = 0 if client < 4 else 4
    for item in (base + (client % 4), base + ((client + 1) % 4), 8):
        _ROWS.append(client)
        _COLS.append(item)
MATRIX = sp.csr_matrix((np.ones(len(_ROWS), np.float32), (_ROWS, _COLS)), shape=(8, 10))
GROUPS = np.array([0, 0, 0, 0, 1, 1, 1, 1])
EMPTY = sp.csr_matrix((1, 10), dtype=np.float32)


def popularity_order() -> list[int]:
    """Items by buyers, most first (ties by index): computed from the matrix directly."""
    buyers = (MATRIX.toarray() > 0).sum(axis=0)
    return sorted(range(10), key=lambda i: (-buyers[i], i))


class ScorerContract:
    """Subclass with ``make`` returning a fresh unfitted model."""

    personalises: ClassVar[bool] = True

    def make(self) -> Scorer:
        raise NotImplementedError

    def fitted(self) -> Scorer:
        return self.make().fit(MATRIX, GROUPS)

    def test_fit_learns_the_shape(self) -> None:
        model = self.fitted()
        assert model.n_items == 10 and model.n_clients == 8

    def test_known_client_gets_k_unseen_items(self) -> None:
        model = self.fitted()
        got = model.recommend(np.arange(8), MATRIX, k=4)
        assert got.items.shape == (8, 4)
        for client in range(8):
            seen = set(MATRIX[client].indices)
            assert not seen & set(got.items[client].tolist())
            assert np.all(np.diff(got.scores[client][got.items[client] >= 0]) <= 1e-6)

    def test_in_group_items_come_first(self) -> None:
        if not self.personalises:
            return
        got = self.fitted().recommend(np.array([0, 5]), MATRIX[[0, 5]], k=2)
        assert set(got.items[0]) <= {0, 1, 2, 3}
        assert set(got.items[1]) <= {4, 5, 6, 7}

    def test_include_seen_switch(self) -> None:
        got = self.fitted().recommend(np.array([0]), MATRIX[[0]], k=10, exclude_seen=False)
        assert set(MATRIX[0].indices) <= set(got.items[0].tolist())

    def test_unknown_client_without_history_gets_popular(self) -> None:
        got = self.fitted().recommend(np.array([-1]), EMPTY, k=3)
        assert got.items[0].tolist() == popularity_order()[:3]

    def test_known_client_with_empty_history_is_not_an_error(self) -> None:
        got = self.fitted().recommend(np.array([2]), EMPTY, k=3)
        assert got.items.shape == (1, 3) and (got.items[0] >= 0).all()

    def test_k_beyond_catalogue_pads(self) -> None:
        got = self.fitted().recommend(np.array([0]), MATRIX[[0]], k=12)
        assert got.items.shape == (1, 12)
        valid = got.items[0][got.items[0] >= 0]
        # At most the 7 unseen items, each once, then -1/nan padding.
        assert len(valid) == len(set(valid.tolist())) <= 7
        assert (got.items[0, len(valid) :] == -1).all()
        assert np.isnan(got.scores[0, len(valid) :]).all()

    def test_save_load_round_trip(self, tmp_path: Path) -> None:
        model = self.fitted()
        model.save(tmp_path / "m")
        again = type(model).load(tmp_path / "m")
        assert again.config == model.config
        rows = np.array([0, 3, 5, -1])
        history = sp.vstack([MATRIX[[0, 3, 5]], EMPTY]).tocsr()
        a, b = model.recommend(rows, history, k=5), again.recommend(rows, history, k=5)
        np.testing.assert_array_equal(a.items, b.items)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)

    def test_basket_scores_agree_with_recommend_folding_in(self) -> None:
        """The one-basket fast path gives what ``recommend`` (implicit's own fold-in or
        neighbour scoring) gives for that basket as an unknown client's history."""
        check_basket_scores(self.fitted())

    def test_compact_candidates_agree_with_the_batched_path(self, tmp_path: Path) -> None:
        """One request's compact candidates (what serving asks) are the batched
        ``recommend`` / ``similar_items`` answers, also after a save/load round trip."""
        model = self.fitted()
        model.save(tmp_path / "m")
        for m in (model, type(model).load(tmp_path / "m")):
            check_candidates(m)


def check_candidates(model: Scorer) -> None:
    """``basket_candidates`` and ``similar_candidates`` against the batched methods."""
    basket = np.array([0, 5])
    got = model.basket_candidates(basket, 4, basket)
    if got is not None:
        row = sp.csr_matrix((np.ones(2, np.float32), basket, [0, 2]), shape=(1, 10))
        batched = model.recommend(np.array([-1]), row, k=4, fold_in=True)
        listed = batched.items[0][batched.items[0] >= 0]
        values = batched.scores[0][batched.items[0] >= 0]
        proposed = values > -np.inf
        assert not set(got[0].tolist()) & {0, 5}
        np.testing.assert_allclose(np.sort(got[1])[::-1], got[1])  # best first
        # Candidates with a score the model gives are the batched ones, same scores.
        expected = dict(zip(listed[proposed].tolist(), values[proposed].tolist(), strict=True))
        for item, score in zip(*got, strict=True):
            if item in expected:
                assert score == approx(expected[item], rel=1e-4, abs=1e-6)
    try:
        similar = model.similar_items(np.array([0]), 3)
    except ModelError:
        return
    items, scores = model.similar_candidates(0, 3)
    valid = similar.items[0] >= 0
    assert 0 not in items.tolist()
    np.testing.assert_allclose(scores, similar.scores[0][valid][: len(scores)], rtol=1e-4)


def check_basket_scores(model: Scorer) -> None:
    """``basket_scores`` of one basket against ``recommend`` with fold-in (see above)."""
    basket = np.array([0, 5])
    scores = model.basket_scores(basket)
    if scores is None:  # the model relies on recommend; nothing to compare
        return
    assert scores.shape == (10,)
    row = sp.csr_matrix((np.ones(2, np.float32), basket, [0, 2]), shape=(1, 10))
    got = model.recommend(np.array([-1]), row, k=8, fold_in=True)
    items, values = got.items[0], got.scores[0]
    proposed = (items >= 0) & (values > 0)  # -inf in basket_scores: not proposed
    np.testing.assert_allclose(scores[items[proposed]], values[proposed], rtol=1e-4)
    mine = np.delete(scores, basket)
    best = np.sort(mine[np.isfinite(mine)])[::-1][: int(proposed.sum())]
    np.testing.assert_allclose(best, values[proposed], rtol=1e-4)
