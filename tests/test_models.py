"""Every model passes the shared contract; model-specific behaviour below."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.errors import ModelError
from recsys.models import (
    ALSConfig,
    ALSScorer,
    BPRConfig,
    BPRScorer,
    EASEConfig,
    EASEScorer,
    ForwardConfig,
    ForwardScorer,
    ItemKNNConfig,
    ItemKNNScorer,
    PopularConfig,
    PopularScorer,
    PPopScorer,
    RP3betaConfig,
    RP3betaScorer,
    Scorer,
    TIFUKNNConfig,
    TIFUKNNScorer,
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
    personalises = scores_baskets = similarity = False

    def make(self) -> Scorer:
        return PopularScorer()


class TestPopularByGroup(ScorerContract):
    scores_baskets = similarity = False

    def make(self) -> Scorer:
        return PopularScorer(PopularConfig(by="group"))

    def test_unknown_group_falls_back_to_global(self) -> None:
        model = self.fitted()
        model.client_group[1] = -1  # type: ignore[attr-defined]
        got = model.recommend(np.array([1]), EMPTY, k=3)
        assert got.items[0].tolist() == popularity_order()[:3]


class TestPPop(ScorerContract):
    """Without bought items, P-Pop's own items are all excluded: popularity is left
    (hand-worked ranking: tests/test_next_basket.py)."""

    personalises = scores_baskets = similarity = False

    def make(self) -> Scorer:
        return PPopScorer()


class TestTIFUKNN(ScorerContract):
    """On the binary contract matrix each client's vector is its row; with 2 neighbours
    client 0 ({0, 1, 8}) has clients 1 and 3 (cosine 2/3 each, the rest 1/3), whose
    unseen items are 2 and 3 (hand-worked scores: tests/test_next_basket.py)."""

    scores_baskets = similarity = False

    def make(self) -> Scorer:
        return TIFUKNNScorer(TIFUKNNConfig(neighbours=2))


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


class TestALSWithIndex(TestALS):
    """The approximate-candidate path, forced on the tiny catalogue (one cluster,
    read whole: exact), so every contract check also runs through faiss."""

    def make(self) -> Scorer:
        config = ALSConfig(
            factors=2, iterations=30, regularization=0.01, alpha=20, seed=1, ann_min_items=1
        )
        return ALSScorer(config)

    def test_the_index_is_built_saved_and_loaded(self, tmp_path: Path) -> None:
        model = self.fitted()
        assert model.ann is not None and set(model.ann) == {"inner", "cosine"}
        model.save(tmp_path / "m")
        written = {p.name for p in (tmp_path / "m").iterdir()}
        assert {"ann_inner.faiss", "ann_cosine.faiss"} <= written
        assert ALSScorer.load(tmp_path / "m").ann is not None


class TestBPR(ScorerContract):
    # implicit samples BPR negatives by popularity, so the never-bought item 9 is
    # never pushed down on this 8 × 10 toy: the group check reads the lists without it.
    # No fold-in: an unknown client's basket gets the popular list.
    unranked = frozenset({9})
    scores_baskets = False

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


class TestEASE(ScorerContract):
    def make(self) -> Scorer:
        return EASEScorer(EASEConfig(regularization=1.0))

    def test_weights_by_hand(self) -> None:
        """X = [[1,1,0,0],[0,0,1,0],[0,0,0,1]], λ = 1: G = XᵀX + I has the block
        [[2,1],[1,2]] (inverse ⅓[[2,−1],[−1,2]]) and 2, 2 on the diagonal, so
        B₀₁ = −P₀₁/P₁₁ = (⅓)/(⅔) = ½ = B₁₀, every other weight 0."""
        x = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], np.float32))
        model = EASEScorer(EASEConfig(regularization=1.0)).fit(x)
        expected = np.zeros((4, 4))
        expected[0, 1] = expected[1, 0] = 0.5
        np.testing.assert_allclose(model.weights, expected, atol=1e-6)
        np.testing.assert_allclose(model.basket_scores(np.array([0])), [0, 0.5, 0, 0], atol=1e-6)

    def test_recency_weighted_targets_against_per_column_ridge(self) -> None:
        """With targets Y = 0.5^((days − 1)/h), column j of B is the ridge regression of
        Y's column j on the other columns of binary X (B_jj = 0): solved here column by
        column with numpy, independently of the closed form."""
        rng = np.random.default_rng(3)
        days = sp.random(30, 6, density=0.4, random_state=4, format="csr", dtype=np.float32)
        days.data = rng.integers(1, 200, days.nnz).astype(np.float32)
        config = EASEConfig(regularization=2.0, target_half_life_days=30)  # forward term off
        model = EASEScorer(config).fit(days)
        x = (days.toarray() > 0).astype(float)
        y = np.where(x > 0, 0.5 ** ((days.toarray() - 1) / 30), 0.0)
        expected = np.zeros((6, 6))
        for j in range(6):
            others = [i for i in range(6) if i != j]
            a = x[:, others]
            expected[others, j] = np.linalg.solve(a.T @ a + 2.0 * np.eye(5), a.T @ y[:, j])
        np.testing.assert_allclose(model.weights, expected, atol=1e-5)
        assert config.weighting == "last_days"  # what the jobs fit it on

    def test_forward_term_is_the_scaled_forward_weights(self) -> None:
        """B = Steck's B (numpy's inverse here) + a · s · W_forward, s the ratio of the
        Frobenius norms of the clients' scores under each (every client: fewer than the
        sampled 10,000)."""
        days = sp.csr_matrix(
            np.array([[100, 1, 0, 90], [100, 0, 1, 0], [0, 100, 0, 80], [5, 0, 70, 0]], np.float32)
        )
        model = EASEScorer(EASEConfig(regularization=1.0, forward_weight=0.3)).fit(days)
        x = (days.toarray() > 0).astype(float)
        p = np.linalg.inv(x.T @ x + np.eye(4))
        steck = np.eye(4) - p / np.diag(p)
        forward = ForwardScorer(ForwardConfig(regularization=500.0)).fit(days).weights
        scale = np.linalg.norm(x @ steck) / np.linalg.norm(x @ forward)
        np.testing.assert_allclose(model.weights, steck + 0.3 * scale * forward, atol=1e-5)
        assert np.abs(forward).sum() > 0  # a forward term was learnt, not only EASE

    def test_forward_term_diagonal_is_zeroed_after_the_sum(self) -> None:
        """Two clients (window 60): A bought items 0 and 1 long ago (100 days) and 2
        yesterday, B item 0 long ago and 1 yesterday. Forward rows E = [[1,1,0],[1,0,0]],
        targets L = [[0,0,1],[0,1,0]]: W = (EᵀE + 500·I)⁻¹ EᵀL, where W₁₁ = (EᵀE + 500·I)⁻¹₁₀
        · (EᵀL)₀₁ ≠ 0 (items 0 and 1 were bought together early, and 0 led to 1). EASE on
        X = [[1,1,1],[1,1,0]], λ = 1. Expected: Steck's B + 0.3·s·W, s = ‖XB‖ / ‖XW‖,
        with the diagonal 0, all from numpy here."""
        days = sp.csr_matrix(np.array([[100, 100, 1], [100, 1, 0]], np.float32))
        x = np.array([[1, 1, 1], [1, 1, 0]], float)
        e, later = np.array([[1, 1, 0], [1, 0, 0]], float), np.array([[0, 0, 1], [0, 1, 0]], float)
        forward = np.linalg.inv(e.T @ e + 500 * np.eye(3)) @ e.T @ later
        assert abs(forward[1, 1]) > 1e-3 * abs(forward).max()  # a diagonal, small (λ 500)
        p = np.linalg.inv(x.T @ x + np.eye(3))
        steck = np.eye(3) - p / np.diag(p)
        scale = np.linalg.norm(x @ steck) / np.linalg.norm(x @ forward)
        expected = steck + 0.3 * scale * forward
        np.fill_diagonal(expected, 0.0)
        model = EASEScorer(EASEConfig(regularization=1.0, forward_weight=0.3)).fit(days)
        assert (np.diag(model.weights) == 0).all()
        np.testing.assert_allclose(model.weights, expected, rtol=1e-4, atol=1e-7)

    @pytest.mark.parametrize(
        ("fields", "weighting", "forward"),
        [
            ({}, "last_days", 0.0),
            ({"forward_weight": 0.15}, "first_days", 0.15),
            ({"target_half_life_days": 0}, None, 0.0),
            ({"target_half_life_days": 30}, "last_days", 0.0),
            ({"weighting": "binary"}, "binary", 0.0),  # Steck's EASE on binary, as before
        ],
    )
    def test_each_term_picks_its_matrix(self, fields: dict, weighting: str, forward: float) -> None:
        config = EASEConfig(**fields)
        assert config.weighting == weighting and config.forward_weight == forward
        assert EASEConfig.model_validate(config.model_dump()) == config  # as saved
        # What an override (--set ease.FIELD=…) starts from: the explicit fields only.
        assert set(config.model_dump(exclude_unset=True)) == set(fields)

    @pytest.mark.parametrize(
        ("fields", "needle"),
        [
            ({"target_half_life_days": 60, "forward_weight": 0.2}, "not both"),
            ({"forward_weight": 0.2, "weighting": "binary"}, "forward_weight > 0 needs weighting"),
            ({"target_half_life_days": 60, "weighting": "bm25"}, "needs weighting last_days"),
        ],
    )
    def test_contradictory_settings_are_refused(self, fields: dict, needle: str) -> None:
        with pytest.raises(ValueError, match=needle):
            EASEConfig(**fields)

    def test_max_items_fits_the_most_bought_and_says_so(self) -> None:
        model = EASEScorer(EASEConfig(regularization=1.0, max_items=3)).fit(MATRIX)
        # Buyers: item 8 has 8, items 0-7 have 2 each: 8 then the lowest indices 0, 1.
        assert model.kept.tolist() == [0, 1, 8]
        assert model.fit_note() == "fitted on the 3 most-bought of 10 items"
        got = model.recommend(np.array([0]), MATRIX[[0]], k=10)
        assert set(got.items[0][got.items[0] >= 0].tolist()) <= {0, 1, 8}


def _first_days_of_contract() -> sp.csr_matrix:
    """The contract matrix as days since first purchase: each client bought its
    group's ``client % 4`` item and item 8 long ago (100 days), the next item of its
    group recently (1 day): so "later" items follow "earlier" ones within a group."""
    days = MATRIX.copy()
    for client in range(8):
        start, stop = days.indptr[client], days.indptr[client + 1]
        base = 0 if client < 4 else 4
        later = days.indices[start:stop] == base + (client + 1) % 4
        days.data[start:stop] = np.where(later, 1.0, 100.0)
    return days


class TestForward(ScorerContract):
    def make(self) -> Scorer:
        return ForwardScorer(ForwardConfig(regularization=1.0, window_days=10))

    def fitted(self) -> Scorer:
        return self.make().fit(_first_days_of_contract(), GROUPS)

    def test_in_group_items_come_first(self) -> None:
        """Each client's only transition is to its group's next item (the contract's
        second place is a tie at 0 for this model, broken by index)."""
        got = self.fitted().recommend(np.array([0, 5]), MATRIX[[0, 5]], k=1)
        # Client 0 holds items 0 and 1 (1 → 2 was client 1's move); client 5 holds 5, 6.
        assert got.items[:, 0].tolist() == [2, 7]

    def test_weights_by_hand(self) -> None:
        """Days since first purchase (window 10): client 0 bought item 0 100 days ago
        and item 1 yesterday, client 1 item 0 then item 2, client 2 only item 1 (no
        later purchase: not a row). E = [[1,0,0],[1,0,0]], L = [[0,1,0],[0,0,1]], λ = 1:
        EᵀE + I = diag(3, 1, 1), EᵀL has 1 at (0,1) and (0,2): W₀₁ = W₀₂ = ⅓, else 0."""
        days = sp.csr_matrix(np.array([[100, 1, 0], [100, 0, 1], [0, 100, 0]], np.float32))
        model = ForwardScorer(ForwardConfig(regularization=1.0, window_days=10)).fit(days)
        expected = np.zeros((3, 3))
        expected[0, 1] = expected[0, 2] = 1 / 3
        np.testing.assert_allclose(model.weights, expected, atol=1e-6)
        np.testing.assert_allclose(model.basket_scores(np.array([0])), [0, 1 / 3, 1 / 3], atol=1e-6)

    def test_without_old_purchases_it_says_so_and_gives_popularity(self) -> None:
        model = self.make().fit(MATRIX)  # binary: every purchase looks 1 day old
        assert "window_days=10" in (model.fit_note() or "")
        got = model.recommend(np.array([0]), MATRIX[[0]], k=3, exclude_seen=False)
        assert got.items[0].tolist() == popularity_order()[:3]
        assert model.basket_candidates(np.array([0]), 3, None)[0].size == 0


class TestRP3beta(ScorerContract):
    def make(self) -> Scorer:
        return RP3betaScorer(RP3betaConfig(beta=0.5, neighbours=5))

    def test_weights_by_hand(self) -> None:
        """Clients buy {0,1}, {0,2}, {2}; α = 1, β = 1. From item 0 the walk reaches
        client 0 or 1 (½ each), then item 1 (½ of client 0's steps) or item 2 (½ of
        client 1's): ¼ each, divided by buyers 1 and 2 → W₀₁ = ¼, W₀₂ = ⅛. From item
        1: client 0, then item 0: ½ / 2 buyers = ¼. From item 2: client 1 (½), then
        item 0 (½): ¼ / 2 = ⅛; its own item is the diagonal, dropped."""
        x = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [0, 0, 1]], np.float32))
        config = RP3betaConfig(alpha=1.0, beta=1.0, neighbours=5, normalize=False)
        model = RP3betaScorer(config).fit(x)
        expected = [[0, 0.25, 0.125], [0.25, 0, 0], [0.125, 0, 0]]
        np.testing.assert_allclose(model.weights.toarray(), expected, atol=1e-7)

    def test_neighbours_are_capped_and_rows_normalised(self) -> None:
        model = RP3betaScorer(RP3betaConfig(neighbours=2)).fit(MATRIX)
        weights = model.weights.toarray()
        assert (np.count_nonzero(weights, axis=1) <= 2).all()
        sums = weights.sum(axis=1)
        np.testing.assert_allclose(sums[sums > 0], 1.0, rtol=1e-5)


def test_loading_the_wrong_model_kind_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    PopularScorer().fit(MATRIX, GROUPS).save(tmp_path / "p")
    with pytest.raises(ModelError, match="holds model 'popular'"):
        ALSScorer.load(tmp_path / "p")
    with pytest.raises(ModelError, match="cannot load"):
        ALSScorer.load(tmp_path / "missing")


def test_popular_has_no_similarity() -> None:
    with pytest.raises(ModelError):
        PopularScorer().fit(MATRIX).similar_items(np.array([0]))


@pytest.mark.parametrize("n", [7, 64, 301])
def test_ease_block_inverse_equals_numpy(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the size one LAPACK call takes, EASE inverts by 2 × 2 blocks (Schur
    complement, recursively): held to numpy's general inverse at every split."""
    import recsys.models._dense as _dense

    monkeypatch.setattr(_dense, "_LAPACK_ROWS", 5)
    a = np.random.default_rng(n).random((n, n))
    gram = a @ a.T / n + np.eye(n)
    expected = np.linalg.inv(gram)
    np.testing.assert_allclose(_dense.spd_inverse(gram.copy()), expected, atol=1e-10)
