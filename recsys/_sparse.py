"""Small vectorised helpers on CSR matrices.

The dtype contract of dense score vectors is stated here, once: every dense,
catalogue-long score vector a source builds is :data:`SCORE_DTYPE` (float64), so
``-inf`` ("proposes nothing") always fits. Build them with :func:`row_sums` or
:func:`empty_scores`, never with a bare ``np.bincount`` or ``np.zeros``: numpy's
``bincount`` returns int64 for an empty input even with float weights, and an
integer vector cannot hold ``-inf`` (an item no rule starts from once answered 500).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: The dtype of every dense score vector (see the module docstring).
SCORE_DTYPE = np.float64
#: Below this many columns a request may count into a dense vector (at most 512 KB):
#: a bincount is cheaper than sorting there, and no catalogue of 1M items comes near.
SMALL = 65_536


def empty_scores(n: int) -> np.ndarray:
    """A zero score vector of ``n`` items in :data:`SCORE_DTYPE`."""
    return np.zeros(n, dtype=SCORE_DTYPE)


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


def _positions(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Storage positions of ``rows``' entries, and how many each row has."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 1:  # one request's row: a slice
        start, end = int(indptr[rows[0]]), int(indptr[rows[0] + 1])
        return np.arange(start, end), np.array([end - start])
    starts = indptr[rows].astype(np.int64)
    lengths = indptr[rows + 1] - starts
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return offsets + np.arange(int(lengths.sum()), dtype=np.int64), lengths


def gather_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of ``rows`` of a CSR matrix, concatenated.

    Index arithmetic on ``indptr`` only: for one request this is far cheaper than
    slicing a new sparse matrix (each scipy construction costs tens of µs).
    """
    positions, _ = _positions(matrix.indptr, rows)
    return matrix.indices[positions], matrix.data[positions]


def row_sums(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Dense sum of ``rows`` of a CSR matrix: one basket's ``basket @ matrix``, always
    :data:`SCORE_DTYPE` (also when no entry is gathered)."""
    columns, values = gather_rows(matrix, rows)
    sums = np.bincount(columns, weights=values, minlength=matrix.shape[1])
    return sums.astype(SCORE_DTYPE, copy=False)


def dense_block(matrix: sp.csr_matrix, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``matrix[rows][:, columns]`` as a dense array (``columns`` unique)."""
    positions, lengths = _positions(matrix.indptr, rows)
    where = np.full(matrix.shape[1], -1, dtype=np.int64)
    where[columns] = np.arange(len(columns))
    labels = np.repeat(np.arange(len(lengths)), lengths)
    slot = where[matrix.indices[positions]]
    block = np.zeros((len(lengths), len(columns)), dtype=np.float64)
    block[labels[slot >= 0], slot[slot >= 0]] = matrix.data[positions][slot >= 0]
    return block


def compact_row_sums(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`row_sums` without the catalogue-long vector: the columns some row
    stores (sorted, unique) and their sums (:data:`SCORE_DTYPE`)."""
    columns, values = gather_rows(matrix, rows)
    if matrix.shape[1] <= SMALL:  # a bincount over few columns beats sorting
        sums = np.bincount(columns, values, matrix.shape[1])
        found = np.flatnonzero(np.bincount(columns, minlength=matrix.shape[1]))
        return found, sums[found].astype(SCORE_DTYPE)
    found, inverse = np.unique(columns, return_inverse=True)
    return found.astype(np.int64), np.bincount(inverse, values, len(found)).astype(SCORE_DTYPE)


def row_keys(indptr: np.ndarray, indices: np.ndarray, n_cols: int) -> np.ndarray:
    """``row × n_cols + column`` of every stored entry of a CSR layout (sorted when the
    rows' columns are): one int64 key per (request, item) pair."""
    rows = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))
    return rows * n_cols + indices


def top_per_row(
    keys: np.ndarray, values: np.ndarray, n_rows: int, n_cols: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` best ``values`` of each row from sparse ``(row × n_cols + column)``
    keys, ties by column: items (``-1`` padded), scores (``nan`` padded) and the
    positions in ``keys`` they came from (``-1`` padded), each rows × k.

    O(entries), never rows × columns: the blend of a request over a million items
    costs what its few hundred candidates cost.
    """
    items = np.full((n_rows, k), -1, dtype=np.int64)
    scores = np.full((n_rows, k), np.nan, dtype=np.float32)
    positions = np.full((n_rows, k), -1, dtype=np.int64)
    if n_rows == 1:  # one request: its keys are its columns
        picked = np.lexsort((keys, -values))[:k]
        items[0, : picked.size], scores[0, : picked.size] = keys[picked], values[picked]
        positions[0, : picked.size] = picked
        return items, scores, positions
    rows, columns = np.divmod(keys, n_cols)
    order = np.lexsort((columns, -values, rows))
    rows = rows[order]
    starts = np.searchsorted(rows, np.arange(n_rows))
    place = np.arange(len(rows)) - starts[rows]
    first = place < k
    picked = order[first]
    r, p = rows[first], place[first]
    items[r, p], scores[r, p], positions[r, p] = columns[picked], values[picked], picked
    return items, scores, positions


def contains(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """For each of ``needles``: is it in ``haystack`` (sorted)? A binary search per
    needle: far cheaper than ``np.isin`` (which sorts both) for a request's few items."""
    if haystack.size == 0:
        return np.zeros(needles.shape, dtype=bool)
    at = np.minimum(np.searchsorted(haystack, needles), haystack.size - 1)
    return haystack[at] == needles


def found_in(sorted_items: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Mask over ``sorted_items`` (sorted, unique) of those in ``wanted``: one binary
    search per wanted item, so a long candidate list costs what the few wanted cost."""
    mask = np.zeros(sorted_items.shape, dtype=bool)
    if sorted_items.size and wanted.size:
        at = np.minimum(np.searchsorted(sorted_items, wanted), sorted_items.size - 1)
        mask[at[sorted_items[at] == wanted]] = True
    return mask
