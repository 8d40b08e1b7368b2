"""Re-purchases as a source: items the client buys regularly, when they are due.

Only items the client already bought, so it adds something only where bought items
may be offered again: ``exclude_purchased=false``, or ``due_repeats`` (next-best
offers), where only the items between half and twice their usual interval come back.
Due-ness is read on the request's day (today in serving, the cut-off in evaluation).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from recsys.ranking.blend import Candidates
from recsys.ranking.explain import Reason
from recsys.ranking.sources._base import Batch, Query, Shown, Source, sparse_top, top_of
from recsys.repeat import RepeatIndex, due_scores

if TYPE_CHECKING:
    from recsys.ranking._core import RequestOptions

__all__ = ["RepeatSource"]

_EPOCH = date(1970, 1, 1)


class RepeatSource(Source):
    """Items each client re-buys, scored by how due they are."""

    name = "repeat"

    def __init__(self, index: RepeatIndex, labels: list[str]) -> None:
        self.index, self.labels = index, labels

    def batch(self, batch: Batch, n: int) -> Candidates:
        """Per known row, its due items (none for unknown rows, none when bought items
        are excluded, unless due ones may come back)."""
        if not _active(batch.options):
            empty = sp.csr_matrix((len(batch.rows), self.index.interval.shape[1]), dtype=np.float32)
            return sparse_top(empty, None, n)
        rows = np.maximum(batch.rows, 0)
        interval = self.index.interval[rows]
        last = self.index.last[rows]
        day = _days(batch.options.day or date.today())
        scores = _kept(due_scores(interval.data, last.data, day), batch.options)
        due = sp.csr_matrix((scores, interval.indices, interval.indptr), shape=interval.shape)
        due = due.multiply((batch.rows >= 0)[:, None].astype(np.float32)).tocsr()
        return sparse_top(due, None, n)  # only bought items: the blend blocks the basket

    def one(self, query: Query, n: int) -> Candidates:
        """The client's due items."""
        if query.row < 0 or not _active(query.options):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        items, interval, last = self.index.row(query.row)
        scores = _kept(due_scores(interval, last, _days(query.day)), query.options)
        return top_of(items, scores, n, None, positive=True)

    def reasons(self, shown: Shown) -> dict[int, Reason]:
        """ "You buy X about every 30 days; last 41 days ago"."""
        row = shown.query.row
        if row < 0:
            return {}
        items, interval, last = self.index.row(row)
        today = _days(shown.query.day)
        found = dict(
            zip(items.tolist(), zip(interval.tolist(), last.tolist(), strict=True), strict=True)
        )
        out = {}
        for item in shown.items.tolist():
            if item in found:
                every, when = found[item]
                ago = max(0, round(today - when))
                text = (
                    f"You buy {self.labels[item]} about every {every:.0f} days; last {ago} days ago"
                )
                out[item] = Reason(
                    self.name, text, {"every_days": round(every, 1), "last_days_ago": ago}
                )
        return out


#: Due enough to come back where bought items are otherwise excluded: between half and
#: twice the usual interval (:func:`recsys.repeat.due_scores` ≥ 0.5).
DUE = 0.5


def _active(options: RequestOptions) -> bool:
    return not options.exclude_purchased or options.due_repeats


def _kept(scores: np.ndarray, options: RequestOptions) -> np.ndarray:
    """Every due score where bought items may come back; only the due ones otherwise."""
    if not options.exclude_purchased:
        return scores
    return np.where(scores >= DUE, scores, 0.0).astype(np.float32)


def _days(day: date) -> float:
    """Days since 1970-01-01 (the index's unit)."""
    return float((day - _EPOCH).days)
