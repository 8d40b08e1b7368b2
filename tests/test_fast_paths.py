"""The one-request shortcuts of the uncached path give what the general code gives."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models._top import top_of_row
from recsys.ranking.blend import _union


def brute_top(row: np.ndarray, k: int) -> list[int]:
    """The ``k`` best positions above ``-inf``, ties by position, by sorting all (a row
    all ``-inf``: its first ``k``, which callers then drop)."""
    order = sorted(range(row.size), key=lambda i: (-row[i], i))
    live = [i for i in order if row[i] > -np.inf]
    return (live or order)[:k]


def test_a_dense_rows_top_equals_a_full_sort() -> None:
    rng = np.random.default_rng(7)
    for trial in range(3000):
        size = int(rng.integers(1, 60))
        row = rng.integers(-3, 4, size).astype(np.float64)  # many ties
        if trial % 3 == 0:
            row[rng.random(size) < 0.4] = -np.inf
        if trial % 7 == 0:
            row[rng.random(size) < 0.1] = np.inf
        k = int(rng.integers(1, size + 2))
        assert top_of_row(row.copy(), k, dense=True).tolist() == brute_top(row, k)
        assert top_of_row(row.copy(), k, dense=True).tolist() == top_of_row(row.copy(), k).tolist()


def test_a_dense_row_with_nan_takes_the_general_path() -> None:
    row = np.array([1.0, np.nan, 3.0, 2.0])
    assert top_of_row(row.copy(), 2, dense=True).tolist() == top_of_row(row.copy(), 2).tolist()


def test_the_key_union_equals_numpy_unique() -> None:
    rng = np.random.default_rng(3)
    for _ in range(500):
        n_keys = int(rng.integers(1, 5000))
        keys = rng.integers(0, n_keys, int(rng.integers(1, 400)))
        unique, inverse = _union(keys, n_keys)
        expected, back = np.unique(keys, return_inverse=True)
        assert unique.tolist() == expected.tolist() and inverse.tolist() == back.tolist()
        assert (unique[inverse] == keys).all()


def test_a_rule_without_an_antecedent_never_fires() -> None:
    from recsys.rules.index import _METRICS, RuleIndex

    antecedents = sp.csr_matrix(np.array([[0, 0, 1], [0, 0, 0]], dtype=np.float32))
    metrics = {name: np.ones(2) for name in _METRICS}
    index = RuleIndex(antecedents, np.array([0, 1]), metrics)
    assert index.fired_by(np.array([], dtype=np.int64)).size == 0
    assert index.fired_by(np.array([2])).tolist() == [0]
