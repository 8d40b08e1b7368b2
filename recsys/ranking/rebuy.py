"""How likely a client buys an item it bought before again: a logistic model over what
the re-purchase index knows of the pair and of the item.

Features of a bought (client, item) pair, read on the request's day:

- ``days``: log of the pair's distinct purchase days;
- ``age``: log(1 + days since its last purchase);
- ``buyers``: log of the clients who bought the item (popular items come back more);
- ``rate``: the share of those who bought it on two or more days (smoothed: +1 / +2);
- ``recent`` / ``season``: log(1 + clients whose last purchase of it falls in the
  ``recent_days`` / ``season_days`` before the index's last day): what sells now, and
  over the season.

The last four are per item, so a request adds one precomputed item term to two
per-pair terms. The coefficients are fitted (:func:`fit_rebuy`) on the last weeks of a
train part (``bench/tune_blend.py --include-seen``), never on a test period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from recsys.repeat import RepeatIndex, client_item_days
from recsys.vocab import IdMap

__all__ = [
    "FEATURES",
    "ItemTerms",
    "Rebuy",
    "fit_on_events",
    "fit_rebuy",
    "pair_features",
    "probability",
]

#: The features in the order of the coefficients (:meth:`Rebuy.coefficients`).
FEATURES = ("days", "age", "buyers", "rate", "recent", "season")


class Rebuy(BaseModel):
    """Coefficients of the logit of buying a bought item again (one per feature)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    # Fitted by bench/tune_blend.py --include-seen on the validation period of the
    # cut-off 2010-09-09 of Online Retail II (features as of 2010-06-09, purchases of
    # 2010-06-10..2010-09-08), windows chosen there (docs/explanation/evaluation.md).
    days: float = 1.1694
    age: float = -0.1170
    buyers: float = -0.2105
    rate: float = 1.8509
    recent: float = 0.3399
    season: float = 0.3702
    intercept: float = -2.5761
    recent_days: float = Field(default=14.0, gt=0)
    """The window of ``recent`` (days before the index's last day)."""
    season_days: float = Field(default=56.0, gt=0)
    """The window of ``season``."""

    def coefficients(self) -> np.ndarray:
        """The coefficients in :data:`FEATURES` order."""
        return np.array([getattr(self, name) for name in FEATURES])


@dataclass(frozen=True)
class ItemTerms:
    """Per item, its features (items × 4: ``buyers`` … ``season``) and, for one
    :class:`Rebuy`, their share of the logit plus the intercept."""

    features: np.ndarray
    term: np.ndarray

    @classmethod
    def of(cls, index: RepeatIndex, model: Rebuy) -> ItemTerms:
        """Counted from every client's row of ``index`` (each column once)."""
        n, cols = index.days.shape[1], index.days.indices
        buyers = np.bincount(cols, minlength=n).astype(np.float64)
        again = np.bincount(cols, weights=index.days.data >= 2, minlength=n)
        recent = [
            np.bincount(cols, weights=index.last.data > index.as_of - w, minlength=n)
            for w in (model.recent_days, model.season_days)
        ]
        features = np.column_stack(
            [np.log(np.maximum(buyers, 1.0)), (again + 1) / (buyers + 2), *np.log1p(recent)]
        )
        return cls(features, features @ model.coefficients()[2:] + model.intercept)


def pair_features(days: np.ndarray, last: np.ndarray, today: float) -> np.ndarray:
    """The per-pair features (pairs × 2: ``days``, ``age``) on day ``today``."""
    age = np.maximum(today - last, 0.0)
    return np.column_stack([np.log(np.maximum(days, 1.0)), np.log1p(age)])


def probability(
    model: Rebuy,
    items: ItemTerms,
    columns: np.ndarray,
    days: np.ndarray,
    last: np.ndarray,
    today: float,
) -> np.ndarray:
    """Probability that each bought pair (its item ``columns``, distinct purchase
    ``days``, ``last`` day) is bought again, read on ``today`` (float32)."""
    logit = pair_features(days, last, today) @ model.coefficients()[:2] + items.term[columns]
    return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)


def fit_rebuy(
    index: RepeatIndex, bought: sp.csr_matrix, model: Rebuy | None = None, l2: float = 1.0
) -> Rebuy:
    """``model`` (its windows; default :class:`Rebuy`) with coefficients fitted by
    Newton's method on the log-loss (ridge ``l2`` on all but the intercept): every pair
    of ``index`` whose client row has a purchase in ``bought`` (rows × items: 1 where
    bought after the index's last day) is one example, positive where ``bought`` has
    it. Rows buying nothing after are left out: whether a client comes back at all is
    not what the model ranks. No example: ``model`` as it was."""
    model = model or Rebuy()
    active = np.flatnonzero(np.diff(bought.indptr) > 0)
    days, last = index.days[active], index.last[active]  # one layout: data line up
    if days.nnz == 0:
        return model
    rows = np.repeat(np.arange(active.size), np.diff(days.indptr))
    terms = ItemTerms.of(index, model).features[days.indices]
    x = np.column_stack(
        [pair_features(days.data, last.data, index.as_of), terms, np.ones(days.nnz)]
    )
    y = np.asarray(bought[active][rows, days.indices]).ravel() > 0
    beta = _newton(x, y.astype(np.float64), l2)
    fitted = dict(zip(FEATURES, beta[:-1].tolist(), strict=True))
    return model.model_copy(update={**fitted, "intercept": float(beta[-1])})


def _newton(x: np.ndarray, y: np.ndarray, l2: float, steps: int = 25) -> np.ndarray:
    """Ridge logistic regression (last column: the unpenalised intercept)."""
    beta = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        gradient = x.T @ (p - y) + penalty * beta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def fit_on_events(
    events: pd.DataFrame,
    clients: IdMap,
    items: IdMap,
    period: tuple[str, str],
    model: Rebuy | None = None,
) -> Rebuy:
    """:func:`fit_rebuy` on purchase lines and a ``period`` (start, end: dates, the end
    excluded) at the end of a train part: the features of the pairs bought before the
    start, as of its eve; the labels what each client bought within the period. Rows
    from the end on are never read (the test period, when the end is the cut-off)."""
    stamps = events["timestamp"]
    start, end = (pd.Timestamp(day) for day in period)
    before = (stamps < start).to_numpy()
    index = RepeatIndex.fit(events[before], clients, items)
    after = client_item_days(
        events[((stamps >= start) & (stamps < end)).to_numpy()], clients, items
    )
    ones = np.ones(len(after), dtype=np.float32)
    bought = sp.csr_matrix((ones, (after["row"], after["col"])), shape=index.days.shape)
    return fit_rebuy(index, (bought > 0).astype(np.float32).tocsr(), model)
