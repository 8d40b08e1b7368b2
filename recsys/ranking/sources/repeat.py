"""Re-purchases as a source: items the client bought, offered again.

Only items the client already bought, so it adds something only where bought items
may be offered again (``exclude_purchased=false``: the client's list, the "buy it
again" shelf and next-best offers alike): every bought item, by the probability that
the client buys it again (:mod:`recsys.ranking.rebuy`), read on the request's day (the
service's clock in serving, the cut-off in evaluation).

Purchases since training (``recent``) count as one more purchase day, the last on the
request's day (a client the index never saw gets them too); a pair the index lacks
buys the item's usual units a day.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import scipy.sparse as sp

from recsys.ranking.blend import Candidates
from recsys.ranking.explain import Reason, ago
from recsys.ranking.rebuy import ItemTerms, Rebuy, probability
from recsys.ranking.sources._base import NONE, Batch, Query, Shown, Source, sparse_top, top_of
from recsys.repeat import RepeatIndex

__all__ = ["RepeatSource"]

_EPOCH = date(1970, 1, 1)
_EMPTY = np.zeros(0, dtype=np.float32)


class RepeatSource(Source):
    """Bought items again, by the probability of buying each again, where bought items
    may be offered."""

    name = "repeat"

    def __init__(self, index: RepeatIndex, labels: list[str], model: Rebuy | None = None) -> None:
        self.index, self.labels = index, labels
        self.model = model or Rebuy()
        self.terms = ItemTerms.of(index, self.model)

    def batch(self, batch: Batch, n: int) -> Candidates:
        """Per row, its scored items (none for unknown rows without recent purchases,
        none when bought items are excluded)."""
        index, day = self.index, _days(batch.day)
        if batch.options.exclude_purchased:
            empty = sp.csr_matrix((len(batch.rows), index.days.shape[1]), dtype=np.float32)
            return sparse_top(empty, None, n)
        rows = np.maximum(batch.rows, 0)
        days, last, units = (
            _known(m[rows], batch.rows).tocsr() for m in (index.days, index.last, index.units)
        )
        units.data = units.data / days.data  # a purchase day's
        days, last, units = _with_recent_rows(
            (days, last, units), batch.recent, day, self.terms.units
        )
        pairs = (days.data, last.data, units.data)
        scores = probability(self.model, self.terms, days.indices, pairs, day)
        found = sp.csr_matrix((scores, days.indices, days.indptr), shape=days.shape)
        return sparse_top(found, None, n)  # only bought items: the blend blocks the basket

    def one(self, query: Query, n: int) -> Candidates:
        """The client's scored items."""
        if query.options.exclude_purchased:
            return NONE, _EMPTY
        day = _days(query.day)
        known, days, _, last = self._entries(query.row)
        units = self.index.units_per_day(query.row) if query.row >= 0 else _EMPTY
        items, days, last = _with_recent(known, days, last, query.recent, day)
        units = _units_with_recent(known, items, units, self.terms.units)
        scores = probability(self.model, self.terms, items, (days, last, units), day)
        return top_of(items, scores, n, None, positive=True)

    def _entries(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A row's items, purchase days, first and last days (nothing for ``-1``)."""
        if row < 0:
            return NONE, _EMPTY, _EMPTY, _EMPTY
        return self.index.entries(row)

    def reasons(self, shown: Shown) -> dict[int, Reason]:
        """Why a bought item comes back, in words a manager can say aloud: "You bought
        X on 9 days, last 3 weeks ago", "You bought X 3 weeks ago" (one day); bought
        since training: "… on 4 days, the last one recently", "You bought X recently"."""
        query, today = shown.query, _days(shown.query.day)
        items, days, _, last = self._entries(query.row)
        items, days, last = _with_recent(items, days, last, query.recent, today)
        at = {item: i for i, item in enumerate(items.tolist())}
        fresh = set(query.recent.tolist())
        return {
            item: self._reason(item, int(days[i]), round(today - last[i]), item in fresh)
            for item in shown.items.tolist()
            if (i := at.get(item, -1)) >= 0
        }

    def _reason(self, item: int, days: int, age: int, fresh: bool) -> Reason:
        """One bought item's sentence (``fresh``: bought since training, day unknown)."""
        evidence: dict[str, float | int] = {"days_bought": days, "last_days_ago": max(0, age)}
        label = self.labels[item]
        if days < 2:
            text = f"You bought {label} {'recently' if fresh else ago(age)}"
        else:
            last = "the last one recently" if fresh else f"last {ago(age)}"
            text = f"You bought {label} on {days} days, {last}"
        return Reason(self.name, text, evidence)


def _with_recent(
    items: np.ndarray, days: np.ndarray, last: np.ndarray, recent: np.ndarray, today: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row's items, days and last days with the ``recent`` items (sorted, unique)
    bought once more on ``today``."""
    if recent.size == 0:
        return items, days, last
    merged = np.union1d(items, recent)
    at, fresh = np.searchsorted(merged, items), np.searchsorted(merged, recent)
    out_days, out_last = np.zeros(merged.size, np.float32), np.full(merged.size, today, np.float32)
    out_days[at], out_last[at] = days, last
    out_days[fresh] += 1
    out_last[fresh] = today
    return merged, out_days, out_last


def _units_with_recent(
    known: np.ndarray, merged: np.ndarray, units: np.ndarray, usual: np.ndarray
) -> np.ndarray:
    """Units a day of the ``merged`` items (:func:`_with_recent`): a ``known`` item's
    own ``units``, the item's ``usual`` ones for an item bought only since training."""
    if merged is known:
        return units
    out = usual[merged]
    out[np.searchsorted(merged, known)] = units
    return out


def _with_recent_rows(
    pairs: tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix],
    recent: sp.csr_matrix | None,
    today: float,
    usual: np.ndarray,
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """:func:`_with_recent` and :func:`_units_with_recent` for rows (``recent``: 0/1
    rows × items, or none): the three matrices keep one layout, so their ``data``
    arrays line up."""
    days, last, units = pairs
    if recent is None or recent.nnz == 0:
        return pairs
    new = ((recent - recent.multiply(days > 0)) != 0).astype(np.float64)  # bought since only
    # Where each merged pair was: its place in the known layout + 2, or 1 when new (by
    # position, not value: a pair may hold 0 units).
    where = sp.csr_matrix((np.arange(days.nnz) + 2.0, days.indices, days.indptr), days.shape)
    where = (where + new).tocsr()
    days = (days + recent).tocsr()
    last = (last - last.multiply(recent) + recent * today).tocsr()
    for m in (days, last, where):  # each holds every pair once, non-zero: one layout
        m.sum_duplicates()
        m.sort_indices()
    at = where.data.astype(np.int64) - 2
    merged = usual[where.indices].astype(units.dtype)
    merged[at >= 0] = units.data[at[at >= 0]]
    return days, last, sp.csr_matrix((merged, where.indices, where.indptr), shape=days.shape)


def _known(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """``matrix`` (a batch's index rows) with the rows of unknown clients (``-1``)
    emptied, by position rather than value (a pair may hold 0 units): every index
    matrix keeps one layout, so their ``data`` arrays line up."""
    if (rows >= 0).all():
        return matrix
    sizes, known = np.diff(matrix.indptr), rows >= 0
    keep = np.repeat(known, sizes)
    indptr = np.concatenate([[0], np.cumsum(sizes * known)]).astype(matrix.indptr.dtype)
    return sp.csr_matrix((matrix.data[keep], matrix.indices[keep], indptr), shape=matrix.shape)


def _days(day: date) -> float:
    """Days since 1970-01-01 (the index's unit)."""
    return float((day - _EPOCH).days)
