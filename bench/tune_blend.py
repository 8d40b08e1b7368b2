"""Grid over the blend weights on the shared data; every point an MLflow run.

    .venv/bin/python bench/tune_blend.py [EVENTS] [--cutoff 2010-09-09]

Models are fitted once; each weight vector only re-blends. Prints NDCG@10 and
coverage@10 per point and the best point by NDCG.
"""

from __future__ import annotations

import itertools

from _shared import shared_time_split

from recsys.evaluation import make_task
from recsys.matrix import MatrixConfig
from recsys.models import default_models
from recsys.ranking import BlendConfig
from recsys.ranking.evaluate import evaluate_blends, train_rule_index
from training import tracking
from training.jobs import RECOMMENDATION_RULES
from training.settings import TrainingSettings

GRID = {
    "als": [1.0],
    "itemknn": [0.0, 0.5, 1.0],
    "rules": [0.0, 0.25, 0.5, 1.0],
    "popular": [0.0, 0.05, 0.2],
}


def main() -> None:
    split = shared_time_split(__doc__ or "")
    task = make_task(split, MatrixConfig())
    models = {n: m for n, m in default_models().items() if n in ("als", "itemknn")}
    for model in models.values():
        model.fit(task.train.matrix, task.groups)
    index = train_rule_index(split.train, task, RECOMMENDATION_RULES)
    best: tuple[float, dict[str, float]] = (0.0, {})
    for values in itertools.product(*GRID.values()):
        weights = dict(zip(GRID, values, strict=True))
        result = evaluate_blends(task, models, index, {"hybrid": BlendConfig(weights=weights)}, 10)
        metrics = result["hybrid"]
        with tracking.tracked_run(
            "tune-blend", TrainingSettings(), {"blend": weights}, {"grid": "blend"}
        ):
            tracking.log_metrics({"hybrid": metrics})
        print(
            f"{weights} ndcg@10={metrics['ndcg@10']:.4f} coverage@10={metrics['coverage@10']:.3f}",
            flush=True,
        )
        best = max(best, (metrics["ndcg@10"], weights), key=lambda b: b[0])
    print(f"best: ndcg@10={best[0]:.4f} with {best[1]}")


if __name__ == "__main__":
    main()
