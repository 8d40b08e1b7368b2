"""Metrics against a hand-worked example (see the comments for the arithmetic)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.metrics import evaluate_rankings, hits_matrix

RECOMMENDED = np.array([[1, 2, 3], [4, 0, -1], [0, 1, 2]])
RELEVANT = sp.csr_matrix(
    ([1, 1, 1], ([0, 0, 1], [2, 5, 4])), shape=(3, 6)
)  # client 0: {2, 5}; client 1: {4}; client 2: nothing (not averaged)
POPULARITY = np.array([10, 50, 30, 0, 20, 5])  # ranks: 1→1, 2→2, 4→3, 0→4, 5→5, 3→6


def test_hits() -> None:
    assert hits_matrix(RECOMMENDED, RELEVANT).tolist() == [
        [False, True, False],
        [True, False, False],
        [False, False, False],
    ]


def test_every_metric_by_hand() -> None:
    got = evaluate_rankings(RECOMMENDED, RELEVANT, 3, POPULARITY)
    ndcg0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))  # hit at rank 2 of 2 relevant
    expected = {
        "precision@3": (1 / 3 + 1 / 3) / 2,
        "recall@3": (1 / 2 + 1) / 2,  # denominator |relevant|
        "hit_rate@3": 1.0,
        "map@3": ((1 / 2) / 2 + 1.0) / 2,  # AP0 = P@2 / min(3, 2); AP1 = P@1 / 1
        "ndcg@3": (ndcg0 + 1.0) / 2,
        "coverage@3": 5 / 6,  # items 0..4 shown to someone, of 6
        "mean_popularity_rank@3": (1 + 2 + 6 + 3 + 4 + 4 + 1 + 2) / 8,
        "clients": 2.0,
    }
    assert got == pytest.approx(expected)


def test_k_truncates_longer_lists() -> None:
    got = evaluate_rankings(RECOMMENDED, RELEVANT, 1, POPULARITY)
    assert got["precision@1"] == pytest.approx(0.5)  # client 1 hits at rank 1 only
    assert got["ndcg@1"] == pytest.approx(0.5)
