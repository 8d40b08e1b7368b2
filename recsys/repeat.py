"""Re-purchases: how often each client bought each item, and when.

Fitted from the events at training: for every (client, item), the number of distinct
purchase days, the first and the last, and the units bought. From them, a request reads
how likely a bought item is bought again (:mod:`recsys.ranking.rebuy`: every list that
may offer bought items, next-best offers too); items bought on two or more days also
have a rhythm (:func:`intervals`). Stored as CSR matrices with the client × item layout
of the bundle's history (one row per client), so a request reads its client's row like
any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._io import UNREADABLE
from recsys.errors import ModelError
from recsys.vocab import IdMap

__all__ = ["RepeatIndex", "client_item_days", "intervals"]


@dataclass(frozen=True)
class RepeatIndex:
    """Per client row, every item it bought: on how many distinct days, the first and
    the last of them, and how many units (four CSR matrices of one layout)."""

    days: sp.csr_matrix
    """Distinct purchase days (≥ 1)."""
    first: sp.csr_matrix
    """The first purchase day (days since 1970-01-01)."""
    last: sp.csr_matrix
    """The last purchase day (days since 1970-01-01)."""
    as_of: float
    """The newest day of the events it was fitted on (days since 1970-01-01)."""
    units: sp.csr_matrix = field(default=None)  # type: ignore[assignment]
    """Units bought over all the purchase days (≥ 0; one a line where the events carry
    no quantity). Left out: one a purchase day (an index of an earlier format)."""

    def __post_init__(self) -> None:
        if self.units is None:  # one unit a purchase day, in the days' layout
            object.__setattr__(self, "units", self.days.copy())
        same = (self.units.indptr, self.units.indices), (self.days.indptr, self.days.indices)
        if not all(np.array_equal(a, b) for a, b in zip(*same, strict=True)):
            raise ModelError("repeat index: its units and days are not of one layout")

    @classmethod
    def fit(cls, events: pd.DataFrame, clients: IdMap, items: IdMap) -> RepeatIndex:
        """From purchase lines (``client_id``, ``item_id``, ``timestamp``)."""
        frame = client_item_days(events, clients, items)
        stats = (
            frame.groupby(["row", "col"])
            .agg(
                count=("day", "count"),
                min=("day", "min"),
                max=("day", "max"),
                units=("units", "sum"),
            )
            .reset_index()
        )
        known = events["timestamp"][events["client_id"].notna()]
        as_of = _day_number(known).max() if len(known) else 0.0
        return cls.from_day_counts(stats, (len(clients), len(items)), float(as_of))

    @classmethod
    def from_day_counts(
        cls, stats: pd.DataFrame, shape: tuple[int, int], as_of: float
    ) -> RepeatIndex:
        """From per-pair statistics (columns ``row``, ``col``, ``count``, ``min``,
        ``max``: distinct days, days since 1970-01-01; ``units``), however they were
        counted (pandas here, Spark for ``train --engine spark``). Each pair once."""
        ordered = stats.sort_values(["row", "col"])
        rows = ordered["row"].to_numpy(np.int64)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))])
        indices = ordered["col"].to_numpy(np.int32)

        def matrix(column: str) -> sp.csr_matrix:  # one layout, zeros kept
            values = ordered[column].to_numpy(np.float32)
            return sp.csr_matrix((values, indices.copy(), indptr.copy()), shape=shape)

        return cls(matrix("count"), matrix("min"), matrix("max"), as_of, matrix("units"))

    def entries(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A client row's items, distinct purchase days, first and last days."""
        start, end = self.days.indptr[row], self.days.indptr[row + 1]
        part = slice(start, end)
        items = self.days.indices[part].astype(np.int64)
        return items, self.days.data[part], self.first.data[part], self.last.data[part]

    def units_per_day(self, row: int) -> np.ndarray:
        """A client row's units a purchase day, per item (:meth:`entries` order)."""
        part = slice(self.days.indptr[row], self.days.indptr[row + 1])
        return self.units.data[part] / self.days.data[part]

    def row(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A client row's items bought on two or more days, their mean intervals
        (days, ≥ 1) and last days."""
        items, days, first, last = self.entries(row)
        again = days >= 2
        return items[again], intervals(days[again], first[again], last[again]), last[again]

    def day_matrix(self, weighting: str, newest: float | None = None) -> sp.csr_matrix:
        """The ``first_days`` / ``last_days`` matrix (:mod:`recsys.matrix`): per pair,
        days from its first / last purchase to ``newest`` (default :attr:`as_of`), plus 1;
        or the ``purchase_days`` one (:meth:`purchase_days`)."""
        if weighting == "purchase_days":
            return self.purchase_days()
        day = self.first if weighting == "first_days" else self.last
        out = day.copy().astype(np.float32)
        out.data = ((self.as_of if newest is None else newest) - out.data + 1).astype(np.float32)
        return out

    def purchase_days(self) -> sp.csr_matrix:
        """Per pair, its distinct purchase days plus its last day as a fraction below 1
        of the index's span of days: values order pairs by days, then by the later last
        purchase (P-Pop's order). Two last days stay apart in float32 while days × span
        is under 2²³ (8.4 M: a pair bought on 1,000 days of 20 years' data is 7.3 M)."""
        out = self.days.copy().astype(np.float32)
        if out.nnz == 0:
            return out
        oldest, newest = float(self.first.data.min()), float(self.last.data.max())
        recency = (self.last.data.astype(np.float64) - oldest + 1) / (newest - oldest + 2)
        out.data = (self.days.data.astype(np.float64) + recency).astype(np.float32)
        return out

    def save(self, path: Path) -> None:
        """Write the arrays (``.npz``, no pickle)."""
        m = self.days
        np.savez(
            path,
            indptr=m.indptr,
            indices=m.indices,
            days=m.data,
            first=self.first.data,
            last=self.last.data,
            units=self.units.data,
            shape=np.array(m.shape),
            as_of=np.array([self.as_of]),
        )

    @classmethod
    def load(cls, path: Path) -> RepeatIndex:
        """Read what :meth:`save` wrote (:class:`ModelError` when it cannot); an index
        of the first format (re-bought pairs and their intervals only) reads as pairs
        bought on two days; one without units as one unit a purchase day."""
        try:
            with np.load(path, allow_pickle=False) as f:
                shape = tuple(int(x) for x in f["shape"])
                structure = (f["indices"], f["indptr"])
                last = f["last"]
                if "days" in f:
                    days, first = f["days"], f["first"]
                else:
                    days, first = np.full_like(last, 2.0), last - f["interval"]
                units = f.get("units", days)
                d, a, b, u = (
                    sp.csr_matrix((x, *structure), shape=shape) for x in (days, first, last, units)
                )
                return cls(d, a, b, float(f["as_of"][0]), u)
        except (*UNREADABLE, KeyError, ValueError) as exc:  # type: ignore[misc]
            raise ModelError(f"{path}: not a readable repeat index ({exc})") from None


def client_item_days(events: pd.DataFrame, clients: IdMap, items: IdMap) -> pd.DataFrame:
    """The distinct (``row``, ``col``, ``day``) of purchase lines whose client and item
    the maps know (``day``: days since 1970-01-01): one row per item of a client's day,
    with the ``units`` bought that day (the lines' positive quantities; one a line
    where the events carry none)."""
    known = events.dropna(subset=["client_id"])
    quantity = known["quantity"] if "quantity" in known else pd.Series(1.0, known.index)
    frame = pd.DataFrame(
        {
            "row": clients.index(known["client_id"].astype(str)),
            "col": items.index(known["item_id"].astype(str)),
            "day": _day_number(known["timestamp"]),
            "units": np.maximum(quantity.to_numpy(np.float64, na_value=1.0), 0.0),
        }
    )
    frame = frame[(frame["row"] >= 0) & (frame["col"] >= 0)]
    grouped = frame.groupby(["row", "col", "day"], sort=False)["units"].sum()
    return grouped.reset_index()


def _day_number(stamps: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of timestamps."""
    return pd.to_datetime(stamps).to_numpy().astype("datetime64[D]").astype(np.int64)


def intervals(days: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Mean days between distinct purchase days (≥ 1; pairs bought on two or more days)."""
    return np.maximum((last - first) / np.maximum(days - 1, 1), 1.0).astype(np.float32)
