"""Grid over the blend weights on the shared data; every point an MLflow run.

    .venv/bin/python bench/tune_blend.py [EVENTS] [--cutoff 2010-09-09]

Models are fitted once; each weight vector only re-blends. Association rules keep
a weight of at least 0.1: their reasons ("clients who buy X buy Y: confidence …")
are what a CRM screen says aloud. Prints NDCG@10 and coverage@10 per point, the
best point by NDCG, and the best with coverage@10 ≥ 0.30.
"""

from __future__ import annotations

import itertools

from _shared import shared_time_split

from recsys.evaluation import make_task
from recsys.matrix import MatrixConfig, model_matrix
from recsys.models import default_models
from recsys.ranking import BlendConfig
from recsys.ranking.evaluate import evaluate_blends, train_rule_index
from training import tracking
from training.jobs import RECOMMENDATION_RULES
from training.settings import TrainingSettings

GRID = {
    "ease": [1.0],
    "als": [0.0, 0.5, 1.0],
    "rp3beta": [0.0, 0.5, 1.0],
    "itemknn": [0.0, 0.5],
    "rules": [0.1, 0.25],
    "popular": [0.0, 0.1],
    "forward": [0.0, 0.25, 0.5],
}
MIN_COVERAGE = 0.30


def main() -> None:
    split = shared_time_split(__doc__ or "")
    task = make_task(split, MatrixConfig())
    models = {n: m for n, m in default_models().items() if n in GRID}
    for model in models.values():  # each on its own weighting (forward: first_days)
        matrix = model_matrix(split.train, task.config, task.train, model.config.weighting)
        model.fit(matrix, task.groups)
    index = train_rule_index(split.train, task, RECOMMENDATION_RULES)
    points = []
    for values in itertools.product(*GRID.values()):
        weights = dict(zip(GRID, values, strict=True))
        result = evaluate_blends(task, models, index, {"hybrid": BlendConfig(weights=weights)}, 10)
        metrics = result["hybrid"]
        with tracking.tracked_run(
            "tune-blend", TrainingSettings(), {"blend": weights}, {"grid": "blend"}
        ):
            tracking.log_metrics({"hybrid": metrics})
        ndcg, coverage = metrics["ndcg@10"], metrics["coverage@10"]
        print(f"{weights} ndcg@10={ndcg:.4f} coverage@10={coverage:.3f}", flush=True)
        points.append((ndcg, coverage, weights))
    best = max(points, key=lambda p: p[0])
    print(f"best: ndcg@10={best[0]:.4f} coverage@10={best[1]:.3f} with {best[2]}")
    wide = [p for p in points if p[1] >= MIN_COVERAGE]
    if wide:
        chosen = max(wide, key=lambda p: p[0])
        print(
            f"best with coverage ≥ {MIN_COVERAGE}: ndcg@10={chosen[0]:.4f} "
            f"coverage@10={chosen[1]:.3f} with {chosen[2]}"
        )


if __name__ == "__main__":
    main()
