"""Audiences measured offline: for the items most bought after a cut-off, does each
item's audience hold its actual buyers?

The model is fitted on the events before the cut-off; for each of the ``n_items``
items with the most distinct buyers after it (among items the model knows), its
audience of ``k`` is read on the cut-off's eve and compared with the known clients who
bought it after: precision@k (buyers among the k) and recall@k (the share of its
buyers the k hold), averaged over items, with 95 % bootstrap intervals over items
(:class:`~recsys.confidence.Bootstrap`, one draw of items shared by every row, so the
rows are paired). The clients an audience must leave out (bought it within its usual
interval, as of the cut-off) are neither listed nor counted as buyers, for every row
alike: the task is whom to ask among the clients one may ask. New clients after the
cut-off are in no audience and not counted. Rows:

- ``model``: the audience (:func:`~recsys.audience.scored.score_clients`);
- ``blend_only``: the same blend scores, not weighed by the client's purchases;
- ``most_active``: the k clients with the most purchases, the same for every item;
- ``past_buyers``: the item's past buyers, the most recent purchase first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.audience.blended import DEPTH
from recsys.audience.due import activity
from recsys.audience.scored import Scored, ranking, score_clients
from recsys.confidence import Bootstrap
from recsys.errors import ConfigError
from recsys.ranking import HybridRecommender

__all__ = ["AudienceEvaluation", "evaluate_audiences", "most_bought"]

ROWS = ("model", "blend_only", "most_active", "past_buyers")


@dataclass(frozen=True)
class AudienceEvaluation:
    """Per row (:data:`ROWS`): ``precision@k`` and ``recall@k`` with their ``_ci``;
    and what was measured (items, buyers, the share of buyers left out)."""

    rows: dict[str, dict[str, Any]]
    facts: dict[str, Any]


def most_bought(recommender: HybridRecommender, test: pd.DataFrame, n: int) -> np.ndarray:
    """The columns of the ``n`` items with the most distinct buyers in ``test`` (ties:
    item id), among the items the bundle knows."""
    known = test.dropna(subset=["client_id"])
    buyers = known.groupby(known["item_id"].astype(str))["client_id"].nunique()
    ranked = buyers.reset_index().sort_values(["client_id", "item_id"], ascending=[False, True])
    columns = recommender.bundle.data.items.index(ranked["item_id"])
    return columns[columns >= 0][:n]


def _buyers(
    recommender: HybridRecommender, test: pd.DataFrame, targets: np.ndarray
) -> sp.csc_matrix:
    """Known clients × targets, 1 where the client bought the target in ``test``."""
    data = recommender.bundle.data
    known = test.dropna(subset=["client_id"])
    rows = data.clients.index(known["client_id"].astype(str))
    columns = data.items.index(known["item_id"].astype(str))
    at = np.minimum(np.searchsorted(targets, columns), max(targets.size - 1, 0))
    hit = (rows >= 0) & (columns >= 0) & (targets[at] == columns)
    ones = np.ones(int(hit.sum()), dtype=np.float32)
    shape = (len(data.clients), targets.size)
    return sp.csc_matrix((ones, (rows[hit], at[hit])), shape=shape).sign().tocsc()


def _past_buyers(recommender: HybridRecommender, targets: np.ndarray) -> sp.csc_matrix:
    """Clients × targets: a recency score of each past purchase (the later, the higher)."""
    bundle = recommender.bundle
    if bundle.repeats is None:
        return sp.csc_matrix((bundle.data.matrix[:, targets] > 0).astype(np.float64))
    return bundle.repeats.last[:, targets].astype(np.float64).tocsc()


def _column(matrix: sp.csc_matrix, position: int) -> np.ndarray:
    return matrix.indices[matrix.indptr[position] : matrix.indptr[position + 1]]


def _by_value(matrix: sp.csc_matrix, position: int) -> np.ndarray:
    """Rows of a column by value, highest first (ties: lower row)."""
    start, end = matrix.indptr[position], matrix.indptr[position + 1]
    rows, values = matrix.indices[start:end], matrix.data[start:end]
    return rows[np.lexsort((rows, -values))]


@dataclass(frozen=True)
class _Task:
    """What every row's lists and the buyers are read from (columns: targets)."""

    scored: Scored
    buyers: sp.csc_matrix
    early: sp.csc_matrix
    past: sp.csc_matrix
    active: np.ndarray

    def lists(self, p: int) -> dict[str, np.ndarray]:
        """Each row's ranked clients for the target at ``p`` (before leaving out)."""
        return {
            "model": ranking(self.scored.scores, np.array([p]))[0],
            "blend_only": ranking(self.scored.blend, np.array([p]))[0],
            "most_active": self.active,
            "past_buyers": _by_value(self.past, p),
        }


def _hits(listed: np.ndarray, early: np.ndarray, buyers: np.ndarray, k: int) -> tuple[float, float]:
    """Precision and recall at ``k`` of a list after leaving out ``early`` rows."""
    top = listed[~np.isin(listed, early)][:k]
    found = float(np.isin(top, buyers).sum())
    return found / k, found / buyers.size


def evaluate_audiences(
    recommender: HybridRecommender,
    test: pd.DataFrame,
    k: int = 100,
    n_items: int = 200,
    day: date | None = None,
    depth: int = DEPTH,
) -> AudienceEvaluation:
    """Measure the audiences of the ``n_items`` items most bought in ``test`` (events
    after the recommender's training data) at ``k``, read on ``day``."""
    targets = np.sort(most_bought(recommender, test, n_items))
    if targets.size == 0:
        raise ConfigError("audiences: no item bought after the cut-off is known to the model")
    scored = score_clients(recommender, targets, day, depth)
    past = _past_buyers(recommender, scored.targets)
    active = np.argsort(-activity(recommender.bundle), kind="stable")
    buyers = _buyers(recommender, test, scored.targets)
    values, facts = _measure(_Task(scored, buyers, scored.early.tocsc(), past, active), k)
    return AudienceEvaluation(_summaries(values, k), {**facts, "k": k, "depth": depth})


def _measure(task: _Task, k: int) -> tuple[dict[str, list[tuple[float, float]]], dict[str, Any]]:
    """Per row, (precision, recall) of each target with a buyer left to find; the
    items measured, their buyers, and the share of buyers left out as not due."""
    values: dict[str, list[tuple[float, float]]] = {name: [] for name in ROWS}
    counted = left_out = 0
    for p in range(task.scored.targets.size):
        gone, bought = _column(task.early, p), _column(task.buyers, p)
        buyers = np.setdiff1d(bought, gone)
        counted, left_out = counted + bought.size, left_out + bought.size - buyers.size
        if buyers.size:
            for name, listed in task.lists(p).items():
                values[name].append(_hits(listed, gone, buyers, k))
    share = left_out / counted if counted else 0.0
    return values, {"items": len(values["model"]), "buyers": counted, "left_out_share": share}


def _summaries(values: dict[str, list[tuple[float, float]]], k: int) -> dict[str, dict[str, Any]]:
    """Means and 95 % intervals over items (one draw of items for every row)."""
    n = len(values["model"])
    if n == 0:
        raise ConfigError("audiences: no evaluated item has a buyer the audience may hold")
    draws = Bootstrap(n)
    out: dict[str, dict[str, Any]] = {}
    for name, pairs in values.items():
        table = np.array(pairs, dtype=np.float64).reshape(-1, 2)
        out[name] = {}
        for i, metric in enumerate((f"precision@{k}", f"recall@{k}")):
            out[name][metric] = float(table[:, i].mean())
            out[name][f"{metric}_ci"] = list(draws.interval(table[:, i]))
    return out
