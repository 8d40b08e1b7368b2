"""The most similar clients of each client, by the similarity of their vectors."""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from recsys.models._top import top_k

__all__ = ["Similarity", "neighbour_weights"]

Similarity = Literal["cosine", "euclidean"]

#: Similarities computed at once: a block of rows × every client, 16 M float64 (128 MB).
_BLOCK_CELLS = 1 << 24


def neighbour_weights(vectors: sp.csr_matrix, k: int, similarity: Similarity) -> sp.csr_matrix:
    """Clients × clients: ``1 / found`` at each client's ``k`` most similar other
    clients (ties by index), so ``weights @ vectors`` is the mean of their vectors.

    ``cosine``: only clients that share an item count (a cosine of 0 says nothing, and
    the k "nearest" would be any); ``euclidean``: the k nearest, whatever they share.
    """
    n = vectors.shape[0]
    k = min(k, n - 1)
    if k <= 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    prepared = _prepare(vectors.astype(np.float64), similarity)
    step = max(1, _BLOCK_CELLS // n)
    blocks = [
        _nearest(prepared, start, min(start + step, n), k, similarity)
        for start in range(0, n, step)
    ]
    return sp.vstack(blocks, format="csr").astype(np.float32)


def _prepare(vectors: sp.csr_matrix, similarity: Similarity) -> tuple[sp.csr_matrix, np.ndarray]:
    """Unit rows for cosine (empty rows stay empty); the vectors and their squared
    norms for Euclidean distances."""
    squared = np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel()
    if similarity == "euclidean":
        return vectors, squared
    norms = np.sqrt(squared)
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale) @ vectors), squared


def _nearest(
    prepared: tuple[sp.csr_matrix, np.ndarray], start: int, stop: int, k: int, similarity: str
) -> sp.csr_matrix:
    """One block of rows of :func:`neighbour_weights`."""
    vectors, squared = prepared
    block = (vectors[start:stop] @ vectors.T).toarray()
    if similarity == "euclidean":  # minus the squared distance: the nearest score highest
        block = 2 * block - squared[start:stop, None] - squared[None, :]
    else:
        block[block <= 0] = -np.inf
    rows = np.arange(stop - start)
    block[rows, start + rows] = -np.inf  # a client is not its own neighbour
    chosen, _ = top_k(block, k)
    found = chosen >= 0
    share = 1.0 / np.maximum(found.sum(axis=1), 1)
    weights = np.where(found, share[:, None], 0.0)
    shape = (stop - start, len(squared))
    return sp.csr_matrix(
        (weights[found], (np.repeat(rows, k)[found.ravel()], chosen[found])), shape
    )
