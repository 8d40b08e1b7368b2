"""P-Pop (personal popularity): the client's own items first, then the popular ones.

The next-basket baseline of Li et al. ("A Next Basket Recommendation Reality Check",
TOIS 2023): a client's items ordered by the number of distinct days it bought each,
ties by the later last purchase, then the items most clients bought. It learns nothing
but the counts: fitted on the ``purchase_days`` matrix (:mod:`recsys.matrix`), whose
values hold exactly that order, it ranks each known client's row by value.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from recsys.models._base import ModelConfig, Scorer
from recsys.models._top import top_then_popular

__all__ = ["PPopConfig", "PPopScorer"]


class PPopConfig(ModelConfig):
    """Settings of the P-Pop baseline (it has no hyperparameters)."""

    weighting: (
        Literal[
            "binary", "count", "log1p", "bm25", "first_days", "last_days", "purchase_days", "tifu"
        ]
        | None
    ) = "purchase_days"
    """Fitted on distinct purchase days with the last day as a fraction: P-Pop's order.
    On another matrix it ranks by that matrix's values (binary: popularity decides)."""


class PPopScorer(Scorer):
    """Score = the fitted matrix's value of each of the client's items; the items it
    never bought follow in popularity order (score 0).

    Known clients are read from the fitted matrix (the days are there, not in the
    binary histories requests carry); clients it never saw get popularity.
    """

    name = "ppop"
    label = "your most-bought items"
    config_class = PPopConfig
    config: PPopConfig

    def __init__(self, config: PPopConfig | None = None) -> None:
        super().__init__(config)
        self.values = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(self, matrix: sp.csr_matrix, groups: np.ndarray | None) -> None:
        self.values = matrix

    def _recommend(
        self, rows: np.ndarray, history: sp.csr_matrix, k: int, exclude_seen: bool, fold_in: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        own = self.values[rows].toarray()
        return top_then_popular(own, self.popularity, k, history if exclude_seen else None)

    def _state(self) -> dict[str, Any]:
        v = self.values
        return {"values_data": v.data, "values_indices": v.indices, "values_indptr": v.indptr}

    def _restore(self, state: dict[str, Any]) -> None:
        arrays = (state["values_data"], state["values_indices"], state["values_indptr"])
        self.values = sp.csr_matrix(arrays, shape=(self.n_clients, self.n_items))
