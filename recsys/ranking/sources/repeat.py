"""Re-purchases as a source: items the client bought, offered again.

Only items the client already bought, so it adds something only where bought items
may be offered again: ``exclude_purchased=false`` (every bought item, by buy-again
propensity: distinct purchase days, halving with age), or ``due_repeats`` (next-best
offers: only items re-bought on two or more days, between half and twice their usual
interval). Read on the request's day (the service's clock in serving, the cut-off in
evaluation).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import scipy.sparse as sp

from recsys.ranking.blend import Candidates
from recsys.ranking.explain import Reason
from recsys.ranking.options import RequestOptions
from recsys.ranking.sources._base import Batch, Query, Shown, Source, sparse_top, top_of
from recsys.repeat import RepeatIndex, due_scores, intervals, propensity

__all__ = ["RepeatSource"]

_EPOCH = date(1970, 1, 1)


class RepeatSource(Source):
    """Bought items again: by buy-again propensity where bought items may be offered,
    by how due they are where only due ones may come back (next-best offers)."""

    name = "repeat"

    def __init__(self, index: RepeatIndex, labels: list[str]) -> None:
        self.index, self.labels = index, labels

    def batch(self, batch: Batch, n: int) -> Candidates:
        """Per known row, its scored items (none for unknown rows, none when bought
        items are excluded, unless due ones may come back)."""
        index, options = self.index, batch.options
        if not _active(options):
            empty = sp.csr_matrix((len(batch.rows), index.days.shape[1]), dtype=np.float32)
            return sparse_top(empty, None, n)
        rows = np.maximum(batch.rows, 0)
        days, first, last = index.days[rows], index.first[rows], index.last[rows]
        day = _days(batch.day)
        scores = _scores(days.data, first.data, last.data, day, options)
        found = sp.csr_matrix((scores, days.indices, days.indptr), shape=days.shape)
        found = found.multiply((batch.rows >= 0)[:, None].astype(np.float32)).tocsr()
        return sparse_top(found, None, n)  # only bought items: the blend blocks the basket

    def one(self, query: Query, n: int) -> Candidates:
        """The client's scored items."""
        if query.row < 0 or not _active(query.options):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        items, days, first, last = self.index.entries(query.row)
        scores = _scores(days, first, last, _days(query.day), query.options)
        return top_of(items, scores, n, None, positive=True)

    def reasons(self, shown: Shown) -> dict[int, Reason]:
        """ "You buy X about every 30 days; last 41 days ago", or "You bought X 12 days
        ago" for an item bought on one day."""
        row = shown.query.row
        if row < 0:
            return {}
        items, days, first, last = self.index.entries(row)
        every = intervals(days, first, last)
        today = _days(shown.query.day)
        at = {item: i for i, item in enumerate(items.tolist())}
        return {
            item: self._reason(item, int(days[at[item]]), float(every[at[item]]), ago)
            for item in shown.items.tolist()
            if item in at
            for ago in [max(0, round(today - float(last[at[item]])))]
        }

    def _reason(self, item: int, days: int, every: float, ago: int) -> Reason:
        evidence: dict[str, float | int] = {"days_bought": days, "last_days_ago": ago}
        label = self.labels[item]
        if days < 2:
            return Reason(self.name, f"You bought {label} {ago} days ago", evidence)
        evidence["every_days"] = round(every, 1)
        text = f"You buy {label} about every {every:.0f} days; last {ago} days ago"
        return Reason(self.name, text, evidence)


#: Due enough to come back where bought items are otherwise excluded: between half and
#: twice the usual interval (:func:`recsys.repeat.due_scores` ≥ 0.5).
DUE = 0.5


def _active(options: RequestOptions) -> bool:
    return not options.exclude_purchased or options.due_repeats


def _scores(
    days: np.ndarray, first: np.ndarray, last: np.ndarray, today: float, options: RequestOptions
) -> np.ndarray:
    """Propensity where bought items may be offered; otherwise the due score of items
    re-bought on two or more days, only where it reaches :data:`DUE`."""
    if not options.exclude_purchased:
        return propensity(days, last, today)
    again = days >= 2
    due = due_scores(intervals(days, first, last), last, today)
    return np.where(again & (due >= DUE), due, 0.0).astype(np.float32)


def _days(day: date) -> float:
    """Days since 1970-01-01 (the index's unit)."""
    return float((day - _EPOCH).days)
