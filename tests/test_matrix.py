"""The client × item matrix: every weighting against hand-worked values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.matrix import MatrixConfig, build_matrix
from recsys.repeat import RepeatIndex
from recsys.vocab import IdMap


def events(rows: list[tuple[str | None, str, str]]) -> pd.DataFrame:
    """Canonical events from (client, item, date) triples."""
    frame = pd.DataFrame(rows, columns=["client_id", "item_id", "timestamp"])
    return frame.assign(
        client_id=frame["client_id"].astype("category"),
        item_id=frame["item_id"].astype("category"),
        timestamp=pd.to_datetime(frame["timestamp"]),
        order_id=pd.Categorical(["o"] * len(frame)),
        quantity=1.0,
        price=1.0,
    )


# b bought x three times and y once; a bought y once; an anonymous line of z.
LINES = [
    ("b", "x", "2024-01-01"),
    ("b", "x", "2024-01-11"),
    ("b", "x", "2024-01-21"),
    ("b", "y", "2024-01-21"),
    ("a", "y", "2024-01-11"),
    (None, "z", "2024-01-21"),
]


@pytest.mark.parametrize(
    ("weighting", "expected"),
    [
        ("binary", [[0, 1], [1, 1]]),
        ("count", [[0, 1], [3, 1]]),
        ("log1p", [[0, np.log(2)], [np.log(4), np.log(2)]]),
    ],
)
def test_weightings(weighting: str, expected: list[list[float]]) -> None:
    built = build_matrix(events(LINES), MatrixConfig(weighting=weighting))  # type: ignore[arg-type]
    assert built.clients.ids.tolist() == ["a", "b"]  # anonymous line left out
    assert built.items.ids.tolist() == ["x", "y"]  # z only bought anonymously
    np.testing.assert_allclose(built.matrix.toarray(), expected, rtol=1e-6)


def test_bm25_matches_the_formula() -> None:
    counts = np.array([[0, 1], [3, 1]], dtype=float)
    k1, b = 1.2, 0.75
    idf = np.log(2) - np.log1p((counts > 0).sum(axis=0))
    length = counts.sum(axis=1)
    norm = (1 - b) + b * length / length.mean()
    expected = np.where(
        counts > 0, counts * (k1 + 1) / (k1 * norm[:, None] + counts) * idf[None, :], 0
    )
    config = MatrixConfig(weighting="bm25", bm25_k1=k1, bm25_b=b)
    built = build_matrix(events(LINES), config)
    np.testing.assert_allclose(built.matrix.toarray(), expected, rtol=1e-5)


def test_recency_half_life_halves_every_ten_days() -> None:
    config = MatrixConfig(weighting="count", half_life_days=10)
    built = build_matrix(events(LINES), config)
    # b's x lines are 20, 10 and 0 days old: 0.25 + 0.5 + 1; a's y is 10 days old.
    np.testing.assert_allclose(built.matrix.toarray(), [[0, 0.5], [1.75, 1.0]], rtol=1e-6)


def test_first_days_counts_from_the_first_purchase_to_the_newest_line() -> None:
    built = build_matrix(events(LINES), MatrixConfig(weighting="first_days"))
    # Newest line with a client: 2024-01-21. b's x first on 01-01 (20 days: 21), b's y
    # on 01-21 (0: 1), a's y on 01-11 (10: 11).
    np.testing.assert_allclose(built.matrix.toarray(), [[0, 11], [21, 1]])
    later = build_matrix(
        events(LINES), MatrixConfig(weighting="first_days"), now=pd.Timestamp("2024-01-31 18:00")
    )
    np.testing.assert_allclose(later.matrix.toarray(), [[0, 21], [31, 11]])


def test_last_days_counts_from_the_last_purchase() -> None:
    built = build_matrix(events(LINES), MatrixConfig(weighting="last_days"))
    # b's x last on 01-21 (1), b's y on 01-21 (1), a's y on 01-11 (11).
    np.testing.assert_allclose(built.matrix.toarray(), [[0, 11], [1, 1]])


@pytest.mark.parametrize(("weighting", "agg"), [("first_days", "min"), ("last_days", "max")])
def test_day_matrices_on_the_real_sample_by_brute_force(  # type: ignore[no-untyped-def]
    sample_data, weighting: str, agg: str
) -> None:
    """Built from the re-purchase index (what the Spark engine counts too), checked
    against a plain pandas min/max of each pair's purchase days."""
    from recsys.data import load_events

    loaded = load_events(sample_data, "online-retail").events
    built = build_matrix(loaded, MatrixConfig(weighting=weighting))  # type: ignore[arg-type]
    known = loaded.dropna(subset=["client_id"])
    day = known["timestamp"].dt.floor("D")
    pairs = day.groupby([known["client_id"].astype(str), known["item_id"].astype(str)]).agg(agg)
    expected = (day.max() - pairs).dt.days + 1
    rows = built.clients.index(expected.index.get_level_values(0))
    cols = built.items.index(expected.index.get_level_values(1))
    assert built.matrix.nnz == len(expected) > 0
    np.testing.assert_array_equal(np.asarray(built.matrix[rows, cols]).ravel(), expected.to_numpy())
    repeats = RepeatIndex.fit(loaded, built.clients, built.items)
    assert (built.matrix != repeats.day_matrix(weighting)).nnz == 0


def test_given_maps_keep_their_order_and_skip_unknown_ids() -> None:
    clients, items = IdMap(["b", "a", "q"]), IdMap(["y"])
    built = build_matrix(
        events(LINES), MatrixConfig(weighting="count"), clients=clients, items=items
    )
    assert built.shape == (3, 1)
    np.testing.assert_allclose(built.matrix.toarray(), [[1], [1], [0]])


def test_id_map_lookups() -> None:
    ids = IdMap(["c3", "c1"])
    assert ids.index(["c1", "nobody", "c3"]).tolist() == [1, -1, 0]
    categorical = pd.Series(["c1", None, "zz"], dtype="category")
    assert ids.index(categorical).tolist() == [1, -1, -1]
    assert ids.lookup("c3") == 0 and ids.lookup("nobody") is None
    assert IdMap(["7", "10"]).lookup(10) == 1 and ids.lookup("") is None  # as strings
    assert ids.to_ids(np.array([1, 0])).tolist() == ["c1", "c3"]
    with pytest.raises(ValueError, match="unique"):
        IdMap(["a", "a"])
