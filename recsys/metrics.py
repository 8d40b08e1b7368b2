"""Ranking metrics at k, vectorised over all clients at once.

Inputs: ``recommended`` (clients × k item columns, ``-1`` padded) and
``relevant`` (clients × items sparse; non-zero = relevant). Definitions:

- precision@k = hits in the top k / k
- recall@k    = hits in the top k / |relevant|
- hit_rate@k  = 1 if any hit in the top k else 0
- MAP@k       = mean over clients of Σ_{i≤k} precision@i · rel_i / min(k, |relevant|)
- NDCG@k      = Σ_{i≤k} rel_i / log2(i + 1), divided by the same sum for an ideal
                list of min(k, |relevant|) hits
- coverage@k  = distinct items recommended to anyone / items in the catalogue
- mean_popularity_rank@k = mean over recommended items of their popularity rank
                (1 = most bought in train; items bought equally often share the
                mean of their ranks); higher = more novel

Per-client metrics are averaged over clients with at least one relevant item.

Repeat and explore (Li et al., "A Next Basket Recommendation Reality Check", TOIS
2023), where bought items may be recommended: given each client's ``seen`` items (bought
before the cut-off), its relevant items split into the repeat part (seen) and the
explore part (not seen), and

- repeat_ratio@k     = recommended items in the top k the client had bought / k
- truth_repeat_ratio = repeat part / |relevant|
- recall_repeat@k, NDCG_repeat@k = recall@k and NDCG@k above with the repeat part as
                the relevant items, over the clients whose repeat part is not empty (the
                list is the whole top k: explore items in it are misses); likewise
                recall_explore@k and NDCG_explore@k with the explore part
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata

from recsys._sparse import row_contains

__all__ = ["PerClient", "evaluate_rankings", "hits_matrix", "repeat_explore"]

#: Metric name (``ndcg@10``) → one value per evaluated client, in client order; the
#: metrics of a part of them (``ndcg_repeat@10``: clients with a repeat part) hold one
#: value per client of that part, in the same order.
PerClient = dict[str, np.ndarray]


def hits_matrix(recommended: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean clients × k: is the item at each rank relevant to its client?"""
    return row_contains(np.asarray(recommended, dtype=np.int64), relevant)


def _per_client(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Each metric per client. ``hits`` may have fewer than ``k`` columns (a blend
    returns at most ``MAX_K``): the missing ranks are misses, but the ideal list still
    holds min(k, |relevant|) hits, so its discounts run over all k ranks."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    shown = discounts[: hits.shape[1]]
    found = hits.sum(axis=1)
    precision_at_i = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    return {
        "precision": found / k,
        "recall": found / n_relevant,
        "hit_rate": (found > 0).astype(float),
        "map": (precision_at_i * hits).sum(axis=1) / np.minimum(n_relevant, k),
        "ndcg": (hits * shown).sum(axis=1) / ideal,
    }


def evaluate_rankings(
    recommended: np.ndarray,
    relevant: sp.csr_matrix,
    k: int,
    popularity: np.ndarray,
    per_client: PerClient | None = None,
    seen: sp.csr_matrix | None = None,
) -> dict[str, float]:
    """All metrics at ``k``; ``popularity`` is the train buyers count per item.
    ``recommended`` may hold fewer than ``k`` columns: the ranks after them are misses.

    ``per_client``, when given, receives each averaged metric's per-client values
    (for intervals and paired comparisons, :mod:`recsys.confidence`). ``seen`` (the
    clients' items bought before, ``relevant``'s shape) adds the repeat and explore
    metrics (:func:`repeat_explore`).
    """
    recommended = np.asarray(recommended)[:, :k]
    n_relevant = np.diff(relevant.tocsr().indptr)
    scored = n_relevant > 0
    hits = hits_matrix(recommended, relevant)
    values = {
        f"{name}@{k}": v for name, v in _per_client(hits[scored], n_relevant[scored], k).items()
    }
    if seen is not None:
        truth, bought = relevant.tocsr()[scored], seen.tocsr()[scored]
        values.update(repeat_explore(recommended[scored], truth, bought, k))
    if per_client is not None:
        per_client.update(values)
    result = {name: float(v.mean()) for name, v in values.items()}
    shown = recommended[recommended >= 0]
    result[f"coverage@{k}"] = float(np.unique(shown).size / len(popularity))
    # Items bought equally often share the mean of their ranks (no order by index).
    rank = rankdata(-np.asarray(popularity, dtype=np.float64), method="average")
    result[f"mean_popularity_rank@{k}"] = float(rank[shown].mean()) if shown.size else 0.0
    result["clients"] = float(scored.sum())
    return result


def repeat_explore(
    recommended: np.ndarray, relevant: sp.csr_matrix, seen: sp.csr_matrix, k: int
) -> dict[str, np.ndarray]:
    """The repeat and explore metrics per client (module docstring), for clients with
    at least one relevant item; a part no client has is left out."""
    recommended = np.asarray(recommended, dtype=np.int64)[:, :k]
    relevant, seen = relevant.tocsr(), (seen.tocsr() > 0).astype(np.float32)
    repeat = relevant.multiply(seen).tocsr()
    repeat.eliminate_zeros()
    explore = (relevant - repeat).tocsr()
    explore.eliminate_zeros()
    n_relevant, n_repeat = np.diff(relevant.indptr), np.diff(repeat.indptr)
    values = {
        f"repeat_ratio@{k}": row_contains(recommended, seen).sum(axis=1) / k,
        "truth_repeat_ratio": n_repeat / n_relevant,
    }
    for part, truth in (("repeat", repeat), ("explore", explore)):
        n_truth = np.diff(truth.indptr)
        have = n_truth > 0
        if have.any():
            got = _per_client(hits_matrix(recommended[have], truth[have]), n_truth[have], k)
            values[f"recall_{part}@{k}"], values[f"ndcg_{part}@{k}"] = got["recall"], got["ndcg"]
    return values
