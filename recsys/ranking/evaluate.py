"""Evaluate the blend (and association rules alone) with the same protocol as models."""

from __future__ import annotations

import time
from datetime import date, timedelta

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.evaluation import EvaluationTask
from recsys.metrics import PerClient, evaluate_rankings
from recsys.models import Scorer
from recsys.ranking.blend import BlendConfig
from recsys.ranking.recommender import HybridRecommender, RequestOptions
from recsys.repeat import RepeatIndex
from recsys.rules import RuleIndex, RulesConfig, build_baskets, mine_rules

__all__ = ["evaluate_blends", "train_rule_index"]

#: The "rules" row: association rules, topped up by popularity when they run out.
RULES_ONLY = {"rules": 1.0, "popular": 0.01}


def train_rule_index(events: pd.DataFrame, task: EvaluationTask, config: RulesConfig) -> RuleIndex:
    """Mine rules from the train part's baskets over the train item columns."""
    baskets = build_baskets(events, task.train.items)
    return RuleIndex.from_rules(mine_rules(baskets, config), len(task.train.items))


def _rank_all(recommender: HybridRecommender, task: EvaluationTask, k: int) -> np.ndarray:
    # Re-purchases are scored as of the end of the train part (not today).
    repeats = recommender.bundle.repeats
    day = None if repeats is None else date(1970, 1, 1) + timedelta(days=int(repeats.as_of))
    options = RequestOptions(exclude_purchased=task.exclude_seen, day=day)
    chunks = []
    for start in range(0, len(task.rows), 512):
        rows = task.rows[start : start + 512]
        history = task.train.matrix[rows]
        empty = sp.csr_matrix(history.shape, dtype=np.float32)
        chunks.append(recommender.rank(rows, history, empty, k, options).blended.items)
    return np.vstack(chunks)


def evaluate_blends(
    task: EvaluationTask,
    fitted: dict[str, Scorer],
    rules: RuleIndex,
    blends: dict[str, BlendConfig],
    k: int,
    per_client: dict[str, PerClient] | None = None,
    repeats: RepeatIndex | None = None,
) -> dict[str, dict[str, float]]:
    """Metrics of each named blend, given fitted CF models, mined rules and the
    re-purchase index (``per_client``: receives each blend's per-client values by name),
    scored by the models' own code (:func:`recsys.metrics.evaluate_rankings`): where
    bought items count, the repeat/explore split too.
    A blend lists at most ``MAX_K`` items: at a larger ``k`` the ranks after them count
    as misses (:func:`recsys.metrics.evaluate_rankings`)."""
    n_items = len(task.train.items)
    titles = np.full(n_items, "", dtype=str)
    bundle = Bundle(task.train, fitted, task.config, "evaluation", titles, repeats=repeats)
    popularity = np.asarray((task.train.matrix > 0).sum(axis=0)).ravel()
    results = {}
    for name, config in blends.items():
        started = time.perf_counter()
        ranked = _rank_all(HybridRecommender(bundle, rules, None, config), task, k)
        values: PerClient | None = None if per_client is None else per_client.setdefault(name, {})
        metrics = evaluate_rankings(ranked, task.relevant, k, popularity, values, task.seen)
        results[name] = {
            **metrics,
            "fit_seconds": 0.0,
            "recommend_seconds": time.perf_counter() - started,
        }
    return results
