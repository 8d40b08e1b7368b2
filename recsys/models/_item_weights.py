"""Models whose scores are ``history @ W`` for an item × item weight matrix W.

EASE (dense W) and RP3beta (sparse W) differ only in how W is fitted. W may cover
a subset of the catalogue (``kept`` columns, e.g. EASE's most-bought items when the
catalogue is too large for a dense items² matrix); the other items are never
proposed (``-inf``). Histories are read as binary: both models are fitted on a
binary matrix, and any client with a history is scored from it (fold-in is free).
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp

from recsys._sparse import SCORE_DTYPE, compact_row_sums, dense_block
from recsys.models._base import Recommendations, Scorer, top_candidates, top_k
from recsys.models._top import top_of_dense

Weights: TypeAlias = np.ndarray | sp.csr_matrix


class ItemWeightScorer(Scorer):
    """Score = Σ over the client's items of their weight towards the candidate."""

    personal = True
    weights: Weights
    kept: np.ndarray
    #: Whether a dense W scores nearly every covered item (:meth:`_proposed` marks few
    #: ``-inf``): then one partition of the whole summed row finds its top.
    scores_all = True

    def _keep(self, matrix: sp.csr_matrix) -> np.ndarray:
        """The item columns W covers: all of them unless a model says otherwise."""
        return np.arange(matrix.shape[1])

    def _index(self) -> None:
        """Item column → row of W (``-1``: not covered)."""
        self.position = np.full(self.n_items, -1, dtype=np.int64)
        self.position[self.kept] = np.arange(len(self.kept))

    def _can_personalise(
        self, rows: np.ndarray, history: sp.csr_matrix, fold_in: bool
    ) -> np.ndarray:
        return np.diff(history.indptr) > 0

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        """Rows × covered items (:attr:`kept`) scores of binary ``history`` rows;
        ``-inf`` = not proposed. Never catalogue-wide when W covers part of it."""
        binary = (history[:, self.kept] > 0).astype(np.float32)
        block = binary @ self.weights
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        return self._proposed(block.astype(SCORE_DTYPE))

    def _proposed(self, scores: np.ndarray) -> np.ndarray:
        """Mark what the model does not propose as ``-inf`` (default: nothing more)."""
        return scores

    def _recommend(
        self, rows: np.ndarray, history: sp.csr_matrix, k: int, exclude_seen: bool, fold_in: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = self.scores(history)
        if exclude_seen:
            seen = history.tocoo()
            at = self.position[seen.col]
            scores[seen.row[at >= 0], at[at >= 0]] = -np.inf
        items, values = top_k(scores, k)  # positions in W, ties by item (kept is sorted)
        return np.where(items >= 0, self.kept[np.maximum(items, 0)], -1), values

    def _row_sums(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Columns (sorted, as item columns) and sums of ``rows`` of W, compact."""
        if isinstance(self.weights, sp.csr_matrix):  # index arithmetic, no scipy slicing
            positions, summed = compact_row_sums(self.weights, rows)
        else:  # dense W: every covered item gets a score (one gemv over the rows)
            summed = np.ones(len(rows), np.float32) @ self.weights[rows]
            positions = np.arange(len(self.kept))
        return self.kept[positions], self._proposed(summed[None, :])[0]

    def basket_scores(self, items: np.ndarray) -> np.ndarray:
        """One basket's scores: the sum of its items' rows of W (catalogue-long)."""
        columns, summed = self._row_sums(self._rows(items))
        out = np.full(self.n_items, -np.inf, dtype=SCORE_DTYPE)
        out[columns] = summed
        return out

    def basket_candidates(
        self, items: np.ndarray, n: int, seen: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top ``n`` of the summed rows, never wider than W's covered items."""
        rows = self._rows(items)
        if isinstance(self.weights, sp.csr_matrix):
            return top_candidates(*self._row_sums(rows), n, seen)
        # Dense W: mask the seen items by position, not by searching the candidates.
        summed = self._proposed((np.ones(len(rows), np.float32) @ self.weights[rows])[None, :])[0]
        blocked = None if seen is None else self._rows(seen)
        top, values = top_of_dense(summed, n, blocked, dense=self.scores_all)
        return self.kept[top], values

    def similar_candidates(self, item: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The items ``item`` weighs most (positive weights only), itself left out."""
        columns, weights = self._row_sums(self._rows(np.array([item])))
        keep = (weights > 0) & (columns != item)
        return top_candidates(columns[keep], weights[keep], n)

    def _rows(self, items: np.ndarray) -> np.ndarray:
        """Rows of W of the covered ``items``."""
        rows = self.position[np.asarray(items, dtype=np.int64)]
        return rows[rows >= 0]

    def similarity_block(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Weights of ``rows`` (purchases) towards ``columns`` (shown items); 0 outside W."""
        if self.kept.size == self.n_items and not isinstance(self.weights, sp.csr_matrix):
            # W covers every item (``kept`` is sorted: positions are the columns).
            return self.weights[rows[:, None], columns].astype(SCORE_DTYPE)
        r, c = self.position[rows], self.position[columns]
        block = np.zeros((len(rows), len(columns)), dtype=SCORE_DTYPE)
        ok_r, ok_c = np.flatnonzero(r >= 0), np.flatnonzero(c >= 0)
        if ok_r.size and ok_c.size:
            if isinstance(self.weights, sp.csr_matrix):
                block[ok_r[:, None], ok_c] = dense_block(self.weights, r[ok_r], c[ok_c])
            else:  # only the few shown columns are copied, not whole rows
                block[ok_r[:, None], ok_c] = self.weights[r[ok_r][:, None], c[ok_c]]
        return block

    def similar_items(self, items: np.ndarray, k: int = 10) -> Recommendations:
        """Items the given ones weigh most (positive weights only), themselves left out."""
        items = np.asarray(items, dtype=np.int64)
        block = np.full((len(items), self.n_items), -np.inf, dtype=SCORE_DTYPE)
        known = np.flatnonzero(self.position[items] >= 0)
        part = self.weights[self.position[items[known]]]
        block[np.ix_(known, self.kept)] = part.toarray() if sp.issparse(part) else part
        block[np.arange(len(items)), items] = -np.inf
        block[block <= 0] = -np.inf
        ids, scores = top_k(block, k)
        return Recommendations(items=ids, scores=scores)

    def _state(self) -> dict[str, Any]:
        w = self.weights
        if isinstance(w, sp.csr_matrix):
            return {
                "kept": self.kept,
                "w_data": w.data,
                "w_indices": w.indices,
                "w_indptr": w.indptr,
            }
        return {"kept": self.kept, "weights": w}

    def _restore(self, state: dict[str, Any]) -> None:
        self.kept = state["kept"].astype(np.int64)
        if "weights" in state:
            self.weights = np.ascontiguousarray(state["weights"])  # rows are read per request
        else:
            arrays = (state["w_data"], state["w_indices"], state["w_indptr"])
            self.weights = sp.csr_matrix(arrays, shape=(len(self.kept), len(self.kept)))
        self._index()
