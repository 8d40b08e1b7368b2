"""Offline evaluation: fit on the train part, rank for clients seen in both parts.

Relevant items are the distinct items a client bought in the test part,
including items the train part never saw (they count as misses, honestly).
With ``exclude_seen`` (the default) items the client already bought in train
are neither recommended nor counted as relevant: the task is "what new item
will this client buy", the one a next-best offer answers. Without it, the task also
keeps which items each client bought in train, and the metrics split the relevant
items into repeat and explore parts (:func:`recsys.metrics.repeat_explore`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data import mode_by
from recsys.errors import ConfigError
from recsys.matrix import InteractionMatrix, MatrixConfig, build_matrix
from recsys.metrics import PerClient, evaluate_rankings
from recsys.models import Scorer
from recsys.split import Split
from recsys.vocab import IdMap

__all__ = ["EvaluationTask", "client_groups", "evaluate_model", "groups_of", "make_task"]


@dataclass(frozen=True)
class EvaluationTask:
    """Everything a model needs to be fitted and scored on one split."""

    train: InteractionMatrix
    config: MatrixConfig
    rows: np.ndarray
    relevant: sp.csr_matrix
    groups: np.ndarray | None
    exclude_seen: bool
    seen: sp.csr_matrix | None = None
    """The evaluated clients' train items (``relevant``'s rows and columns), kept where
    bought items may be recommended (not ``exclude_seen``): the repeat/explore metrics."""


def client_groups(
    events: pd.DataFrame, clients: IdMap, column: str = "country"
) -> np.ndarray | None:
    """Each client's most frequent value of ``column`` as a group index, if present."""
    if column not in events.columns:
        return None
    return groups_of(mode_by(events, "client_id", column), clients)


def groups_of(mode: pd.Series, clients: IdMap) -> np.ndarray:
    """Group indices from each client's mode (a series of values indexed by client id);
    ``-1`` for a client without one."""
    codes, _ = pd.factorize(mode)
    groups = np.full(len(clients), -1, dtype=np.int64)
    rows = clients.index(pd.Series(mode.index.astype(str)))
    groups[rows[rows >= 0]] = codes[rows >= 0]
    return groups


def make_task(
    split: Split, config: MatrixConfig, exclude_seen: bool = True, known_items_only: bool = False
) -> EvaluationTask:
    """Build the train matrix and the relevant-items matrix of the test clients.

    ``known_items_only`` drops the items the train part never saw from the relevant
    ones (the protocol of studies that leave cold items out; by default they stay, as
    misses no model can avoid); a client left with none is not evaluated."""
    train = build_matrix(split.train, config)
    test = split.test[split.test["client_id"].notna()]
    new_items = np.setdiff1d(test["item_id"].astype(str).unique(), train.items.ids)
    if known_items_only:
        new_items = new_items[:0]
    items = IdMap(np.concatenate([train.items.ids, new_items]))
    truth = build_matrix(test, MatrixConfig(weighting="binary"), clients=train.clients, items=items)
    relevant = truth.matrix
    seen = sp.hstack(
        [
            (train.matrix > 0).astype(np.float32),
            sp.csr_matrix((len(train.clients), len(new_items))),
        ],
        format="csr",
    )
    if exclude_seen:
        relevant = (relevant - relevant.multiply(seen)).tocsr()
        relevant.eliminate_zeros()
    rows = np.flatnonzero(np.diff(relevant.indptr) > 0)
    if rows.size == 0:
        raise ConfigError(
            f"split: no client bought a new item in both parts ({split.description});"
            " choose another cut-off or fraction"
        )
    groups = client_groups(split.train, train.clients)
    kept = None if exclude_seen else seen[rows]
    return EvaluationTask(train, config, rows, relevant[rows], groups, exclude_seen, kept)


def evaluate_model(
    model: Scorer,
    task: EvaluationTask,
    k: int,
    per_client: PerClient | None = None,
    matrix: sp.csr_matrix | None = None,
) -> dict[str, float]:
    """Fit ``model`` on ``matrix`` (default: the task's train matrix) and return its
    metrics at ``k`` (``per_client``: see :func:`recsys.metrics.evaluate_rankings`).
    Histories are the task's train matrix either way."""
    started = time.perf_counter()
    model.fit(task.train.matrix if matrix is None else matrix, task.groups)
    fitted = time.perf_counter()
    history = task.train.matrix[task.rows]
    ranked = model.recommend(task.rows, history, k=k, exclude_seen=task.exclude_seen)
    metrics = evaluate_rankings(
        ranked.items, task.relevant, k, model.popularity, per_client, task.seen
    )
    metrics["fit_seconds"] = fitted - started
    metrics["recommend_seconds"] = time.perf_counter() - fitted
    return metrics
