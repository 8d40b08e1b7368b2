"""Re-purchase rhythm: how often each client buys each item again, and when last.

Fitted from the events at training: for every (client, item) bought on two or more
distinct days, the mean interval between those days and the last day. Stored as two
CSR matrices with the client × item layout of the bundle's history (one row per
client), so a request reads its client's row like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._io import UNREADABLE
from recsys.errors import ModelError
from recsys.vocab import IdMap

__all__ = ["RepeatIndex", "due_scores"]

_DAY = 86_400


@dataclass(frozen=True)
class RepeatIndex:
    """Per client row: the items it re-buys, their mean interval and last day."""

    interval: sp.csr_matrix
    """Mean days between distinct purchase days (≥ 1)."""
    last: sp.csr_matrix
    """The last purchase day (days since 1970-01-01), same layout as ``interval``."""
    as_of: float
    """The newest day of the events it was fitted on (days since 1970-01-01)."""

    @classmethod
    def fit(cls, events: pd.DataFrame, clients: IdMap, items: IdMap) -> RepeatIndex:
        """From purchase lines (``client_id``, ``item_id``, ``timestamp``)."""
        known = events.dropna(subset=["client_id"])
        days = pd.to_datetime(known["timestamp"]).to_numpy().astype("datetime64[D]")
        frame = pd.DataFrame(
            {
                "row": clients.index(known["client_id"].astype(str)),
                "col": items.index(known["item_id"].astype(str)),
                "day": days.astype(np.int64),
            }
        )
        frame = frame[(frame["row"] >= 0) & (frame["col"] >= 0)].drop_duplicates()
        stats = frame.groupby(["row", "col"])["day"].agg(["count", "min", "max"]).reset_index()
        as_of = float(days.astype(np.int64).max()) if len(days) else 0.0
        return cls.from_day_counts(stats, (len(clients), len(items)), as_of)

    @classmethod
    def from_day_counts(
        cls, stats: pd.DataFrame, shape: tuple[int, int], as_of: float
    ) -> RepeatIndex:
        """From per-pair distinct-day statistics (columns ``row``, ``col``, ``count``,
        ``min``, ``max``; days since 1970-01-01), however they were counted (pandas here,
        Spark for ``train --engine spark``)."""
        stats = stats[stats["count"] >= 2]
        spans = (stats["max"] - stats["min"]).to_numpy(np.float64)
        interval = np.maximum(spans / (stats["count"].to_numpy() - 1), 1.0)
        rows, cols = stats["row"].to_numpy(), stats["col"].to_numpy()
        return cls(
            sp.csr_matrix((interval.astype(np.float32), (rows, cols)), shape=shape),
            sp.csr_matrix((stats["max"].to_numpy(np.float32), (rows, cols)), shape=shape),
            as_of,
        )

    def row(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A client row's items, intervals and last days."""
        start, end = self.interval.indptr[row], self.interval.indptr[row + 1]
        return (
            self.interval.indices[start:end].astype(np.int64),
            self.interval.data[start:end],
            self.last.data[start:end],
        )

    def save(self, path: Path) -> None:
        """Write the arrays (``.npz``, no pickle)."""
        m, last = self.interval, self.last
        np.savez(
            path,
            indptr=m.indptr,
            indices=m.indices,
            interval=m.data,
            last=last.data,
            shape=np.array(m.shape),
            as_of=np.array([self.as_of]),
        )

    @classmethod
    def load(cls, path: Path) -> RepeatIndex:
        """Read what :meth:`save` wrote (:class:`ModelError` when it cannot)."""
        try:
            with np.load(path, allow_pickle=False) as f:
                shape = tuple(int(x) for x in f["shape"])
                structure = (f["indices"], f["indptr"])
                interval = sp.csr_matrix((f["interval"], *structure), shape=shape)
                last = sp.csr_matrix((f["last"], *structure), shape=shape)
                return cls(interval, last, float(f["as_of"][0]))
        except (*UNREADABLE, KeyError, ValueError) as exc:  # type: ignore[misc]
            raise ModelError(f"{path}: not a readable repeat index ({exc})") from None


def due_scores(interval: np.ndarray, last: np.ndarray, today: float) -> np.ndarray:
    """How due each re-bought item is: 1 at its usual interval, falling as it is early
    or late (half at twice or half the interval), 0 before half of it."""
    ratio = (today - last) / interval
    score = 1.0 / (1.0 + np.abs(np.log2(np.maximum(ratio, 1e-9))))
    return np.where(ratio >= 0.5, score, 0.0).astype(np.float32)
