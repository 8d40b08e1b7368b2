"""RP3beta: three-step random walks item → client → item, popularity-discounted
(Paudel, Christoffel, Mendoza, Bernstein 2017; as benchmarked by Ferrari Dacrema et al. 2019)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recsys._sparse import SCORE_DTYPE
from recsys.models._base import ModelConfig
from recsys.models._item_weights import ItemWeightScorer

__all__ = ["RP3betaConfig", "RP3betaScorer"]

#: Dense scratch per block of rows while keeping each row's top neighbours (~64 MB).
_BLOCK_CELLS = 8_000_000


class RP3betaConfig(ModelConfig):
    """Hyperparameters of RP3beta."""

    alpha: float = Field(default=1.0, gt=0)
    """Exponent on the transition probabilities (1: plain random walk)."""
    beta: float = Field(default=0.6, ge=0)
    """Popularity discount: the walk's arrival at item j is divided by buyers(j)^β."""
    neighbours: int = Field(default=100, ge=1)
    """Top-K weights kept per item."""
    normalize: bool = True
    """Rows of the kept weights sum to 1."""


def _row_normalised(matrix: sp.csr_matrix, power: float) -> sp.csr_matrix:
    """Rows divided by their sums (transition probabilities), then raised to ``power``."""
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    out = sp.diags(1.0 / np.maximum(sums, 1e-12)) @ matrix
    out = out.tocsr()
    out.data **= power
    return out


class RP3betaScorer(ItemWeightScorer):
    """W_ij = Σ_u P(i→u)^α P(u→j)^α / buyers(j)^β, the diagonal 0, top-K per row."""

    name = "rp3beta"
    label = "random-walk neighbours (RP3beta)"
    config_class = RP3betaConfig
    config: RP3betaConfig
    scores_all = False  # no walk reaches most items (its W is CSR: the sparse path anyway)

    def _fit(self, matrix: sp.csr_matrix, groups: np.ndarray | None) -> None:
        self.kept = np.asarray(self._keep(matrix), dtype=np.int64)
        self.weights = self._weights((matrix > 0).astype(np.float32).tocsr())
        self._index()

    def _weights(self, binary: sp.csr_matrix) -> sp.csr_matrix:
        c = self.config
        item_client = _row_normalised(binary.T.tocsr(), c.alpha)
        client_item = _row_normalised(binary, c.alpha)
        buyers = np.asarray(binary.sum(axis=0)).ravel()
        discount = 1.0 / np.power(np.maximum(buyers, 1.0), c.beta)
        n = binary.shape[1]
        step = max(1, _BLOCK_CELLS // max(n, 1))
        blocks = [
            self._top_rows(item_client[i : i + step] @ client_item, i, discount)
            for i in range(0, n, step)
        ]
        return sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((n, n))

    def _top_rows(self, walk: sp.csr_matrix, first: int, discount: np.ndarray) -> sp.csr_matrix:
        """One block of rows: discounted, diagonal dropped, the K largest kept per row."""
        dense = walk.toarray().astype(SCORE_DTYPE) * discount[None, :]
        rows = np.arange(dense.shape[0])
        dense[rows, first + rows] = 0.0
        k = min(self.config.neighbours, dense.shape[1])
        top = np.argpartition(-dense, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(dense, top, axis=1)
        if self.config.normalize:
            values /= np.maximum(values.sum(axis=1, keepdims=True), 1e-12)
        keep = values > 0
        out = sp.csr_matrix(
            (values[keep], (np.repeat(rows, k).reshape(-1, k)[keep], top[keep])),
            shape=dense.shape,
        )
        return out.astype(np.float32)

    def _proposed(self, scores: np.ndarray) -> np.ndarray:
        """No walk reaches the item: not proposed."""
        scores[scores <= 0] = -np.inf
        return scores
