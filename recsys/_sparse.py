"""Small vectorised helpers on CSR matrices."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def row_contains(columns: np.ndarray, matrix: sp.csr_matrix) -> np.ndarray:
    """For a rows × k array of column ids, is each id a stored entry of its row?

    ``-1`` ids are never contained. One ``np.isin`` over row-offset keys, no loops.
    """
    matrix = matrix.tocsr()
    n_cols = matrix.shape[1]
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    stored = rows * n_cols + matrix.indices
    asked = np.arange(columns.shape[0], dtype=np.int64)[:, None] * n_cols + columns
    return np.isin(asked, stored) & (columns >= 0)
