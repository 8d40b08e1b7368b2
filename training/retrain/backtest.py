"""Backtest: candidate and production configurations on the same held-out days.

Both are fitted on every event before the newest ``holdout_days`` and scored on them,
the project's protocol (:func:`recsys.evaluation.make_task`: clients seen on both
sides, new items only) through the served blend (the ``hybrid`` row of
``recsys evaluate``). The paired difference of NDCG@10 over the same clients, with
its bootstrap interval (:mod:`recsys.confidence`), is what the gate reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.confidence import Bootstrap
from recsys.evaluation import EvaluationTask, make_task
from recsys.matrix import model_matrix
from recsys.metrics import PerClient
from recsys.ranking import BlendConfig
from recsys.ranking.evaluate import evaluate_blends, train_rule_index
from recsys.repeat import RepeatIndex
from recsys.split import Split, split_by_time
from training.retrain.production import Configuration

__all__ = ["Backtest", "K", "Scored", "backtest", "holdout_split"]

#: The cut-off rank the gate reads.
K = 10
_BLEND = "hybrid"


@dataclass(frozen=True)
class Scored:
    """One configuration's figures on the held-out days, and its per-client NDCG."""

    ndcg: float
    coverage: float
    per_client: np.ndarray


@dataclass(frozen=True)
class Backtest:
    """Both sides on the same clients; ``production`` is ``None`` when there is none."""

    candidate: Scored
    production: Scored | None
    difference: float
    interval: tuple[float, float]
    cutoff: str
    clients: int
    shared_fit: bool
    """The two configurations are the same: one fit stands for both (difference 0)."""


def holdout_split(events: pd.DataFrame, holdout_days: int) -> Split:
    """Train on every day before the newest ``holdout_days`` calendar days."""
    newest = pd.Timestamp(events["timestamp"].max()).normalize()
    return split_by_time(events, newest + pd.Timedelta(days=1 - holdout_days))


def backtest(
    events: pd.DataFrame,
    candidate: Configuration,
    production: Configuration | None,
    holdout_days: int,
) -> Backtest:
    """Fit and score both configurations; the paired difference is candidate − production."""
    split = holdout_split(events, holdout_days)
    task = make_task(split, candidate.matrix)
    mine = _score(split, task, candidate)
    shared = production is not None and production.same_as(candidate)
    theirs = mine if shared or production is None else _score(split, task, production)
    cutoff, n = str(split.description["cutoff"]), len(task.rows)
    if production is None:
        return Backtest(mine, None, 0.0, (0.0, 0.0), cutoff, n, False)
    d = Bootstrap(n).difference(mine.per_client, theirs.per_client)
    return Backtest(mine, theirs, d.mean, (d.low, d.high), cutoff, n, shared)


def _score(split: Split, task: EvaluationTask, config: Configuration) -> Scored:
    """Fit ``config``'s models and rules on the train part; score the served blend."""
    if config.matrix != task.config:  # the same clients and truth, its own weighting
        task = _retask(split, task, config)
    repeats = RepeatIndex.fit(split.train, task.train.clients, task.train.items)
    for model in config.models.values():
        # Each model on its own weighting (and settings), as training fits it.
        settings = model.config.matrix_settings()
        matrix = model_matrix(
            split.train, task.config, task.train, model.config.weighting, repeats, settings
        )
        model.fit(matrix, task.groups)
    rules = train_rule_index(split.train, task, config.rules)
    values: dict[str, PerClient] = {}
    blends = {_BLEND: BlendConfig()}
    found = evaluate_blends(task, config.models, rules, blends, K, values, repeats)[_BLEND]
    per_client = np.asarray(values[_BLEND][f"ndcg@{K}"], dtype=np.float64)
    return Scored(float(found[f"ndcg@{K}"]), float(found[f"coverage@{K}"]), per_client)


def _retask(split: Split, task: EvaluationTask, config: Configuration) -> EvaluationTask:
    """The task under another matrix config; its clients must be the same (paired)."""
    other = make_task(split, config.matrix)
    if not np.array_equal(other.rows, task.rows):
        from recsys.errors import ConfigError

        raise ConfigError("--set matrix.*: the two configurations evaluate different clients")
    return other
