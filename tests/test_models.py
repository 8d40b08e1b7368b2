"""Every model passes the shared contract; model-specific behaviour below."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.errors import ModelError
from recsys.models import (
    ALSConfig,
    ALSScorer,
    BPRConfig,
    BPRScorer,
    ItemKNNConfig,
    ItemKNNScorer,
    PopularConfig,
    PopularScorer,
    Scorer,
)
from tests.model_contract import (
    EMPTY,
    GROUPS,
    MATRIX,
    ScorerContract,
    check_basket_scores,
    popularity_order,
)


class TestPopular(ScorerContract):
    personalises = False

    def make(self) -> Scorer:
        return PopularScorer()


class TestPopularByGroup(ScorerContract):
    def make(self) -> Scorer:
        return PopularScorer(PopularConfig(by="group"))

    def test_unknown_group_falls_back_to_global(self) -> None:
        model = self.fitted()
        model.client_group[1] = -1  # type: ignore[attr-defined]
        got = model.recommend(np.array([1]), EMPTY, k=3)
        assert got.items[0].tolist() == popularity_order()[:3]


class TestALS(ScorerContract):
    def make(self) -> Scorer:
        # Two taste groups: two factors with strong confidence recover them.
        return ALSScorer(ALSConfig(factors=2, iterations=30, regularization=0.01, alpha=20, seed=1))

    def test_unknown_client_with_history_is_folded_in(self) -> None:
        history = sp.csr_matrix(([1.0, 1.0], ([0, 0], [5, 6])), shape=(1, 10), dtype=np.float32)
        got = self.fitted().recommend(np.array([-1]), history, k=3)
        assert set(got.items[0]) == {4, 7, 8}  # the rest of its group, and the staple

    def test_similar_items_stay_in_the_group(self) -> None:
        got = self.fitted().similar_items(np.array([0, 4]), k=2)
        assert set(got.items[0]) <= {1, 2, 3, 8}
        assert set(got.items[1]) <= {5, 6, 7, 8}

    def test_basket_scores_with_alpha_one(self) -> None:
        """α = 1 takes the cached-inverse path of the fold-in: held to implicit too."""
        model = ALSScorer(ALSConfig(factors=2, iterations=30, regularization=0.01, alpha=1))
        check_basket_scores(model.fit(MATRIX))


class TestBPR(ScorerContract):
    # implicit samples BPR negatives by popularity, so the never-bought item 9 is
    # never pushed down on this 8 × 10 toy; quality is checked on real data instead.
    personalises = False

    def make(self) -> Scorer:
        return BPRScorer(BPRConfig(factors=8, iterations=300, learning_rate=0.05))


class TestItemKNN(ScorerContract):
    def make(self) -> Scorer:
        return ItemKNNScorer(ItemKNNConfig(similarity="cosine", neighbours=20))

    def test_similar_items_by_hand(self) -> None:
        # Item 0 is bought by clients 0 and 3; item 1 by 0 and 1; item 3 by 2 and 3:
        # cosine(0,1) = cosine(0,3) = 1/2, cosine(0,8) = 2/(√2·√8) = 1/2, item 2: 0.
        got = self.fitted().similar_items(np.array([0]), k=4)
        assert got.items[0].tolist() == [1, 3, 8, -1]  # ties by index; item 2 never shown
        np.testing.assert_allclose(got.scores[0][:3], [0.5, 0.5, 0.5], rtol=1e-5)


class TestItemKNNBM25(ScorerContract):
    def make(self) -> Scorer:
        return ItemKNNScorer(ItemKNNConfig(similarity="bm25", neighbours=20))


def test_loading_the_wrong_model_kind_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    PopularScorer().fit(MATRIX, GROUPS).save(tmp_path / "p")
    with pytest.raises(ModelError, match="holds model 'popular'"):
        ALSScorer.load(tmp_path / "p")
    with pytest.raises(ModelError, match="cannot load"):
        ALSScorer.load(tmp_path / "missing")


def test_popular_has_no_similarity() -> None:
    with pytest.raises(ModelError):
        PopularScorer().fit(MATRIX).similar_items(np.array([0]))
