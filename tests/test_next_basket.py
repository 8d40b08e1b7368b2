"""The next-basket baselines (issue 24) against three clients solved by hand: P-Pop's
``purchase_days`` order and ranking, TIFU-kNN's vectors, neighbours and scores, and the
jobs' way of building each model's matrix (also: what the Spark path refuses)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.errors import ConfigError
from recsys.matrix import MatrixConfig, build_matrix, model_matrix, weigh
from recsys.models import PPopScorer, TIFUKNNConfig, TIFUKNNScorer
from recsys.models._neighbours import neighbour_weights
from recsys.repeat import RepeatIndex
from recsys.split import split_by_time
from tests.test_matrix import events
from training import jobs
from training.spark.jobs import _refuse_local_only

# ---------------------------------------------------------------- P-Pop

# Days 1..6 of January. a: x on days 1 and 5, y twice on day 3 (one day), z on day 4;
# b: y on day 2, w on days 2 and 6; c: y on day 1, v on day 6.
PPOP = events(
    [
        ("a", "x", "2024-01-01"),
        ("a", "x", "2024-01-05"),
        ("a", "y", "2024-01-03"),
        ("a", "y", "2024-01-03"),
        ("a", "z", "2024-01-04"),
        ("b", "y", "2024-01-02"),
        ("b", "w", "2024-01-02"),
        ("b", "w", "2024-01-06"),
        ("c", "y", "2024-01-01"),
        ("c", "v", "2024-01-06"),
    ]
)
V, W, X, Y, Z = range(5)  # the sorted item columns


def test_purchase_days_by_hand() -> None:
    """Value = distinct days + (last − oldest + 1) / (newest − oldest + 2); the oldest
    day of the data is day 1 and the newest day 6, so the fraction is last / 7."""
    got = build_matrix(PPOP, MatrixConfig(weighting="purchase_days")).matrix.toarray()
    expected = np.zeros((3, 5))
    expected[0, [X, Y, Z]] = [2 + 5 / 7, 1 + 3 / 7, 1 + 4 / 7]
    expected[1, [W, Y]] = [2 + 6 / 7, 1 + 2 / 7]
    expected[2, [V, Y]] = [1 + 6 / 7, 1 + 1 / 7]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_ppop_ranks_days_then_the_latest_then_popularity() -> None:
    """a: x (2 days), then z before y (1 day each, z's last day 4 is later than y's 3),
    then the unbought by buyers (y 3; v, w, x, z 1 each: ties by index): v, w.
    b: w (2 days), y, then v, x, z. c: v (day 6) before y (day 1), though y is the most
    popular item; then w, x, z."""
    data = build_matrix(PPOP, MatrixConfig())
    days = model_matrix(PPOP, MatrixConfig(), data, "purchase_days")
    model = PPopScorer().fit(days)
    got = model.recommend(np.arange(3), data.matrix, k=5, exclude_seen=False)
    assert got.items.tolist() == [[X, Z, Y, V, W], [W, Y, V, X, Z], [V, Y, W, X, Z]]
    np.testing.assert_allclose(got.scores[2], [1 + 6 / 7, 1 + 1 / 7, 0, 0, 0], rtol=1e-6)
    # Bought items excluded: only popularity is left, then nothing (-1 padding).
    unseen = model.recommend(np.arange(3), data.matrix, k=3)
    assert unseen.items.tolist() == [[V, W, -1], [V, X, Z], [W, X, Z]]


def test_the_jobs_read_purchase_days_from_the_repeat_index() -> None:
    data = build_matrix(PPOP, MatrixConfig())
    repeats = RepeatIndex.fit(PPOP, data.clients, data.items)
    from_index = model_matrix(PPOP, MatrixConfig(), data, "purchase_days", repeats)
    from_events = model_matrix(PPOP, MatrixConfig(), data, "purchase_days")
    np.testing.assert_allclose(from_index.toarray(), from_events.toarray())


# ---------------------------------------------------------------- TIFU-kNN

# a: x on day 1 (two lines: one basket), x and y on day 2, z on day 3; b: x and y on
# day 1; c: y on day 1, z on day 5. Test part: one purchase each after the cut-off.
TIFU = events(
    [
        ("a", "x", "2024-01-01"),
        ("a", "x", "2024-01-01"),
        ("a", "x", "2024-01-02"),
        ("a", "y", "2024-01-02"),
        ("a", "z", "2024-01-03"),
        ("b", "x", "2024-01-01"),
        ("b", "y", "2024-01-01"),
        ("c", "y", "2024-01-01"),
        ("c", "z", "2024-01-05"),
        ("a", "z", "2024-02-01"),
        ("b", "x", "2024-02-01"),
        ("c", "y", "2024-02-01"),
    ]
)
# m = 2, r_b = r_g = 0.5.
# a: 3 baskets → groups (day 1, day 2) and (day 3), K = 2.
#    group 1 = ½ (0.5·{x} + 1·{x, y}) = 0.75 x + 0.5 y; group 2 = ½ (1·{z}) = 0.5 z
#    (a short group: its missing basket counts as empty);
#    a = ½ (0.5 · group 1 + 1 · group 2) = 0.1875 x + 0.125 y + 0.25 z.
# b: 1 basket, K = 1: ½ {x, y} = 0.5 x + 0.5 y.
# c: 2 baskets, K = 1: ½ (0.5·{y} + 1·{z}) = 0.25 y + 0.5 z.
VECTORS = np.array([[0.1875, 0.125, 0.25], [0.5, 0.5, 0.0], [0.0, 0.25, 0.5]])
HAND = TIFUKNNConfig(group_size=2, within_decay=0.5, group_decay=0.5, neighbours=1)


def test_tifu_vectors_by_hand() -> None:
    train = split_by_time(TIFU, "2024-01-15").train
    config = MatrixConfig(
        weighting="tifu", tifu_group_size=2, tifu_within_decay=0.5, tifu_group_decay=0.5
    )
    got = build_matrix(train, config).matrix.toarray()
    np.testing.assert_allclose(got, VECTORS, rtol=1e-6)


def test_tifu_vectors_with_the_papers_defaults() -> None:
    """m = 7, r_b = 0.9, r_g = 0.7: a's 3 baskets are one short group, K = 1:
    a = (1/7)(0.81·{x} + 0.9·{x, y} + 1·{z}) = (1.71 x + 0.9 y + z) / 7."""
    train = split_by_time(TIFU, "2024-01-15").train
    got = build_matrix(train, MatrixConfig(weighting="tifu")).matrix.toarray()
    np.testing.assert_allclose(got[0], np.array([1.71, 0.9, 1.0]) / 7, rtol=1e-6)


def test_tifu_neighbours_and_scores_by_hand() -> None:
    """Norms: |a| = √0.11328125 = 0.33657, |b| = √0.5 = 0.70711, |c| = √0.3125 = 0.55902.
    cos(a, b) = 0.15625 / 0.23799 = 0.6565, cos(a, c) = 0.15625 / 0.18815 = 0.8305,
    cos(b, c) = 0.125 / 0.39528 = 0.3162: with k = 1, a → c, b → a, c → a.
    Scores 0.7 · own + 0.3 · neighbour:
    a = 0.7 (0.1875, 0.125, 0.25) + 0.3 (0, 0.25, 0.5) = (0.13125, 0.1625, 0.325);
    b = 0.7 (0.5, 0.5, 0) + 0.3 (0.1875, 0.125, 0.25) = (0.40625, 0.3875, 0.075);
    c = 0.7 (0, 0.25, 0.5) + 0.3 (0.1875, 0.125, 0.25) = (0.05625, 0.2125, 0.425)."""
    model = TIFUKNNScorer(HAND).fit(sp.csr_matrix(VECTORS, dtype=np.float32))
    np.testing.assert_array_equal(model.neighbours.toarray(), [[0, 0, 1], [1, 0, 0], [1, 0, 0]])
    history = sp.csr_matrix((VECTORS > 0).astype(np.float32))
    got = model.recommend(np.arange(3), history, k=3, exclude_seen=False)
    assert got.items.tolist() == [[2, 1, 0], [0, 1, 2], [2, 1, 0]]
    expected = [[0.325, 0.1625, 0.13125], [0.40625, 0.3875, 0.075], [0.425, 0.2125, 0.05625]]
    np.testing.assert_allclose(got.scores, expected, rtol=1e-5)
    # b's own items excluded: only z, which its neighbour a bought, is left.
    assert model.recommend(np.array([1]), history[[1]], k=3).items.tolist() == [[2, -1, -1]]


def test_the_jobs_fit_tifuknn_on_its_own_vectors() -> None:
    """Through ``jobs.evaluate`` (bought items allowed): the model's group size and
    decays reach the matrix it is fitted on, which holds the hand-worked vectors."""
    model = TIFUKNNScorer(HAND)
    split = split_by_time(TIFU, "2024-01-15")
    report = jobs.evaluate(split, {"tifuknn": model}, 3, MatrixConfig(), exclude_seen=False)
    np.testing.assert_allclose(model.vectors.toarray(), VECTORS, rtol=1e-6)
    # a re-buys z and b x, the tops of their lists (above): NDCG 1; c re-buys y, its
    # second (after z): NDCG 1 / log2 3.
    expected = (2 + 1 / np.log2(3)) / 3
    assert report["models"]["tifuknn"]["ndcg@3"] == pytest.approx(expected)


def test_neighbours_by_cosine_and_by_distance() -> None:
    """p = (1, 0), q = (10, 0), r = (0, 1.2). Cosine: p and q point the same way (1), r
    shares nothing with either (0: no neighbour at all). Distance: p is nearest r
    (√2.44 against 9), q nearest p (9 against √101.44), r nearest p."""
    vectors = sp.csr_matrix(np.array([[1, 0], [10, 0], [0, 1.2]], np.float32))
    cosine = neighbour_weights(vectors, 2, "cosine").toarray()
    np.testing.assert_array_equal(cosine, [[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    nearest = neighbour_weights(vectors, 1, "euclidean").toarray()
    np.testing.assert_array_equal(nearest, [[0, 0, 1], [1, 0, 0], [1, 0, 0]])
    # Two neighbours each, with distance: a mean of two vectors (½ each).
    np.testing.assert_array_equal(neighbour_weights(vectors, 5, "euclidean").sum(axis=1), 1.0)


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
def test_neighbours_in_blocks_equal_one_block(
    similarity: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above 2²⁴ similarities the rows go in blocks: one row at a time here, held to
    the whole block at once."""
    import recsys.models._neighbours as neighbours

    vectors = sp.random(40, 15, density=0.2, random_state=5, format="csr", dtype=np.float32)
    whole = neighbour_weights(vectors, 4, similarity)  # type: ignore[arg-type]
    monkeypatch.setattr(neighbours, "_BLOCK_CELLS", 1)
    rowwise = neighbour_weights(vectors, 4, similarity)  # type: ignore[arg-type]
    np.testing.assert_array_equal(whole.toarray(), rowwise.toarray())
    assert whole.diagonal().sum() == 0  # nobody is its own neighbour


def test_tifu_is_built_from_events_only() -> None:
    counts = sp.csr_matrix(np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="tifu"):
        weigh(counts, MatrixConfig(weighting="tifu"))


def test_spark_refuses_tifu_before_any_work() -> None:
    with pytest.raises(ConfigError, match="tifuknn: fitted on the tifu weighting"):
        _refuse_local_only({"tifuknn": TIFUKNNScorer(), "ppop": PPopScorer()}, MatrixConfig())
    with pytest.raises(ConfigError, match=r"matrix\.weighting=tifu"):
        _refuse_local_only({}, MatrixConfig(weighting="tifu"))
    _refuse_local_only({"ppop": PPopScorer()}, MatrixConfig())  # from the day counts
