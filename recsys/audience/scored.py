"""Every client's audience score for the target items: the blend read by item, times
how much the client buys, less the pairs that are not due.

The blend normalises each source within one client's candidates, so its score says
how high an item stands for that client, not how likely the client is to buy at all:
a client who orders every week and one who ordered once two years ago can both give
an item their top score. Across clients the audience weighs that score by the
client's purchases in the bundle (:func:`~recsys.audience.due.activity`): roughly the
expected number of purchases of the item if each purchase follows the client's list.
``recsys evaluate --audiences`` reports both readings ("model" and "blend_only").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import scipy.sparse as sp

from recsys.audience.blended import DEPTH, blend_columns
from recsys.audience.due import activity, bought_pairs, not_due, usual_intervals
from recsys.audience.profiles import Profile
from recsys.bundle import Bundle
from recsys.ranking import HybridRecommender, RequestOptions

__all__ = ["Scored", "day_number", "ranking", "score_clients"]

_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Scored:
    """Clients × targets: what an audience of any of the targets is ranked by."""

    targets: np.ndarray
    """The target item columns (sorted, unique)."""
    scores: sp.csr_matrix
    """The blend's score × the client's activity; none where the pair is not due."""
    blend: sp.csr_matrix
    """The blend's score alone (same pairs kept)."""
    parts: dict[str, sp.csr_matrix]
    """Each source's share of the blend's score (every pair the blend scored)."""
    day: date
    """The day the pairs are judged due on."""
    usual: np.ndarray
    """Per target, its usual re-purchase interval in days (``inf``: none)."""
    early: sp.csr_matrix
    """1 where the client bought the target within its usual interval (left out)."""


def day_number(day: date) -> float:
    """Days since 1970-01-01 (the re-purchase index's unit)."""
    return float((day - _EPOCH).days)


def score_clients(
    recommender: HybridRecommender,
    targets: np.ndarray,
    day: date | None = None,
    depth: int = DEPTH,
    profiles: Mapping[str, Profile] | None = None,
) -> Scored:
    """Score every known client for ``targets`` (item columns) on ``day`` (default:
    the recommender's clock): bought items may come back (the repeat source scores
    them), but not the pairs bought within their usual interval (``profiles``: each
    client's segment and country, for analyst rules aimed at them)."""
    options = recommender.dated(RequestOptions(exclude_purchased=False, day=day))
    assert options.day is not None  # dated
    blended = blend_columns(recommender, targets, options, depth, profiles=profiles)
    bundle, targets = recommender.bundle, blended.targets
    early, usual = _early(bundle, targets, day_number(options.day))
    kept = sp.csr_matrix(blended.scores - blended.scores.multiply(early))
    kept.eliminate_zeros()
    weighted = sp.csr_matrix(sp.diags(activity(bundle)) @ kept)
    return Scored(targets, weighted, kept, blended.parts, options.day, usual, early)


def _early(bundle: Bundle, targets: np.ndarray, today: float) -> tuple[sp.csr_matrix, np.ndarray]:
    """The pairs not due on ``today`` (clients × targets) and the targets' usual intervals."""
    pairs = None if bundle.repeats is None else bought_pairs(bundle.repeats, targets)
    usual = np.full(targets.size, np.inf) if pairs is None else usual_intervals(pairs, targets.size)
    return not_due(bundle, targets, pairs, usual, today), usual


def ranking(
    scores: sp.csr_matrix, subset: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Client rows scoring above 0 on the targets at ``subset`` (positions; default:
    all), summed, best first (ties: lower row first), and their scores."""
    matrix = scores if subset is None else scores[:, subset]
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    rows = np.flatnonzero(totals > 0)
    order = rows[np.lexsort((rows, -totals[rows]))]
    return order, totals[order]
