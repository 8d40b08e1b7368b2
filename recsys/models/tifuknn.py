"""TIFU-kNN: a client's time-decayed item frequencies, blended with its neighbours'.

Hu et al., "Modeling Personalized Item Frequency Information for Next-basket
Recommendation" (SIGIR 2020), as the paper describes it: each client's vector weighs
its baskets in time order (groups of m baskets, decay r_b within a group and r_g across
groups: the ``tifu`` weighting, :func:`recsys.matrix.tifu_vectors`), and

    score = α · own vector + (1 − α) · mean of the k most similar clients' vectors.

The vectors need the baskets' order, which the histories requests carry do not hold:
known clients are scored from the vectors of the fit; clients it never saw get
popularity (no fold-in). Items neither the client nor its neighbours bought follow in
popularity order (score 0).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recsys.models._base import ModelConfig, Scorer
from recsys.models._neighbours import Similarity, neighbour_weights
from recsys.models._top import top_then_popular

__all__ = ["TIFUKNNConfig", "TIFUKNNScorer"]


class TIFUKNNConfig(ModelConfig):
    """Hyperparameters of TIFU-kNN (defaults: the paper's)."""

    weighting: (
        Literal[
            "binary", "count", "log1p", "bm25", "first_days", "last_days", "purchase_days", "tifu"
        ]
        | None
    ) = "tifu"
    """Fitted on the TIFU vectors built with the fields below; on another matrix, its
    rows are read as the clients' vectors."""
    group_size: int = Field(default=7, ge=1)
    """m: baskets (purchase days) per group, counted from the oldest."""
    within_decay: float = Field(default=0.9, gt=0, le=1)
    """r_b: each older basket of a group weighs this much less."""
    group_decay: float = Field(default=0.7, gt=0, le=1)
    """r_g: each older group weighs this much less (the newest weighs 1)."""
    neighbours: int = Field(default=300, ge=1)
    """k: the most similar clients whose mean vector is blended in."""
    alpha: float = Field(default=0.7, ge=0, le=1)
    """α: the weight of the client's own vector (1 − α: its neighbours')."""
    similarity: Similarity = "cosine"
    """``cosine`` between vectors (clients sharing no item are no neighbours), or
    ``euclidean``: the nearest by distance (the authors' code)."""

    def matrix_settings(self) -> dict[str, Any]:
        """The TIFU vectors' group size and decays, when fitted on them."""
        if self.weighting != "tifu":
            return {}
        return {
            "tifu_group_size": self.group_size,
            "tifu_within_decay": self.within_decay,
            "tifu_group_decay": self.group_decay,
        }


class TIFUKNNScorer(Scorer):
    """α · the client's vector + (1 − α) · its neighbours' mean vector."""

    name = "tifuknn"
    label = "clients who buy like this one"
    personal = True
    config_class = TIFUKNNConfig
    config: TIFUKNNConfig

    def __init__(self, config: TIFUKNNConfig | None = None) -> None:
        super().__init__(config)
        self.vectors = sp.csr_matrix((0, 0), dtype=np.float32)
        self.neighbours = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(self, matrix: sp.csr_matrix, groups: np.ndarray | None) -> None:
        self.vectors = matrix
        self.neighbours = neighbour_weights(matrix, self.config.neighbours, self.config.similarity)

    def _recommend(
        self, rows: np.ndarray, history: sp.csr_matrix, k: int, exclude_seen: bool, fold_in: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        alpha = self.config.alpha
        own = self.vectors[rows].toarray()
        theirs = (self.neighbours[rows] @ self.vectors).toarray()
        scores = alpha * own + (1 - alpha) * theirs
        return top_then_popular(scores, self.popularity, k, history if exclude_seen else None)

    def _state(self) -> dict[str, Any]:
        return {**_arrays("vectors", self.vectors), **_arrays("neighbours", self.neighbours)}

    def _restore(self, state: dict[str, Any]) -> None:
        self.vectors = _matrix(state, "vectors", (self.n_clients, self.n_items))
        self.neighbours = _matrix(state, "neighbours", (self.n_clients, self.n_clients))


def _arrays(key: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    """A CSR matrix as three arrays named after ``key``."""
    return {
        f"{key}_data": matrix.data,
        f"{key}_indices": matrix.indices,
        f"{key}_indptr": matrix.indptr,
    }


def _matrix(state: dict[str, Any], key: str, shape: tuple[int, int]) -> sp.csr_matrix:
    """What :func:`_arrays` wrote, back as CSR."""
    arrays = (state[f"{key}_data"], state[f"{key}_indices"], state[f"{key}_indptr"])
    return sp.csr_matrix(arrays, shape=shape)
