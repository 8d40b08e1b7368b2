"""How likely a client buys an item it bought before again: a logistic model over what
the re-purchase index knows of the pair and of the item.

Features of a bought (client, item) pair, read on the request's day:

- ``days``: log of the pair's distinct purchase days;
- ``age``: log(1 + days since its last purchase);
- ``quantity``: log(1 + units the client bought of it a purchase day): what a shop
  stocks it buys by the box;
- ``buyers``: log of the clients who bought the item (popular items come back more);
- ``rate``: of those who bought anything after their first purchase of it, the share
  who bought it on two or more days (smoothed: +1 / +2): clients who never came back
  say nothing of the item;
- ``recent`` / ``season``: log(1 + clients whose last purchase of it falls in the
  ``recent_days`` / ``season_days`` before the index's last day): what sells now, and
  over the season.

The last four are per item, so a request adds one precomputed item term to three
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
FEATURES = ("days", "age", "quantity", "buyers", "rate", "recent", "season")
#: How many of them are per pair (the rest are per item).
PAIR = 3


class Rebuy(BaseModel):
    """Coefficients of the logit of buying a bought item again (one per feature)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    # Fitted by bench/tune_blend.py --include-seen on the validation period of the
    # cut-off 2010-09-09 of Online Retail II (features as of 2010-06-09, purchases of
    # 2010-06-10..2010-09-08), windows chosen there (docs/explanation/evaluation.md).
    days: float = 1.1557
    age: float = -0.1151
    quantity: float = 0.0880
    buyers: float = -0.1648
    rate: float = 1.4610
    recent: float = 0.2950
    season: float = 0.3280
    intercept: float = -2.8088
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
    :class:`Rebuy`, their share of the logit plus the intercept; and the units its
    buyers buy a purchase day (for a pair the index lacks: bought since training)."""

    features: np.ndarray
    term: np.ndarray
    units: np.ndarray

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
        rate = (again + 1) / (np.bincount(cols, weights=_came_back(index), minlength=n) + 2)
        features = np.column_stack([np.log(np.maximum(buyers, 1.0)), rate, *np.log1p(recent)])
        term = features @ model.coefficients()[PAIR:] + model.intercept
        return cls(features, term, _typical_units(index, buyers))


def _came_back(index: RepeatIndex) -> np.ndarray:
    """Per pair, whether its client bought anything after its first purchase of it."""
    newest = np.asarray(index.last.max(axis=1).todense()).ravel()
    rows = np.repeat(np.arange(index.days.shape[0]), np.diff(index.days.indptr))
    return index.first.data < newest[rows]


def _typical_units(index: RepeatIndex, buyers: np.ndarray) -> np.ndarray:
    """Per item, its buyers' units a purchase day (the mean of log(1 + units), back in
    units); an item nobody bought: every pair's."""
    logs = np.log1p(index.units.data / np.maximum(index.days.data, 1.0))
    summed = np.bincount(index.days.indices, weights=logs, minlength=buyers.size)
    overall = logs.mean() if logs.size else 0.0
    usual = np.expm1(np.where(buyers > 0, summed / np.maximum(buyers, 1.0), overall))
    return usual.astype(np.float32)  # as the index's units a day


def pair_features(
    days: np.ndarray, last: np.ndarray, units: np.ndarray, today: float
) -> np.ndarray:
    """The per-pair features (pairs × 3: ``days``, ``age``, ``quantity``) on day
    ``today`` (``units``: a purchase day's)."""
    age = np.maximum(today - last, 0.0)
    return np.column_stack(
        [np.log(np.maximum(days, 1.0)), np.log1p(age), np.log1p(np.maximum(units, 0.0))]
    )


def probability(
    model: Rebuy,
    items: ItemTerms,
    columns: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    today: float,
) -> np.ndarray:
    """Probability that each bought pair (its item ``columns``; ``pairs``: its distinct
    purchase days, last day and units a purchase day) is bought again, read on
    ``today`` (float32)."""
    # In float64 whatever each path's arrays are: a batch and a single request agree.
    days, last, units = (np.asarray(p, dtype=np.float64) for p in pairs)
    own = pair_features(days, last, units, today) @ model.coefficients()[:PAIR]
    return (1.0 / (1.0 + np.exp(-(own + items.term[columns])))).astype(np.float32)


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
    # One layout: the data arrays line up.
    days, last, units = (m[active] for m in (index.days, index.last, index.units))
    if days.nnz == 0:
        return model
    rows = np.repeat(np.arange(active.size), np.diff(days.indptr))
    terms = ItemTerms.of(index, model).features[days.indices]
    own = pair_features(days.data, last.data, units.data / days.data, index.as_of)
    x = np.column_stack([own, terms, np.ones(days.nnz)])
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
