"""The contract every model's tests inherit: fit, unknown client, empty history,
the already-bought switch, similar items, save/load round trip."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
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


def popular_unseen(bought: Iterable[int], k: int) -> list[int]:
    """The first ``k`` of :func:`popularity_order` less the ``bought`` items."""
    mine = {int(i) for i in bought}
    return [i for i in popularity_order() if i not in mine][:k]


class ScorerContract:
    """Subclass with ``make`` returning a fresh unfitted model."""

    #: False: the model ranks by popularity alone, so the group check becomes "each
    #: client gets the popular list less its own purchases".
    personalises: ClassVar[bool] = True
    #: Items the model has no signal to rank (BPR: implicit samples negatives among
    #: bought items, so nothing pushes the never-bought item 9 down): the group check
    #: reads the list without them.
    unranked: ClassVar[frozenset[int]] = frozenset()
    #: False: ``basket_scores`` / ``basket_candidates`` answer None (callers fall back
    #: to ``recommend``); held to that, and to the fallback's answer.
    scores_baskets: ClassVar[bool] = True
    #: False: ``similar_items`` and ``similar_candidates`` refuse (ModelError).
    similarity: ClassVar[bool] = True

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
        got = self.fitted().recommend(np.array([0, 5]), MATRIX[[0, 5]], k=10)
        firsts = [[i for i in row if i not in self.unranked][:2] for row in got.items.tolist()]
        if self.personalises:
            assert set(firsts[0]) <= {0, 1, 2, 3} and set(firsts[1]) <= {4, 5, 6, 7}
            assert all(len(first) == 2 and -1 not in first for first in firsts)
        else:  # client 5's popular pair (0, 1) is the other group's
            assert firsts == [popular_unseen(MATRIX[c].indices, 2) for c in (0, 5)]

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
        check_basket_scores(self.fitted(), self.scores_baskets)

    def test_compact_candidates_agree_with_the_batched_path(self, tmp_path: Path) -> None:
        """One request's compact candidates (what serving asks) are the batched
        ``recommend`` / ``similar_items`` answers, also after a save/load round trip."""
        model = self.fitted()
        model.save(tmp_path / "m")
        for m in (model, type(model).load(tmp_path / "m")):
            check_candidates(m, self.scores_baskets, self.similarity)


def check_candidates(model: Scorer, scores_baskets: bool = True, similarity: bool = True) -> None:
    """``basket_candidates`` and ``similar_candidates`` against the batched methods."""
    basket = np.array([0, 5])
    got = model.basket_candidates(basket, 4, basket)
    assert (got is not None) == scores_baskets
    if got is None:  # the fallback's answer: check_basket_scores
        assert model.basket_scores(basket) is None
    else:
        _check_basket_candidates(model, basket, got)
    if similarity:
        _check_similar_candidates(model)
    else:  # refused on both paths, never an empty answer
        with pytest.raises(ModelError):
            model.similar_items(np.array([0]), 3)
        with pytest.raises(ModelError):
            model.similar_candidates(0, 3)


def _check_basket_candidates(
    model: Scorer, basket: np.ndarray, got: tuple[np.ndarray, np.ndarray]
) -> None:
    """Candidates with a score the model gives are the batched ones, same scores."""
    row = sp.csr_matrix((np.ones(2, np.float32), basket, [0, 2]), shape=(1, 10))
    batched = model.recommend(np.array([-1]), row, k=4, fold_in=True)
    listed = batched.items[0][batched.items[0] >= 0]
    values = batched.scores[0][batched.items[0] >= 0]
    proposed = values > -np.inf
    assert not set(got[0].tolist()) & {0, 5}
    np.testing.assert_allclose(np.sort(got[1])[::-1], got[1])  # best first
    expected = dict(zip(listed[proposed].tolist(), values[proposed].tolist(), strict=True))
    assert set(got[0].tolist()) & set(expected)  # something to compare
    for item, score in zip(*got, strict=True):
        if item in expected:
            assert score == approx(expected[item], rel=1e-4, abs=1e-6)


def _check_similar_candidates(model: Scorer) -> None:
    """One item's compact similar candidates are the batched ``similar_items``."""
    similar = model.similar_items(np.array([0]), 3)
    items, scores = model.similar_candidates(0, 3)
    valid = similar.items[0] >= 0
    assert items.size and 0 not in items.tolist()
    np.testing.assert_allclose(scores, similar.scores[0][valid][: len(scores)], rtol=1e-4)


def check_basket_scores(model: Scorer, scores_baskets: bool = True) -> None:
    """``basket_scores`` of one basket against ``recommend`` with fold-in (see above);
    a model without them gives an unknown client with that basket the popular list."""
    basket = np.array([0, 5])
    scores = model.basket_scores(basket)
    assert (scores is not None) == scores_baskets
    row = sp.csr_matrix((np.ones(2, np.float32), basket, [0, 2]), shape=(1, 10))
    got = model.recommend(np.array([-1]), row, k=8, fold_in=True)
    if scores is None:
        assert got.items[0].tolist() == popular_unseen(basket, 8)
    else:
        _check_basket_scores(scores, basket, got.items[0], got.scores[0])


def _check_basket_scores(
    scores: np.ndarray, basket: np.ndarray, items: np.ndarray, values: np.ndarray
) -> None:
    """The proposed items' scores are the basket's, and the best of the rest."""
    assert scores.shape == (10,)
    proposed = (items >= 0) & (values > 0)  # -inf in basket_scores: not proposed
    assert proposed.any()  # something to compare
    np.testing.assert_allclose(scores[items[proposed]], values[proposed], rtol=1e-4)
    mine = np.delete(scores, basket)
    best = np.sort(mine[np.isfinite(mine)])[::-1][: int(proposed.sum())]
    np.testing.assert_allclose(best, values[proposed], rtol=1e-4)
