"""Matrix factorisation with implicit: ALS and BPR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from pydantic import Field

from recsys._sparse import contains, row_contains
from recsys.models._ann import ItemIndex
from recsys.models._base import ModelConfig, Recommendations, Scorer, top_k
from recsys.models._implicit import compact, recommend_with, single_threaded_blas

__all__ = ["ALSConfig", "ALSScorer", "BPRConfig", "BPRScorer"]


class _FactorConfig(ModelConfig):
    """Fields every factor model shares."""

    factors: int = Field(default=64, ge=1)
    """Latent dimensions."""
    regularization: float = Field(default=0.01, ge=0)
    """L2 penalty on the factors."""
    seed: int = 42
    """Random state of the initial factors (and of BPR's sampling)."""
    ann_min_items: int = Field(default=20_000, ge=1)
    """Catalogues of at least this many items get approximate candidate indexes
    (faiss IVF, built at fit, saved in the bundle); smaller ones are scanned exactly."""
    ann_probe: int = Field(default=48, ge=1)
    """Index clusters read per request: recall against time (docs/explanation/scale.md)."""


class ALSConfig(_FactorConfig):
    """Hyperparameters of implicit's AlternatingLeastSquares."""

    alpha: float = Field(default=1.0, gt=0)
    """Confidence scale, as implicit computes it: a bought pair has confidence alpha ×
    its matrix value (preference 1), every other pair confidence 1 (preference 0), not
    Hu et al.'s 1 + alpha × value. On the default ``binary`` matrix alpha 1.0 thus
    weighs bought and unbought pairs alike (plain least squares on the 0/1 preferences);
    bench/tune.py chose it from alpha 1, 10 and 40, each meant this way
    (docs/explanation/evaluation.md, "Tuning")."""
    iterations: int = Field(default=15, ge=1)
    """Alternating sweeps."""


class BPRConfig(_FactorConfig):
    """Hyperparameters of implicit's BayesianPersonalizedRanking."""

    learning_rate: float = Field(default=0.01, gt=0)
    """SGD step size."""
    iterations: int = Field(default=100, ge=1)
    """Epochs of sampled (client, bought, not bought) triples."""


class _FactorScorer(Scorer):
    """Shared recommend/similar/save logic for factor models.

    On large catalogues (``ann_min_items``) two indexes replace the scans of one
    request: inner product over the item factors (a client's candidates) and over
    the unit item factors (similar items, by cosine).
    """

    model: Any
    config: _FactorConfig
    ann: dict[str, ItemIndex] | None = None

    def _recommend(
        self, rows: np.ndarray, history: sp.csr_matrix, k: int, exclude_seen: bool, fold_in: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        recalc = fold_in or bool((rows < 0).any())
        if self.ann is not None:  # a batch (precompute) searches the index, not the catalogue
            vectors = self._client_vectors(rows, history, recalc)
            if vectors is not None:
                return self._ann_batch(vectors, history, k, exclude_seen)
        users = np.where(rows >= 0, rows, 0)
        return recommend_with(self.model, users, history, k, exclude_seen, recalc)

    def _client_vectors(
        self, rows: np.ndarray, history: sp.csr_matrix, recalc: bool
    ) -> np.ndarray | None:
        """The clients' factors to search the index with; ``None``: scan instead."""
        return None

    def _ann_batch(
        self, vectors: np.ndarray, history: sp.csr_matrix, k: int, exclude_seen: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row's approximate top ``k`` from the index, its history left out."""
        assert self.ann is not None
        # Enough extra results to survive dropping the seen ones; a heavy buyer whose
        # top k + 100 are mostly bought already may get fewer than k (padded).
        longest = int(np.diff(history.indptr).max(initial=0)) if exclude_seen else 0
        extra = min(longest, 100)
        items, scores = self.ann["inner"].search_many(vectors.astype(np.float32), k + extra)
        if exclude_seen:
            items = np.where(row_contains(items, history), -1, items)
        items, scores = compact(items, scores, k)
        return items[:, :k], scores[:, :k]

    @property
    def unit_item_factors(self) -> np.ndarray:
        """Item factors scaled to length 1 (computed once per fitted model)."""
        factors = self.model.item_factors
        if getattr(self, "_unit_source", None) is not factors:
            array = np.asarray(factors, dtype=np.float32)
            norms = np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)
            self._unit, self._unit_source = array / norms, factors
        return self._unit

    def similarity_block(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Cosine of the item factors (only the asked vectors are read)."""
        return self._unit_rows(rows) @ self._unit_rows(columns).T

    def _unit_rows(self, items: np.ndarray) -> np.ndarray:
        """The item factors of ``items`` scaled to length 1."""
        vectors = np.asarray(self.model.item_factors[items], dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)

    def similar_candidates(self, item: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Items with the closest factors (cosine), the item itself left out."""
        if self.ann is None:
            return super().similar_candidates(item, n)
        items, scores = self.ann["cosine"].search(self._unit_rows(np.array([item]))[0], n + 1)
        keep = items != item
        return items[keep][:n], scores[keep][:n]

    def _ann_candidates(
        self, vector: np.ndarray, n: int, seen: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The approximate top ``n`` inner products with ``vector``, ``seen`` left out."""
        assert self.ann is not None
        extra = 0 if seen is None else seen.size
        items, scores = self.ann["inner"].search(vector, n + extra)
        if seen is not None and seen.size:
            keep = ~contains(seen, items)
            items, scores = items[keep], scores[keep]
        return items[:n], scores[:n]

    def similar_items(self, items: np.ndarray, k: int = 10) -> Recommendations:
        """Items with the closest factors (cosine), the item itself left out."""
        items = np.asarray(items, dtype=np.int64)
        unit = self.unit_item_factors
        block = unit[items] @ unit.T
        block[np.arange(len(items)), items] = -np.inf
        ids, scores = top_k(block, k)
        return Recommendations(items=ids, scores=scores)

    def _state(self) -> dict[str, Any]:
        return {"user_factors": self.model.user_factors, "item_factors": self.model.item_factors}

    def _restore(self, state: dict[str, Any]) -> None:
        with single_threaded_blas():
            self.model = self._new_model()
        self.model.user_factors = state["user_factors"]
        self.model.item_factors = state["item_factors"]

    def _new_model(self) -> Any:
        raise NotImplementedError

    def _shared(self) -> dict[str, Any]:
        """implicit's keyword arguments both factor models take from :class:`_FactorConfig`."""
        c = self.config
        assert isinstance(c, _FactorConfig)
        return {"factors": c.factors, "regularization": c.regularization, "random_state": c.seed}

    def _fit(self, matrix: sp.csr_matrix, groups: np.ndarray | None) -> None:
        self._solve(matrix)
        self.ann = None
        if matrix.shape[1] >= self.config.ann_min_items:
            probe, seed = self.config.ann_probe, self.config.seed
            self.ann = {
                "inner": ItemIndex.build(self.model.item_factors, probe, seed),
                "cosine": ItemIndex.build(self.unit_item_factors, probe, seed),
            }

    def _solve(self, matrix: sp.csr_matrix) -> None:
        """Fit the factors with implicit (``training.spark`` solves with Spark MLlib and
        hands them over through :meth:`_restore`)."""
        with single_threaded_blas():
            self.model = self._new_model()
            self.model.fit(matrix, show_progress=False)

    def _save_files(self, directory: Path) -> None:
        for kind, index in (self.ann or {}).items():
            index.save(directory / f"ann_{kind}.faiss")

    def _load_files(self, directory: Path) -> None:
        found = {kind: directory / f"ann_{kind}.faiss" for kind in ("inner", "cosine")}
        if all(path.exists() for path in found.values()):
            probe = self.config.ann_probe
            self.ann = {kind: ItemIndex.load(path, probe) for kind, path in found.items()}


class ALSScorer(_FactorScorer):
    """Weighted matrix factorisation for implicit feedback (Hu, Koren, Volinsky 2008).

    Unknown clients with a history are folded in (implicit's ``recalculate_user``).
    """

    name = "als"
    label = "ALS matrix factorisation"
    personal = True
    config_class = ALSConfig
    config: ALSConfig

    def _can_personalise(
        self, rows: np.ndarray, history: sp.csr_matrix, fold_in: bool
    ) -> np.ndarray:
        return (rows >= 0) | (np.diff(history.indptr) > 0)

    def _client_vectors(self, rows: np.ndarray, history: sp.csr_matrix, recalc: bool) -> np.ndarray:
        """Trained factors, or every row folded in from its (binary) history."""
        if not recalc:
            return np.asarray(self.model.user_factors[rows])
        binary = history.tocsr()
        if self.config.alpha == 1.0:  # one inverse for all: (YᵀY + λI)⁻¹ Σ Y_u
            self._prepare_fold_in()
            # float32 like the factors: a float64 product would copy them all per batch.
            sums = (binary > 0).astype(np.float32) @ self.model.item_factors
            return np.asarray(sums, dtype=np.float64) @ self._base_inverse.T
        return np.stack(
            [
                self.fold_in(binary.indices[binary.indptr[r] : binary.indptr[r + 1]])
                for r in range(binary.shape[0])
            ]
        )

    def _prepare_fold_in(self) -> None:
        """YᵀY + λI and its inverse, computed once per set of item factors."""
        factors = self.model.item_factors
        if getattr(self, "_base_source", None) is not factors:
            y = np.asarray(factors, dtype=np.float64)
            base = y.T @ y + self.config.regularization * np.eye(y.shape[1])
            self._base, self._base_inverse = base, np.linalg.inv(base)
            self._base_source = factors

    def fold_in(self, items: np.ndarray) -> np.ndarray:
        """Factors of a client who bought ``items`` (columns, unique), item factors fixed.

        implicit's ``recalculate_user`` for one binary row, without building a sparse
        row: solve (YᵀY + λI + (α−1)·Y_uᵀY_u) x = α·Σ Y_u. With α = 1 the matrix does
        not depend on the client, so its inverse is computed once per model.
        """
        self._prepare_fold_in()
        mine, alpha = self.model.item_factors[items].astype(np.float64), self.config.alpha
        if alpha == 1.0:
            return self._base_inverse @ mine.sum(axis=0)
        return np.linalg.solve(self._base + (alpha - 1) * mine.T @ mine, alpha * mine.sum(axis=0))

    def basket_scores(self, items: np.ndarray) -> np.ndarray:
        """Item factors against the folded-in client (float32, as implicit scores)."""
        return self.model.item_factors @ self.fold_in(items).astype(np.float32)

    def basket_candidates(
        self, items: np.ndarray, n: int, seen: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The folded-in client's top ``n``: from the index on large catalogues."""
        if self.ann is None:
            return super().basket_candidates(items, n, seen)
        return self._ann_candidates(self.fold_in(items).astype(np.float32), n, seen)

    def _new_model(self) -> AlternatingLeastSquares:
        c = self.config
        return AlternatingLeastSquares(alpha=c.alpha, iterations=c.iterations, **self._shared())


class BPRScorer(_FactorScorer):
    """Bayesian personalised ranking (Rendle et al. 2009); no fold-in of new clients."""

    name = "bpr"
    label = "BPR matrix factorisation"
    personal = True
    config_class = BPRConfig
    config: BPRConfig

    def _recommend(
        self, rows: np.ndarray, history: sp.csr_matrix, k: int, exclude_seen: bool, fold_in: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        return recommend_with(self.model, rows, history, k, exclude_seen, False)

    def _new_model(self) -> BayesianPersonalizedRanking:
        c = self.config
        return BayesianPersonalizedRanking(
            learning_rate=c.learning_rate, iterations=c.iterations, **self._shared()
        )
