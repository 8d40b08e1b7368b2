"""What clients went on to buy: EASE's ridge regression fitted forward in time.

EASE learns which items are bought *together* (each item from the others, the
same rows). This model learns which items clients *first bought later*: its rows
are clients' purchases before the last ``window_days`` of the data, its targets the
items they bought for the first time within them, and its weights solve

    W = (EᵀE + λI)⁻¹ EᵀL,    E = earlier purchases (binary), L = later first purchases.

It is fitted on the ``first_days`` matrix (days from each pair's first purchase to
the newest day, plus 1: :mod:`recsys.matrix`), so it needs no other input than the
other models; it scores, folds in and explains like EASE (score = history · W).
A trend the newest weeks carry (a season starting, a range replacing another) is
what it adds to co-occurrence.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recsys.models._dense import DenseConfig, DenseItemScorer, spd_inverse

__all__ = ["ForwardConfig", "ForwardScorer"]

log = logging.getLogger(__name__)


class ForwardConfig(DenseConfig):
    """Hyperparameters of the forward model."""

    weighting: Literal["binary", "count", "log1p", "bm25", "first_days", "last_days"] | None = (
        "first_days"
    )
    """Fitted on days since each pair's first purchase: nothing else carries the order
    (on another matrix no purchase looks older than the window and fit says so)."""
    regularization: float = Field(default=500.0, gt=0)
    """L2 penalty λ on the earlier purchases' Gram matrix (tuned: bench/tune.py)."""
    window_days: int = Field(default=60, ge=1)
    """The "later" part: first purchases within this many days of the newest day."""


class ForwardScorer(DenseItemScorer):
    """W = (EᵀE + λI)⁻¹ EᵀL from earlier purchases E to later first purchases L."""

    name = "forward"
    label = "what clients went on to buy"
    later = True
    config_class = ForwardConfig
    config: ForwardConfig

    def _fit(self, matrix: sp.csr_matrix, groups: np.ndarray | None) -> None:
        self.kept = np.asarray(self._keep(matrix), dtype=np.int64)
        earlier, later = _before_and_after(matrix[:, self.kept].tocsr(), self.config.window_days)
        if earlier.nnz == 0:  # e.g. fewer days of data than the window: popularity only
            log.warning("forward: %s", self._nothing_before())
            self.kept = self.kept[:0]
            self.weights = np.zeros((0, 0), dtype=np.float32)
            self._index()
            return
        gram = (earlier.T @ earlier).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.config.regularization
        towards = (earlier.T @ later).toarray().astype(np.float32)  # counts: exact
        # The product in float32 (the weights' type: a request sums rows of them): half
        # the memory and time of float64 at 10,000 items; the inverse itself in float64.
        inverse = spd_inverse(gram).astype(np.float32)
        del gram
        self.weights = np.ascontiguousarray(inverse @ towards)
        self._index()

    def _can_personalise(
        self, rows: np.ndarray, history: sp.csr_matrix, fold_in: bool
    ) -> np.ndarray:
        if self.kept.size == 0:  # nothing learnt: every client gets popularity
            return np.zeros(history.shape[0], dtype=bool)
        return super()._can_personalise(rows, history, fold_in)

    def fit_note(self) -> str | None:
        """Why nothing was learnt, or the items ``max_items`` left out."""
        return self._nothing_before() if self.kept.size == 0 else super().fit_note()

    def _nothing_before(self) -> str:
        return (
            f"no purchase older than window_days={self.config.window_days} (fitted on the"
            " first_days matrix?): popularity only"
        )


def _before_and_after(days: sp.csr_matrix, window: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Binary earlier purchases (first bought more than ``window`` days before the
    newest day) and later first purchases, over the clients that have both."""
    earlier, later = days.copy(), days.copy()
    earlier.data = (days.data > window).astype(np.float32)
    later.data = (days.data <= window).astype(np.float32)
    earlier.eliminate_zeros()
    later.eliminate_zeros()
    both = (np.diff(earlier.indptr) > 0) & (np.diff(later.indptr) > 0)
    return earlier[both], later[both]
