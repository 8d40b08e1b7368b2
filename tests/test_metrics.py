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


def test_rankings_shorter_than_k_count_the_missing_ranks_as_misses() -> None:
    # Client 0 relevant {1, 2, 5}, offered only [2, 0] at k = 4 (a blend lists at most
    # MAX_K items): one hit at rank 1; the ideal list still holds min(4, 3) = 3 hits.
    relevant = sp.csr_matrix(([1, 1, 1], ([0, 0, 0], [1, 2, 5])), shape=(1, 6))
    got = evaluate_rankings(np.array([[2, 0]]), relevant, 4, POPULARITY)
    assert got["precision@4"] == pytest.approx(1 / 4)
    assert got["recall@4"] == pytest.approx(1 / 3)
    assert got["map@4"] == pytest.approx(1 / 3)  # P@1 · 1 / min(4, 3)
    assert got["ndcg@4"] == pytest.approx(1 / (1 + 1 / math.log2(3) + 1 / math.log2(4)))


def test_tied_popularity_shares_the_mean_rank() -> None:
    # Buyers 9, 9 (items 1, 5) share ranks 1-2 → 1.5; 5, 5, 5 (items 0, 2, 4) share
    # ranks 3-5 → 4; item 3 is 6th. Shown: 0, 3, 5 → (4 + 6 + 1.5) / 3.
    popularity = np.array([5, 9, 5, 1, 5, 9])
    relevant = sp.csr_matrix(([1], ([0], [2])), shape=(1, 6))
    got = evaluate_rankings(np.array([[0, 3, 5]]), relevant, 3, popularity)
    assert got["mean_popularity_rank@3"] == pytest.approx((4 + 6 + 1.5) / 3)
