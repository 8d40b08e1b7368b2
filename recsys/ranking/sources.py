"""Candidate sources for the blend, each batched over requests."""

from __future__ import annotations

from datetime import date
from typing import TypeVar

import numpy as np
import scipy.sparse as sp

from recsys.matrix import InteractionMatrix
from recsys.models import Scorer, top_k
from recsys.models._base import popular_ranking
from recsys.ranking.blend import Candidates
from recsys.rules.cross_sell import CrossSellRules
from recsys.rules.index import RuleIndex
from recsys.vocab import IdMap

__all__ = [
    "analyst_candidates",
    "blocked_mask",
    "cap_per_group",
    "cf_candidates",
    "popular_candidates",
    "rule_candidates",
    "segment_popularity",
]


def cf_candidates(
    model: Scorer, rows: np.ndarray, history: sp.csr_matrix, n: int, exclude_seen: bool
) -> Candidates:
    """A collaborative-filtering model's top ``n`` (fresh history folded in)."""
    got = model.recommend(rows, history, k=n, exclude_seen=exclude_seen, fold_in=True)
    return got.items, got.scores


def _sparse_top(scores: sp.csr_matrix, seen: sp.csr_matrix | None, n: int) -> Candidates:
    block = scores.toarray().astype(np.float64)
    block[block <= 0] = -np.inf
    if seen is not None:
        block[seen.toarray() > 0] = -np.inf
    return top_k(block, n)


def rule_candidates(
    index: RuleIndex, fired: sp.csr_matrix, n: int, seen: sp.csr_matrix | None
) -> Candidates:
    """Items that the rules ``fired`` by each basket (history ∪ cart) point to."""
    return _sparse_top(index.scores_of(fired), seen, n)


def analyst_candidates(
    rules: CrossSellRules,
    triggers: sp.csr_matrix,
    baskets: sp.csr_matrix,
    offers: sp.csr_matrix,
    context: tuple[date, str | None, str | None],
    n: int,
    seen: sp.csr_matrix | None,
) -> Candidates:
    """Offers of the analyst rules that apply; score = priority, then offer order.

    ``offers`` is rules × items with the rule's score per offered item (see
    :func:`offer_matrix`); ``context`` is (day, segment, country) of the request.
    """
    day, segment, country = context
    live = np.array([r.applies(day, segment, country) for r in rules.rules], dtype=np.float32)
    fired = ((baskets > 0).astype(np.float32) @ triggers).toarray() > 0
    fired = sp.csr_matrix(fired * live[None, :])
    return _sparse_top(fired @ offers, seen, n)


def offer_matrix(rules: CrossSellRules, item_index: dict[str, int], n_items: int) -> sp.csr_matrix:
    """Rules × items: priority-ordered scores, earlier offers of a rule a bit higher."""
    rows, cols, vals = [], [], []
    priorities = [r.priority for r in rules.rules]
    floor = min(priorities, default=0)
    for r, rule in enumerate(rules.rules):
        for position, item in enumerate(rule.offer):
            if item in item_index:
                rows.append(r)
                cols.append(item_index[item])
                vals.append(1.0 + (rule.priority - floor) + 1.0 / (position + 2))
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(rules.rules), n_items))


def popular_candidates(
    popularity: np.ndarray,
    n_rows: int,
    n: int,
    seen: sp.csr_matrix | None,
    order: np.ndarray | None = None,
) -> Candidates:
    """The most bought items (ties by index), minus what each row has seen."""
    items, scores = popular_ranking(popularity, seen, n, order)
    if seen is None:
        items, scores = np.repeat(items, n_rows, axis=0), np.repeat(scores, n_rows, axis=0)
    return items, scores


def segment_popularity(
    data: InteractionMatrix, buyers: np.ndarray, segments: dict[str, str]
) -> dict[str, np.ndarray]:
    """Buyers per item within each segment; ties go to the globally more popular item."""
    rows = data.clients.index(list(segments))
    known = rows >= 0
    names, codes = np.unique(np.asarray(list(segments.values()))[known], return_inverse=True)
    member = sp.csr_matrix(
        (np.ones(len(codes)), (codes, rows[known])), shape=(len(names), len(data.clients))
    )
    counts = (member @ (data.matrix > 0).astype(np.float64)).toarray()
    tiebreak = buyers / (buyers.max() + 1.0)
    return {str(name): counts[i] + tiebreak for i, name in enumerate(names)}


T = TypeVar("T")


def cap_per_group(items: list[T], groups: list[str], cap: int) -> list[T]:
    """Keep at most ``cap`` items per group, in order (diversity)."""
    counts: dict[str, int] = {}
    kept = []
    for item, group in zip(items, groups, strict=True):
        if counts.get(group, 0) < cap:
            kept.append(item)
            counts[group] = counts.get(group, 0) + 1
    return kept


def blocked_mask(
    items: IdMap,
    categories: np.ndarray,
    history_and_basket: tuple[sp.csr_matrix, sp.csr_matrix],
    exclude_seen: bool,
    excluded: tuple[str, ...],
    category: str | None,
) -> np.ndarray:
    """Rows × items: True where an item may not be offered (in the basket, already
    bought when excluded, excluded or out of stock, outside the wanted category)."""
    history, basket = history_and_basket
    blocked = (basket.toarray() > 0) | ((history.toarray() > 0) & exclude_seen)
    if excluded:
        columns = items.index(list(excluded))
        blocked[:, columns[columns >= 0]] = True
    if category is not None:
        blocked |= (categories != category)[None, :]
    return blocked
