"""Grid over the blend weights on the shared data; every point an MLflow run.

    .venv/bin/python bench/tune_blend.py [EVENTS] [--cutoff 2010-09-09] [--include-seen]

Models are fitted once; each weight vector only re-blends. Association rules keep
a weight of at least 0.1: their reasons ("clients who buy X buy Y: confidence …")
are what a CRM screen says aloud. Prints NDCG@10 and coverage@10 per point on the
validation period inside the train part (``_shared``), then the best point by NDCG and
the best with coverage@10 ≥ 0.30, each refitted on the whole train part and scored on
the test period once. With ``--include-seen`` (bought items may come back): the default
blend with the re-purchase weight and the windows of the re-purchase probability
(:mod:`recsys.ranking.rebuy`) varied; the probability is fitted on the last period of
each train part, as long as the validation period but at most the part's second half
(for the validation scores: the period before it; for the test score: the validation
period itself), and its
coefficients printed: the test's are the defaults of :class:`~recsys.ranking.rebuy.Rebuy`.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import pandas as pd
from _shared import shared_splits

from recsys.evaluation import EvaluationTask, make_task
from recsys.matrix import MatrixConfig, model_matrix
from recsys.models import Scorer, default_models
from recsys.ranking import BlendConfig
from recsys.ranking.evaluate import evaluate_blends, train_rule_index
from recsys.ranking.rebuy import Rebuy, fit_on_events
from recsys.repeat import RepeatIndex
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
#: With ``--include-seen``: the default blend with the re-purchase weight varied, and the
#: windows of the re-purchase probability's item features (not blend weights: fields of
#: :class:`~recsys.ranking.rebuy.Rebuy`). The other weights stay: they are the new-items
#: protocol's too (the repeat source is silent there), and only the ratio of repeat to
#: EASE matters much here (EASE 0.5 with repeat 2.0 scored as EASE 1.0 with repeat 4.0
#: on validation, 0.4491 and 0.4486).
SEEN_GRID = {
    **{n: [w] for n, w in BlendConfig().weights.items()},
    "repeat": [2.0, 3.0, 4.0, 6.0],
    "recent_days": [14.0, 28.0],
    "season_days": [56.0, 91.0],
}
WINDOWS = ("recent_days", "season_days")
MIN_COVERAGE = 0.30


class Fitted(NamedTuple):
    """Everything a blend reads, fitted on one split's train part."""

    task: EvaluationTask
    models: dict[str, Scorer]
    rules: RuleIndex
    repeats: RepeatIndex
    split: Split
    period: pd.Timedelta | None

    @classmethod
    def on(cls, split: Split, include_seen: bool, period: pd.Timedelta | None = None) -> Fitted:
        """Fit the grid's models (each on its own weighting), the rules and repeats; the
        re-purchase probability on the train part's last ``period`` (default: as is)."""
        task = make_task(split, MatrixConfig(), exclude_seen=not include_seen)
        repeats = RepeatIndex.fit(split.train, task.train.clients, task.train.items)
        models = {n: m for n, m in default_models().items() if n in GRID}
        for model in models.values():  # forward: its first_days matrix
            weighting = model.config.weighting
            matrix = model_matrix(split.train, task.config, task.train, weighting, repeats)
            model.fit(matrix, task.groups)
        rules = train_rule_index(split.train, task, RECOMMENDATION_RULES)
        return cls(task, models, rules, repeats, split, period)

    def score(self, point: dict[str, float], grid: str) -> tuple[float, float]:
        """NDCG@10 and coverage@10 of one weight vector (and re-purchase windows),
        logged to MLflow."""
        weights = {n: w for n, w in point.items() if n not in WINDOWS}
        rebuy = self.rebuy(**{n: w for n, w in point.items() if n in WINDOWS})
        blends = {"hybrid": BlendConfig(weights=weights, rebuy=rebuy)}
        metrics = evaluate_blends(
            self.task, self.models, self.rules, blends, 10, repeats=self.repeats
        )["hybrid"]
        with tracking.tracked_run(
            "tune-blend", TrainingSettings(), {"blend": point}, {"grid": grid}
        ):
            tracking.log_metrics(tracking.flatten({"hybrid": metrics}))  # the names as before
        return metrics["ndcg@10"], metrics["coverage@10"]

    def rebuy(self, **windows: float) -> Rebuy:
        """The re-purchase probability with these windows, fitted on the last
        ``period`` of the train part, at most its second half (an early cut-off keeps
        weeks to read features from; printed: the test's are the defaults)."""
        base = Rebuy(**windows)  # type: ignore[arg-type]
        if self.period is None:
            return base
        end = cutoff(self.split)
        first = self.split.train["timestamp"].min().normalize()
        start = max(end - self.period, first + (end - first) / 2).normalize()
        train = self.task.train
        period = (str(start), str(end))
        rebuy = fit_on_events(self.split.train, train.clients, train.items, period, base)
        print(f"re-purchase probability fitted on {start:%Y-%m-%d}..: {rebuy!r}", flush=True)
        return rebuy


def cutoff(split: Split) -> pd.Timestamp:
    """The split's cut-off day."""
    return pd.Timestamp(str(split.description["cutoff"]))


def main() -> None:
    splits = shared_splits(__doc__ or "")
    grid = SEEN_GRID if splits.include_seen else GRID
    # The validation period's length: the re-purchase probability learns from as long.
    period = cutoff(splits.test) - cutoff(splits.validation) if splits.include_seen else None
    fitted = Fitted.on(splits.validation, splits.include_seen, period)
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
    test = Fitted.on(splits.test, splits.include_seen, period)  # the test period, once per winner
    for label, (ndcg, coverage, weights) in chosen.items():
        test_ndcg, test_coverage = test.score(weights, "blend-test")
        print(
            f"{label}: validation ndcg@10={ndcg:.4f} coverage@10={coverage:.3f}; "
            f"test ndcg@10={test_ndcg:.4f} coverage@10={test_coverage:.3f} with {weights}"
        )


if __name__ == "__main__":
    main()
