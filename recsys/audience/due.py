"""Who bought an item too lately to be asked about it again, and how much each client buys.

A client who bought the item within its usual re-purchase interval is left out of its
audience: they are not due yet. The interval is the client's own (the mean days
between their distinct purchase days of it) when they bought it on two or more days;
else the item's usual one (the median of its re-buyers' own intervals); an item no
client ever bought twice has none, and any past buyer is left out. Read from the
bundle's re-purchase index (:mod:`recsys.repeat`); a bundle without one leaves out
every past buyer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.repeat import RepeatIndex, intervals

__all__ = ["Pairs", "activity", "bought_pairs", "not_due", "usual_intervals"]


@dataclass(frozen=True)
class Pairs:
    """Every (client row, target) pair bought before, from the re-purchase index."""

    rows: np.ndarray
    targets: np.ndarray
    """Positions in the target list (not item columns)."""
    days: np.ndarray
    """Distinct purchase days."""
    first: np.ndarray
    last: np.ndarray
    """First and last purchase day (days since 1970-01-01)."""


def bought_pairs(index: RepeatIndex, targets: np.ndarray) -> Pairs:
    """The pairs of ``index`` whose item is one of ``targets`` (item columns)."""
    days = index.days[:, targets].tocoo()
    columns = targets[days.col]
    first = np.asarray(index.first[days.row, columns]).ravel()
    last = np.asarray(index.last[days.row, columns]).ravel()
    return Pairs(days.row.astype(np.int64), days.col.astype(np.int64), days.data, first, last)


def usual_intervals(pairs: Pairs, n_targets: int) -> np.ndarray:
    """Per target, the median of its re-buyers' own intervals (days; ``inf``: no client
    bought it on two or more days)."""
    again = pairs.days >= 2
    own = intervals(pairs.days[again], pairs.first[again], pairs.last[again])
    median = pd.Series(own, dtype=np.float64).groupby(pairs.targets[again]).median()
    out = np.full(n_targets, np.inf)
    out[median.index.to_numpy(dtype=np.int64)] = median.to_numpy()
    return out


def not_due(
    bundle: Bundle, targets: np.ndarray, pairs: Pairs | None, usual: np.ndarray, today: float
) -> sp.csr_matrix:
    """Clients × targets, 1 where the client bought the target within its usual
    re-purchase interval before ``today`` (days since 1970-01-01); ``pairs`` and
    ``usual``: :func:`bought_pairs` and :func:`usual_intervals` of ``targets`` (no
    pairs: no re-purchase index, every past buyer is left out)."""
    shape = (len(bundle.data.clients), targets.size)
    if pairs is None:
        return sp.csr_matrix((bundle.data.matrix[:, targets] > 0).astype(np.float32))
    again = pairs.days >= 2
    own = intervals(pairs.days, pairs.first, pairs.last)
    every = np.where(again, own, usual[pairs.targets])
    recent = (today - pairs.last) < every
    ones = np.ones(int(recent.sum()), dtype=np.float32)
    return sp.csr_matrix((ones, (pairs.rows[recent], pairs.targets[recent])), shape=shape)


def activity(bundle: Bundle) -> np.ndarray:
    """Per client row, how much it buys: its purchases in the bundle (distinct item and
    day pairs; distinct items without a re-purchase index)."""
    if bundle.repeats is not None:
        return np.asarray(bundle.repeats.days.sum(axis=1), dtype=np.float64).ravel()
    return np.diff(bundle.data.matrix.indptr).astype(np.float64)
