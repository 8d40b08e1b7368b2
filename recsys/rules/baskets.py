"""Baskets: the order × item incidence matrix that association rules are mined from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.vocab import IdMap

__all__ = ["Baskets", "build_baskets"]


@dataclass(frozen=True)
class Baskets:
    """A boolean order × item CSR matrix and the id maps of its rows and columns."""

    matrix: sp.csr_matrix
    orders: IdMap
    items: IdMap

    @property
    def count(self) -> int:
        """Number of baskets."""
        return int(self.matrix.shape[0])


def build_baskets(events: pd.DataFrame, items: IdMap | None = None) -> Baskets:
    """Every order is a basket, anonymous ones included (an item appears once per basket)."""
    orders = IdMap.from_values(events["order_id"])
    items = items if items is not None else IdMap.from_values(events["item_id"])
    rows, cols = orders.index(events["order_id"]), items.index(events["item_id"])
    inside = (rows >= 0) & (cols >= 0)
    matrix = sp.csr_matrix(
        (np.ones(int(inside.sum()), dtype=np.float32), (rows[inside], cols[inside])),
        shape=(len(orders), len(items)),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return Baskets(matrix, orders, items)
