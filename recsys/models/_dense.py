"""What the models with dense item × item weights share: their config, the
``max_items`` cut, and the inverse of a large symmetric positive definite matrix."""

from __future__ import annotations

import logging

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from pydantic import Field

from recsys.models._base import ModelConfig
from recsys.models._item_weights import ItemWeightScorer

__all__ = ["DenseConfig", "DenseItemScorer", "spd_inverse"]

log = logging.getLogger(__name__)


class DenseConfig(ModelConfig):
    """What every model with dense item × item weights shares."""

    regularization: float = Field(default=400.0, gt=0)
    """L2 penalty λ added to the Gram matrix's diagonal."""
    max_items: int = Field(default=10_000, ge=2)
    """Above this many items, only the most-bought ones are fitted and proposed (the
    factor models' indexes cover the tail). The dense weights take items² × 4 bytes
    and the fit items³: 10,000 fit in ~25 s and ~2.5 GB here, 20,000 in ~260 s and
    ~9 GB (docs/explanation/scale.md)."""


class DenseItemScorer(ItemWeightScorer):
    """Dense weights over at most ``max_items`` items: the most-bought, logged."""

    config: DenseConfig

    def _keep(self, matrix: sp.csr_matrix) -> np.ndarray:
        n = matrix.shape[1]
        if n <= self.config.max_items:
            return np.arange(n)
        kept = np.sort(np.argsort(-self.popularity, kind="stable")[: self.config.max_items])
        log.warning(
            "%s: %d items exceed max_items=%d; fitted on the %d most-bought items only",
            self.name,
            n,
            self.config.max_items,
            len(kept),
        )
        return kept

    def fit_note(self) -> str | None:
        """The items left out by ``max_items``, if any."""
        if len(self.kept) == self.n_items:
            return None
        return f"fitted on the {len(self.kept):,} most-bought of {self.n_items:,} items"


#: The largest matrix inverted in one LAPACK call: OpenBLAS 0.3.31's threaded
#: Cholesky (scipy's and numpy's wheels) crashes the process from about 16,000 rows.
_LAPACK_ROWS = 12_000


def spd_inverse(gram: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix.

    Up to :data:`_LAPACK_ROWS`: Cholesky then LAPACK's potri, in place (2.3× faster
    than solving against the identity: 10,000 items in ~19 s instead of 45 s here).
    Above: 2 × 2 blocks through the Schur complement S = D − Bᵀ A⁻¹ B, each block
    inverted by this function, the rest matrix products (threaded, and safe).
    """
    n = len(gram)
    if n <= _LAPACK_ROWS:
        return _lapack_inverse(gram)
    half = n // 2
    a_inv = spd_inverse(gram[:half, :half].copy())
    b = gram[:half, half:]
    a_inv_b = a_inv @ b
    s_inv = spd_inverse(gram[half:, half:] - b.T @ a_inv_b)
    upper = -(a_inv_b @ s_inv)  # the top-right block of the inverse
    gram[:half, :half] = a_inv - upper @ a_inv_b.T
    gram[:half, half:] = upper
    gram[half:, :half] = upper.T
    gram[half:, half:] = s_inv
    return gram


def _lapack_inverse(gram: np.ndarray) -> np.ndarray:
    """Cholesky and potri (one triangle), the other triangle mirrored in blocks."""
    factor, lower = scipy.linalg.cho_factor(gram, overwrite_a=True)
    inverse, info = scipy.linalg.lapack.dpotri(factor, lower=lower, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"potri failed ({info})")
    full = inverse if lower else inverse.T  # a view whose lower triangle is filled
    for start in range(0, len(full), 2048):  # no n² index arrays
        stop = start + 2048
        block = full[start:stop, start:stop]
        block[...] = np.tril(block) + np.tril(block, -1).T
        full[start:stop, stop:] = full[stop:, start:stop].T
    return inverse
