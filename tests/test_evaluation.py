"""The evaluation protocol, checked on a hand-made split."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.errors import ConfigError
from recsys.evaluation import evaluate_model, make_task
from recsys.matrix import MatrixConfig
from recsys.models import PopularScorer
from recsys.ranking.blend import BlendConfig
from recsys.ranking.evaluate import evaluate_blends
from recsys.rules import RuleIndex
from recsys.split import split_by_time
from tests.test_matrix import events as frame

EVENTS = frame(
    [
        ("a", "x", "2024-01-01"),
        ("a", "y", "2024-01-02"),
        ("b", "x", "2024-01-03"),
        ("b", "z", "2024-01-03"),
        ("a", "x", "2024-02-01"),  # a re-buys x: not relevant when excluding seen
        ("a", "z", "2024-02-01"),  # a's new item: relevant
        ("a", "new", "2024-02-02"),  # unseen in train: relevant, a guaranteed miss
        ("b", "x", "2024-02-03"),  # b only re-buys: b is not evaluated
        ("c", "y", "2024-02-03"),  # c not in train: not evaluated
    ]
)


def test_relevant_items_are_new_purchases_of_known_clients() -> None:
    task = make_task(split_by_time(EVENTS, "2024-01-15"), MatrixConfig(weighting="binary"))
    assert task.train.clients.to_ids(task.rows).tolist() == ["a"]
    assert task.relevant.shape == (1, 4)  # x, y, z + the test-only "new"
    assert sorted(task.relevant.indices.tolist()) == [2, 3]  # z and new


def test_including_seen_counts_rebuys() -> None:
    task = make_task(split_by_time(EVENTS, "2024-01-15"), MatrixConfig(), exclude_seen=False)
    assert task.train.clients.to_ids(task.rows).tolist() == ["a", "b"]
    assert sorted(task.relevant[0].indices.tolist()) == [0, 2, 3]


def test_known_items_only_drops_test_only_items() -> None:
    split = split_by_time(EVENTS, "2024-01-15")
    task = make_task(split, MatrixConfig(), known_items_only=True)
    assert task.relevant.shape == (1, 3)  # x, y, z: "new" is not a column
    assert task.relevant.indices.tolist() == [2]  # z only
    # a's only test purchase is the item train never saw: a is evaluated by default (a
    # sure miss) and by nobody with known items only.
    only = EVENTS.iloc[[0, 1, 2, 3, 6]]
    assert make_task(split_by_time(only, "2024-01-15"), MatrixConfig()).rows.tolist() == [0]
    with pytest.raises(ConfigError, match="no client bought a new item"):
        make_task(split_by_time(only, "2024-01-15"), MatrixConfig(), known_items_only=True)


def test_popular_scores_by_hand() -> None:
    task = make_task(split_by_time(EVENTS, "2024-01-15"), MatrixConfig(weighting="binary"))
    metrics = evaluate_model(PopularScorer(), task, k=2)
    # Train buyers: x 2, y 1, z 1. a has seen x and y, so it is offered z (a hit) only;
    # relevant {z, new}: precision 1/2, recall 1/2, NDCG = 1 / (1 + 1/log2 3).
    assert metrics["precision@2"] == 0.5 and metrics["recall@2"] == 0.5
    assert np.isclose(metrics["ndcg@2"], 1 / (1 + 1 / np.log2(3)))


def test_blend_metrics_at_k_beyond_what_a_blend_returns() -> None:
    """A blend lists at most MAX_K = 100 items; at k = 150 the ranks after them are
    misses, and the ideal list still holds min(150, |relevant|) = 120 hits. Train: b
    bought items 0-129, c 0-120, a item 0 (buyers: 0 three, 1-120 two, 121-129 one).
    a then buys 1-120: popularity offers a 100 of them, all hits."""
    names = [f"i{n:03d}" for n in range(130)]
    train: list[tuple[str | None, str, str]] = [("a", names[0], "2024-01-01")]
    train += [("b", name, "2024-01-02") for name in names]
    train += [("c", name, "2024-01-02") for name in names[:121]]
    test: list[tuple[str | None, str, str]] = [("a", n, "2024-02-01") for n in names[1:121]]
    split = split_by_time(frame(train + test), "2024-01-15")
    task = make_task(split, MatrixConfig(weighting="binary"))
    metrics = {name: np.zeros(0) for name in ("support", "confidence", "lift", "leverage")}
    rules = RuleIndex(sp.csr_matrix((0, 130), dtype=np.float32), np.zeros(0, np.int64), metrics)
    blends = {"popular": BlendConfig(weights={"popular": 1.0}, candidates=1000)}
    got = evaluate_blends(task, {}, rules, blends, k=150)["popular"]
    discounts = [1 / math.log2(rank + 1) for rank in range(1, 151)]
    assert got["precision@150"] == pytest.approx(100 / 150)
    assert got["recall@150"] == pytest.approx(100 / 120)
    assert got["map@150"] == pytest.approx(100 / 120)  # precision 1 at each of 100 hits
    assert got["ndcg@150"] == pytest.approx(sum(discounts[:100]) / sum(discounts[:120]))


def test_the_verdict_says_why_when_cf_does_not_win() -> None:
    from training.report import verdict

    report: dict[str, Any] = {
        "models": {"popular": {"ndcg@10": 0.05}, "als": {"ndcg@10": 0.055}},
        "data": {"evaluated_clients": 12},
    }
    lines = verdict(report, 10)
    assert "als, NDCG@10 0.0550 = 1.10 × popularity (0.0500)" in lines[1]
    assert "12 evaluated clients" in lines[2] and "--cutoff" in lines[2]
    report["models"]["als"]["ndcg@10"] = 0.08
    assert len(verdict(report, 10)) == 2
