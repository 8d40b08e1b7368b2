"""Popularity: the most-bought items, globally or within the client's group."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from recsys.models._base import ModelConfig, Scorer, top_k

__all__ = ["PopularConfig", "PopularScorer"]


class PopularConfig(ModelConfig):
    """Hyperparameters of the popularity baseline."""

    by: Literal["global", "group"] = "global"
    """``global`` ranks by buyers over all clients; ``group`` within the client's group
    (country or segment, given at fit), falling back to global for unknown clients."""


class PopularScorer(Scorer):
    """Rank items by the number of distinct clients who bought them."""

    name = "popular"
    label = "popularity"
    config_class = PopularConfig
    config: PopularConfig

    def __init__(self, config: PopularConfig | None = None) -> None:
        super().__init__(config)
        self.client_group = np.zeros(0, dtype=np.int64)
        self.group_popularity = np.zeros((0, 0), dtype=np.float32)

    def _fit(self, matrix: sp.csr_matrix, groups: np.ndarray | None) -> None:
        if self.config.by == "global" or groups is None:
            self.client_group = np.full(matrix.shape[0], -1, dtype=np.int64)
            return
        groups = np.asarray(groups, dtype=np.int64)
        n_groups = int(groups.max()) + 1 if groups.size else 0
        member = sp.csr_matrix(
            (np.ones(len(groups)), (groups, np.arange(len(groups)))),
            shape=(n_groups, len(groups)),
        )
        bought = (matrix > 0).astype(np.float32)
        self.group_popularity = np.asarray((member @ bought).todense(), dtype=np.float32)
        self.client_group = groups

    def _recommend(
        self, rows: np.ndarray, history: sp.csr_matrix, k: int, exclude_seen: bool, fold_in: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        group = self.client_group[rows]
        if self.group_popularity.size == 0 or (group < 0).all():
            return self.popular(history, k, exclude_seen)
        # Ties within a group are broken by global popularity (a small fraction).
        tiebreak = self.popularity / (self.popularity.max() + 1.0)
        block = np.where(group[:, None] >= 0, self.group_popularity[group], 0.0) + tiebreak
        if exclude_seen:
            block[history.nonzero()] = -np.inf
        return top_k(block, k)

    def _state(self) -> dict[str, Any]:
        return {"client_group": self.client_group, "group_popularity": self.group_popularity}

    def _restore(self, state: dict[str, Any]) -> None:
        self.client_group = state["client_group"]
        self.group_popularity = state["group_popularity"]
