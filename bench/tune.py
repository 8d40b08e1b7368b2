"""Small hyperparameter grid on the shared data, every point an MLflow run.

    .venv/bin/python bench/tune.py [MODEL ...] [EVENTS] [--cutoff 2010-09-09] [--include-seen]

Every point is scored on the validation period inside the train part (``_shared``);
prints NDCG@10 per point, then each model's winner refitted on the whole train part and
scored on the test period once. The defaults in ``recsys.models.default_models`` and
``MatrixConfig`` come from this run, but EASE's time term: one protocol alone picks the
targets' 60-day half-life, ``bench/tune_protocols.py`` the default across protocols.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

from _shared import shared_splits

from recsys.split import Split
from training import jobs, tracking
from training.settings import TrainingSettings

GRID: dict[str, dict[str, list[Any]]] = {
    "als": {"factors": [32, 64, 128], "regularization": [0.01, 0.1], "alpha": [1.0, 10.0, 40.0]},
    "bpr": {"factors": [64], "learning_rate": [0.01, 0.05], "iterations": [100, 300]},
    "itemknn": {"similarity": ["cosine", "bm25"], "neighbours": [20, 100, 300]},
    "ease": {
        "regularization": [200.0, 400.0, 600.0],
        "forward_weight": [0.0, 0.15, 0.25, 0.35],
        "target_half_life_days": [0.0, 60.0, 120.0, 180.0],
    },
    "rp3beta": {"alpha": [0.5, 1.0], "beta": [0.3, 0.6], "neighbours": [50, 100, 200]},
    "forward": {"regularization": [500.0, 2000.0, 5000.0], "window_days": [30, 60, 91]},
}
#: Models that binarise the matrix themselves (or, forward, read their own
#: first_days matrix): one weighting is enough.
BINARY_ONLY = {"ease", "rp3beta", "forward"}
WEIGHTINGS = ["binary", "log1p", "bm25"]


def points(model: str) -> list[dict[str, Any]]:
    """Every combination, but EASE's recency targets only without its forward term (one
    model reads one day matrix)."""
    grid = GRID[model]
    every = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    return [p for p in every if not (p.get("forward_weight") and p.get("target_half_life_days"))]


def main() -> None:
    names = [a for a in sys.argv[1:] if a in GRID]
    sys.argv = [a for a in sys.argv if a not in GRID]  # the rest is the splits'
    splits = shared_splits(__doc__ or "")
    wanted = set(names) or set(GRID)
    best: dict[str, tuple[float, dict[str, Any]]] = {}
    for model, weighting in itertools.product(GRID, WEIGHTINGS):
        if model not in wanted or (model in BINARY_ONLY and weighting != "binary"):
            continue
        for point in points(model):
            tree = {model: point, "matrix": {"weighting": weighting}}
            ndcg = scored(model, tree, splits.validation, "tune", splits.include_seen)
            print(f"{model:8} {weighting:7} {point} validation ndcg@10={ndcg:.4f}", flush=True)
            if ndcg > best.get(model, (-1.0, {}))[0]:
                best[model] = (ndcg, tree)
    for model, (ndcg, tree) in best.items():  # the test period, once per model
        test = scored(model, tree, splits.test, "tune-test", splits.include_seen)
        print(f"best {model}: validation ndcg@10={ndcg:.4f}, test ndcg@10={test:.4f} with {tree}")


def scored(model: str, tree: dict[str, Any], split: Split, grid: str, include_seen: bool) -> float:
    """NDCG@10 of ``model`` with the settings ``tree`` on ``split``, logged to MLflow."""
    chosen = jobs.choose_models([model], tree)
    report = jobs.evaluate(split, chosen, 10, jobs.matrix_config(tree), not include_seen)
    with tracking.tracked_run("tune", TrainingSettings(), tree, {"models": model, "grid": grid}):
        tracking.log_metrics(report["models"])
    return float(report["models"][model]["ndcg@10"])


if __name__ == "__main__":
    main()
