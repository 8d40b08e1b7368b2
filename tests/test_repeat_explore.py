"""The repeat/explore metrics (Li et al., TOIS 2023) against a hand-made truth, and
how they reach the evaluation report: intervals, the paired comparison, the table, for
model rows and blend rows alike."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from recsys.evaluation import EvaluationTask, evaluate_model, make_task
from recsys.matrix import MatrixConfig
from recsys.metrics import evaluate_rankings, repeat_explore
from recsys.models import PopularScorer, PPopScorer, Recommendations
from recsys.ranking import evaluate as blend_evaluation
from recsys.split import split_by_time
from tests.test_evaluation import EVENTS
from training import jobs
from training.cli import app
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
    """A row evaluated without the split (a report of another protocol, an older
    report) reads "–" in its cells."""
    with_split = {"ndcg@2": 0.5, "truth_repeat_ratio": 0.25, "ndcg_repeat@2_ci": [0.1, 0.2]}
    other = {"ndcg@2": 0.5}
    report = {"models": {"ppop": with_split, "hybrid": other}}
    lines = [line for line in repeat_table(report, 2) if line.startswith(("ppop", "hybrid"))]
    assert "0.2500" in lines[-2] and "0.1000–0.2000" in lines[-2]
    assert lines[-1].split()[1:] == ["–"] * 8


# The hand-made truth of EVENTS at 2024-01-15 (tests/test_evaluation.py), read off its
# lines, not computed: a bought x and y before and buys x, z and the unseen "new"
# after; b bought x and z before and buys x again.
BOUGHT = {"a": {"x", "y"}, "b": {"x", "z"}}
REPEAT = {"a": {"x"}, "b": {"x"}}
EXPLORE = {"a": {"z", "new"}, "b": set()}


def _split_by_hand(lists: dict[str, list[str]], k: int) -> dict[str, float]:
    """The split of ``lists`` (client → item ids) against the hand-made truth, one
    client at a time in plain Python: NDCG = Σ 1/log2(rank + 1) over hits, over the
    same sum for min(k, |part|) hits; a part's metrics over the clients that have it."""

    def ndcg(shown: list[str], part: set[str]) -> float:
        found = sum(1 / math.log2(r + 2) for r, item in enumerate(shown) if item in part)
        return found / sum(1 / math.log2(r + 2) for r in range(min(k, len(part))))

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    out = {
        f"repeat_ratio@{k}": mean([len(set(lists[c]) & BOUGHT[c]) / k for c in lists]),
        "truth_repeat_ratio": mean([1 / 3, 1.0]),  # a: x of x, z, new; b: x of x
    }
    for name, part in (("repeat", REPEAT), ("explore", EXPLORE)):
        have = [c for c in lists if part[c]]
        out[f"recall_{name}@{k}"] = mean(
            [len(set(lists[c]) & part[c]) / len(part[c]) for c in have]
        )
        out[f"ndcg_{name}@{k}"] = mean([ndcg(lists[c], part[c]) for c in have])
    return out


def _ids(task: EvaluationTask, row: np.ndarray) -> list[str]:
    """One served list's item ids (its ``-1`` padding dropped)."""
    return task.train.items.to_ids(row[row >= 0]).tolist()


def _cells(report: dict[str, Any], name: str, k: int) -> list[str]:
    """Row ``name``'s cells in the repeat/explore table."""
    line = next(line for line in repeat_table(report, k) if line.startswith(f"{name} "))
    return line.split()[1:]


class Replay(PopularScorer):
    """A model row whose lists are given: the blend's, scored by the models' code."""

    def __init__(self, items: np.ndarray) -> None:
        super().__init__()
        self.items = items

    def recommend(self, rows: np.ndarray, history: Any, k: int = 10, **_: Any) -> Recommendations:
        return Recommendations(items=self.items[:, :k], scores=np.ones(self.items[:, :k].shape))


def test_blend_rows_carry_the_split_as_model_rows_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``hybrid`` and ``rules`` rows of ``evaluate --include-seen`` carry every
    repeat/explore metric with its interval: for the lists each blend served, the
    values a hand computation on the hand-made truth gives, and the values, intervals
    and table cells a model row serving the same lists gets; the paired comparison
    covers them."""
    served: list[tuple[EvaluationTask, np.ndarray]] = []
    rank_all = blend_evaluation._rank_all

    def recording(recommender: Any, task: EvaluationTask, k: int) -> np.ndarray:
        served.append((task, rank_all(recommender, task, k)))
        return served[-1][1]

    monkeypatch.setattr(blend_evaluation, "_rank_all", recording)
    split, k = split_by_time(EVENTS, "2024-01-15"), 2
    models = jobs.choose_models(["hybrid"], {})
    blends = jobs.choose_blends(["rules", "hybrid"], {})
    report = jobs.evaluate(
        split, models, k, MatrixConfig(), False, blends, compare=("hybrid", "popular")
    )
    for name, (task, items) in zip(blends, served, strict=True):
        clients = task.train.clients.to_ids(task.rows).tolist()
        assert clients == ["a", "b"]
        lists = {c: _ids(task, row) for c, row in zip(clients, items, strict=True)}
        row, by_hand = report["models"][name], _split_by_hand(lists, k)
        assert {m: row[m] for m in by_hand} == pytest.approx(by_hand), (name, lists)
        replayed = jobs.evaluate(split, {name: Replay(items)}, k, MatrixConfig(), False)
        model_row = replayed["models"][name]
        for metric in by_hand:
            assert row[f"{metric}_ci"] == pytest.approx(model_row[f"{metric}_ci"]), metric
            assert row[metric] == pytest.approx(model_row[metric]), metric
        assert _cells(report, name, k) == _cells(replayed, name, k)
        assert "–" not in _cells(report, name, k)
    assert set(report["compare"]) >= {f"ndcg_repeat@{k}", f"ndcg_explore@{k}"}
    assert "hybrid − popular ndcg_repeat@2" in as_table(report, k)


def test_evaluate_include_seen_gives_blend_rows_the_split_in_json_mlflow_and_table(
    sample_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``recsys evaluate --include-seen``: the ``hybrid`` and ``rules`` rows carry the
    repeat/explore metrics with intervals, as ``ppop`` does, in the JSON, in MLflow and
    in the table (every cell a figure)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("RECSYS_MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    args = ["evaluate", "--events", str(sample_data), "--format", "online-retail", "--k", "5"]
    args += ["--cutoff", "2010-09-09", "--include-seen", "--set", "rules.min_support=0.02"]
    args += ["--models", "ppop,rules,hybrid", "--compare", "hybrid,ppop"]
    report = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    run = MlflowClient(uri).get_run(report["mlflow_run_id"])
    for name in ("ppop", "rules", "hybrid"):
        row = report["models"][name]
        for metric in ("repeat_ratio@5", "truth_repeat_ratio", "ndcg_repeat@5", "ndcg_explore@5"):
            low, high = row[f"{metric}_ci"]
            assert low <= row[metric] <= high, (name, metric)
        key = f"{name}.ndcg_repeat_at_5"
        assert run.data.metrics[key] == pytest.approx(row["ndcg_repeat@5"])
        assert run.data.metrics[f"{key}_ci_low"] == pytest.approx(row["ndcg_repeat@5_ci"][0])
    assert "ndcg_explore@5" in report["compare"]
    table = CliRunner().invoke(app, args).output
    block = table[table.index("repeat (bought before") :].split("\n\n")[0].splitlines()
    shown = [line.split() for line in block if line.startswith(("rules ", "hybrid "))]
    assert len(shown) == 2 and all(len(c) == 9 and "–" not in c for c in shown), shown
