"""The repeat/explore metrics (Li et al., TOIS 2023) against a hand-made truth, and
how they reach the evaluation report: intervals, the paired comparison, the table."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.evaluation import evaluate_model, make_task
from recsys.matrix import MatrixConfig
from recsys.metrics import evaluate_rankings, repeat_explore
from recsys.models import PopularScorer, PPopScorer
from recsys.split import split_by_time
from tests.test_evaluation import EVENTS
from training import jobs
from training.report import as_table
from training.report import repeat_explore as repeat_table


def _rows(sets: list[list[int]], n: int = 6) -> sp.csr_matrix:
    rows = [r for r, items in enumerate(sets) for _ in items]
    cols = [c for items in sets for c in items]
    return sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(sets), n))


# client 0: bought 0, 1, 2 before; buys 1 (repeat), 3 and 4 (explore); offered 1, 3, 0.
# client 1: bought 5; buys 0 and 2 (explore only); offered 5, 2, nothing.
# client 2: bought 0; buys 0 (repeat only); offered 2, 0, 1.
# client 3: bought 1; buys nothing (not averaged); offered 1, 2, 3.
SEEN = _rows([[0, 1, 2], [5], [0], [1]])
RELEVANT = _rows([[1, 3, 4], [0, 2], [0], []])
RECOMMENDED = np.array([[1, 3, 0], [5, 2, -1], [2, 0, 1], [1, 2, 3]])
D = 1 / math.log2(3)  # the discount of rank 2


def test_the_split_by_hand() -> None:
    """Repeat ratio of the lists: client 0 was offered 1 and 0 it had bought (2/3),
    client 1 item 5 (1/3), client 2 item 0 (1/3): mean 4/9. Of the truth: 1/3, 0, 1:
    mean 4/9. Repeat part (clients 0 and 2): 0 finds {1} at rank 1 (recall 1, NDCG
    1), 2 finds {0} at rank 2 (recall 1, NDCG D / 1). Explore part (clients 0 and 1):
    each finds one of two at rank 2 (recall ½, NDCG D / (1 + D))."""
    got = evaluate_rankings(RECOMMENDED, RELEVANT, 3, np.ones(6), seen=SEEN)
    assert got["repeat_ratio@3"] == pytest.approx(4 / 9)
    assert got["truth_repeat_ratio"] == pytest.approx(4 / 9)
    assert got["recall_repeat@3"] == pytest.approx(1.0)
    assert got["ndcg_repeat@3"] == pytest.approx((1 + D) / 2)
    assert got["recall_explore@3"] == pytest.approx(0.5)
    assert got["ndcg_explore@3"] == pytest.approx(D / (1 + D))


def test_each_part_holds_its_own_clients() -> None:
    values = repeat_explore(RECOMMENDED[:3], RELEVANT[:3], SEEN[:3], 3)
    np.testing.assert_allclose(values["ndcg_repeat@3"], [1.0, D])  # clients 0 and 2
    np.testing.assert_allclose(values["recall_explore@3"], [0.5, 0.5])  # clients 0 and 1
    assert len(values["repeat_ratio@3"]) == 3
    # No client with a repeat part: the repeat metrics are left out, not zero.
    alone = repeat_explore(RECOMMENDED[[1]], RELEVANT[[1]], SEEN[[1]], 3)
    assert "ndcg_repeat@3" not in alone and "ndcg_explore@3" in alone


def test_without_seen_items_there_is_no_split() -> None:
    got = evaluate_rankings(RECOMMENDED, RELEVANT, 3, np.ones(6))
    assert not [m for m in got if "repeat" in m or "explore" in m]


def test_the_task_keeps_what_clients_bought_where_it_may_be_offered() -> None:
    """Train: a bought x, y; b bought x, z. Test: a buys x (repeat), z and the unseen
    "new" (explore); b buys x (repeat). Popularity offers x then y to both (k = 2): a
    had bought both (ratio 1), b only x (½); mean ¾. Truth: a 1/3, b 1: mean 2/3.
    Both find their repeat x at rank 1; a finds neither z nor new."""
    task = make_task(split_by_time(EVENTS, "2024-01-15"), MatrixConfig(), exclude_seen=False)
    assert task.seen is not None and task.seen.shape == task.relevant.shape
    assert task.seen.toarray().tolist() == [[1, 1, 0, 0], [1, 0, 1, 0]]  # x, y, z, new
    got = evaluate_model(PopularScorer(), task, k=2)
    assert got["repeat_ratio@2"] == pytest.approx(0.75)
    assert got["truth_repeat_ratio"] == pytest.approx(2 / 3)
    assert got["ndcg_repeat@2"] == got["recall_repeat@2"] == pytest.approx(1.0)
    assert got["ndcg_explore@2"] == got["recall_explore@2"] == 0.0
    excluding = make_task(split_by_time(EVENTS, "2024-01-15"), MatrixConfig())
    assert excluding.seen is None


def test_the_report_gives_intervals_comparisons_and_a_table() -> None:
    split = split_by_time(EVENTS, "2024-01-15")
    models = {"popular": PopularScorer(), "ppop": PPopScorer()}
    report = jobs.evaluate(split, models, 2, MatrixConfig(), False, compare=("ppop", "popular"))
    ppop = report["models"]["ppop"]
    for metric in ("repeat_ratio@2", "truth_repeat_ratio", "ndcg_repeat@2", "ndcg_explore@2"):
        low, high = ppop[f"{metric}_ci"]
        assert low <= ppop[metric] <= high
    assert set(report["compare"]) >= {"ndcg_repeat@2", "recall_explore@2"}
    table = as_table(report, 2)
    assert "repeat (bought before the cut-off)" in table and "ndcg_rep@2 95% CI" in table
    assert "ppop − popular ndcg_repeat@2" in table


def test_a_row_without_the_split_reads_as_a_dash() -> None:
    """Blends are ranked elsewhere and may carry no split: their cells read "–"."""
    with_split = {"ndcg@2": 0.5, "truth_repeat_ratio": 0.25, "ndcg_repeat@2_ci": [0.1, 0.2]}
    blend = {"ndcg@2": 0.5}
    report = {"models": {"ppop": with_split, "hybrid": blend}}
    lines = [line for line in repeat_table(report, 2) if line.startswith(("ppop", "hybrid"))]
    assert "0.2500" in lines[-2] and "0.1000–0.2000" in lines[-2]
    assert lines[-1].split()[1:] == ["–"] * 8
