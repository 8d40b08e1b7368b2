"""Top-k selection over score blocks and compact candidates, ties always by index."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys._sparse import found_in, top_per_row

__all__ = [
    "popular_ranking",
    "top_candidates",
    "top_k",
    "top_of_dense",
    "top_of_row",
    "top_then_popular",
]


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top ``k`` of a dense score block; ``-inf`` entries never count.

    Ties are ordered by item index, so lists are reproducible.
    """
    k_eff = min(k, scores.shape[1])
    if scores.shape[0] == 1 and k_eff < scores.shape[1]:  # one request: no full sort
        items = top_of_row(scores[0], k_eff)
        values = scores[0, items]
        return _pad(np.where(np.isfinite(values), items, -1)[None, :], values[None, :], k)
    if k_eff * 8 >= scores.shape[1] or np.isnan(scores).any():  # one stable sort
        part = np.argsort(-scores, axis=1, kind="stable")[:, :k_eff]
        values = np.take_along_axis(scores, part, axis=1)
        return _pad(np.where(np.isfinite(values), part, -1), values, k)
    # Each row's k-th best value by partition (O(columns)), then an exact sort of the
    # few entries at or above it (ties included, ordered by index).
    kth = -np.partition(-scores, k_eff - 1, axis=1)[:, k_eff - 1]
    rows, columns = np.nonzero(scores >= kth[:, None])
    n_rows, n_cols = scores.shape
    keys = rows * n_cols + columns
    items, values, _ = top_per_row(keys, scores[rows, columns], n_rows, n_cols, k_eff)
    return _pad(np.where(np.isfinite(values), items, -1), values, k)


def top_of_row(row: np.ndarray, k: int, dense: bool = False) -> np.ndarray:
    """The ``k`` best columns of one row, ties by index, in O(columns): the k-th
    largest value by partition, then a stable sort of the few at or above it.

    Only entries above ``-inf`` take part: sparse sources leave most of a row at
    ``-inf``, and partitioning thousands of equal values is ten times slower.
    ``dense``: few entries are ``-inf`` (a dense model's scores), so the whole row is
    partitioned at once (the same answer, without first copying its live part).
    """
    if dense and 0 < k < row.size:
        top = _top_of_full(row, k)
        if top is not None:
            return top
    live = np.flatnonzero(row > -np.inf)
    if live.size == 0 or np.isnan(row[live]).any():
        return np.argsort(-row, kind="stable")[:k]
    values = row[live]
    if live.size > k:
        kth = np.partition(values, live.size - k)[live.size - k]
        keep = values >= kth
        live, values = live[keep], values[keep]
    return live[np.argsort(-values, kind="stable")[:k]]


def _top_of_full(row: np.ndarray, k: int) -> np.ndarray | None:
    """:func:`top_of_row` of a row whose ``k`` best are real numbers (a dense model's
    scores): one partition of the whole row, no copy of its live part first. ``None``
    when not so (``nan`` in the row, or fewer than ``k`` entries above ``-inf``)."""
    part = np.partition(row, row.size - k)
    if np.isnan(part[row.size - k :]).any():  # nan sorts last: any would be here
        return None
    kth = part[row.size - k]
    if kth == -np.inf:
        return None
    found = np.flatnonzero(row >= kth)  # ties at the k-th value included, by index
    return found[np.argsort(-row[found], kind="stable")[:k]]


def top_candidates(
    items: np.ndarray, scores: np.ndarray, n: int, seen: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The top ``n`` of compact candidates (``items`` sorted, unique) as (items, float64
    scores), best first, ties by item; ``seen`` items and non-finite scores left out."""
    ok = np.isfinite(scores)
    if seen is not None and seen.size:
        ok &= ~found_in(items, seen)
    items, values = items[ok], scores[ok].astype(np.float64)
    keep = top_of_row(values, n) if items.size > n else np.argsort(-values, kind="stable")
    return items[keep], values[keep]


def _pad(items: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = np.where(items >= 0, scores, np.nan).astype(np.float32)
    if items.shape[1] < k:
        extra = k - items.shape[1]
        items = np.pad(items, ((0, 0), (0, extra)), constant_values=-1)
        scores = np.pad(scores, ((0, 0), (0, extra)), constant_values=np.nan)
    return items.astype(np.int64), scores


def popular_ranking(
    popularity: np.ndarray, seen: sp.csr_matrix | None, k: int, order: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` by popularity (ties by index) per row, minus each row's ``seen`` items.

    ``order`` is the popularity order if the caller keeps it (saves a sort per call).
    """
    rows = 1 if seen is None else seen.shape[0]
    longest = 0 if seen is None else int(np.diff(seen.indptr).max(initial=0))
    # The global order, long enough to survive removing the seen items.
    if order is None:
        order = np.argsort(-popularity, kind="stable")
    order = order[: k + longest]
    if seen is None:
        blocked = np.zeros((rows, len(order)), dtype=bool)
    else:
        blocked = seen[:, order].toarray() > 0
    keep = np.argsort(blocked, axis=1, kind="stable")[:, :k]
    items = np.where(np.take_along_axis(blocked, keep, axis=1), -1, order[keep])
    return _pad(items, popularity[np.maximum(items, 0)].astype(np.float32), k)


def top_of_dense(
    scores: np.ndarray, n: int, blocked: np.ndarray | None = None, dense: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The top ``n`` positions of one dense score vector (``blocked`` positions and
    ``-inf`` left out; ties by position) and their float64 scores. ``scores`` is
    changed in place: pass a vector the caller owns. ``dense``: as :func:`top_of_row`."""
    if blocked is not None and blocked.size:
        scores[blocked] = -np.inf
    top = top_of_row(scores, n, dense)
    top = top[scores[top] > -np.inf]
    return top, scores[top].astype(np.float64)


def top_then_popular(
    scores: np.ndarray, popularity: np.ndarray, k: int, seen: sp.csr_matrix | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top ``k`` of a dense block of non-negative scores, the items scored 0
    after them by ``popularity`` (ties by index), ``seen`` (rows × items) left out.
    The scores returned are the block's: 0 for the popular items after."""
    # Scored items move above 1, the rest keep their popularity share in [0, 1): one
    # top-k orders both, without a second pass to fill the lists.
    share = np.asarray(popularity, dtype=np.float64) / (float(np.max(popularity, initial=0)) + 1)
    ranked = np.where(scores > 0, scores.astype(np.float64) + 1.0, share)
    if seen is not None:
        ranked[seen.nonzero()] = -np.inf
    items, _ = top_k(ranked, k)
    values = np.take_along_axis(scores, np.maximum(items, 0), axis=1)
    return items, np.where(items >= 0, values, np.nan).astype(np.float32)
