"""Grid over the blend weights on the shared data; every point an MLflow run.

    .venv/bin/python bench/tune_blend.py [EVENTS] [--cutoff 2010-09-09] [--include-seen]

Models are fitted once; each weight vector only re-blends. Association rules keep
a weight of at least 0.1: their reasons ("clients who buy X buy Y: confidence …")
are what a CRM screen says aloud. Prints NDCG@10 and coverage@10 per point on the
validation period inside the train part (``_shared``), then the best point by NDCG and
the best with coverage@10 ≥ 0.30, each refitted on the whole train part and scored on
the test period once. With ``--include-seen``: the default blend, re-purchase weight
varied (bought items may come back).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

from _shared import shared_splits

from recsys import repeat
from recsys.evaluation import EvaluationTask, make_task
from recsys.matrix import MatrixConfig, model_matrix
from recsys.models import Scorer, default_models
from recsys.ranking import BlendConfig
from recsys.ranking.evaluate import evaluate_blends, train_rule_index
from recsys.repeat import HALF_LIFE_DAYS, RepeatIndex
from recsys.rules import RuleIndex
from recsys.split import Split
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
#: With ``--include-seen``: the default blend with the re-purchase source's weight and the
#: buy-again half-life (days; not a blend weight: set on :mod:`recsys.repeat`) varied.
SEEN_GRID = {
    **{n: [w] for n, w in BlendConfig().weights.items()},
    "repeat": [1.0, 2.0, 5.0],
    "half_life": [30.0, 60.0, 120.0, 365.0],
}
MIN_COVERAGE = 0.30


class Fitted(NamedTuple):
    """Everything a blend reads, fitted on one split's train part."""

    task: EvaluationTask
    models: dict[str, Scorer]
    rules: RuleIndex
    repeats: RepeatIndex

    @classmethod
    def on(cls, split: Split, include_seen: bool) -> Fitted:
        """Fit the grid's models (each on its own weighting), the rules and repeats."""
        task = make_task(split, MatrixConfig(), exclude_seen=not include_seen)
        repeats = RepeatIndex.fit(split.train, task.train.clients, task.train.items)
        models = {n: m for n, m in default_models().items() if n in GRID}
        for model in models.values():  # forward: its first_days matrix
            weighting = model.config.weighting
            matrix = model_matrix(split.train, task.config, task.train, weighting, repeats)
            model.fit(matrix, task.groups)
        return cls(task, models, train_rule_index(split.train, task, RECOMMENDATION_RULES), repeats)

    def score(self, point: dict[str, float], grid: str) -> tuple[float, float]:
        """NDCG@10 and coverage@10 of one weight vector, logged to MLflow."""
        weights = {n: w for n, w in point.items() if n != "half_life"}
        # A module constant read at scoring time: the grid sets it, nothing else does.
        repeat.HALF_LIFE_DAYS = point.get("half_life", HALF_LIFE_DAYS)
        blends = {"hybrid": BlendConfig(weights=weights)}
        metrics = evaluate_blends(
            self.task, self.models, self.rules, blends, 10, repeats=self.repeats
        )["hybrid"]
        with tracking.tracked_run(
            "tune-blend", TrainingSettings(), {"blend": point}, {"grid": grid}
        ):
            tracking.log_metrics({"hybrid": metrics})
        return metrics["ndcg@10"], metrics["coverage@10"]


def main() -> None:
    splits = shared_splits(__doc__ or "")
    grid = SEEN_GRID if splits.include_seen else GRID
    fitted = Fitted.on(splits.validation, splits.include_seen)
    points = []
    for values in itertools.product(*grid.values()):
        weights = dict(zip(grid, values, strict=True))
        ndcg, coverage = fitted.score(weights, "blend")
        print(f"{weights} validation ndcg@10={ndcg:.4f} coverage@10={coverage:.3f}", flush=True)
        points.append((ndcg, coverage, weights))
    chosen = {"best": max(points, key=lambda p: p[0])}
    wide = [p for p in points if p[1] >= MIN_COVERAGE]
    if wide:
        chosen[f"best with coverage ≥ {MIN_COVERAGE}"] = max(wide, key=lambda p: p[0])
    test = Fitted.on(splits.test, splits.include_seen)  # the test period, once per winner
    for label, (ndcg, coverage, weights) in chosen.items():
        test_ndcg, test_coverage = test.score(weights, "blend-test")
        print(
            f"{label}: validation ndcg@10={ndcg:.4f} coverage@10={coverage:.3f}; "
            f"test ndcg@10={test_ndcg:.4f} coverage@10={test_coverage:.3f} with {weights}"
        )


if __name__ == "__main__":
    main()
