"""EASE: an item × item linear autoencoder with a closed form (Steck, WWW 2019)."""

from __future__ import annotations

import logging
from typing import Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field, model_validator

from recsys.models._dense import DenseConfig, DenseItemScorer, spd_inverse
from recsys.models.forward import ForwardConfig, ForwardScorer

__all__ = ["EASEConfig", "EASEScorer"]

log = logging.getLogger(__name__)

#: The targets' default half-life: the point whose worst loss over the three validation
#: protocols (what comes next, re-purchases counted, a random part of each history) is
#: least (``bench/tune_protocols.py``: 240 d loses at most 2.7 %, 60 d 13 % on the random
#: one; docs/explanation/evaluation.md, "Tuning").
DEFAULT_TARGET_HALF_LIFE_DAYS = 240.0
#: Rows that set the forward term's scale (a seeded sample: never clients × items).
_SCALE_ROWS = 10_000


class EASEConfig(DenseConfig):
    """Hyperparameters of EASE."""

    forward_weight: float = Field(default=0.0, ge=0)
    """Adds this many times the forward model's weights (what clients went on to buy,
    :mod:`recsys.models.forward` with its defaults), scaled to EASE's, to B: one dense
    matrix, so the trend of the newest weeks costs nothing per request. The model is
    then fitted on the ``first_days`` matrix, and the default recency targets are off
    (one model reads one day matrix). 0: no forward term."""
    target_half_life_days: float | None = Field(default=DEFAULT_TARGET_HALF_LIFE_DAYS, ge=0)
    """Each pair counts as a target ``0.5 ** ((days since its last purchase − 1) / this)``
    (inputs stay binary), so the weights learn most from what clients bought lately, and
    the model is fitted on the ``last_days`` matrix. It helps time splits and hurts the
    random one (docs/explanation/evaluation.md, "Tuning"). 0 (or none): binary targets,
    Steck's EASE."""

    @model_validator(mode="after")
    def _days_matrix(self) -> Self:
        """The day matrix the chosen term reads becomes ``weighting`` when unset. One
        model is fitted on one matrix: an explicit forward term or another weighting turns
        the default recency targets off; contradictions set explicitly are refused. Set
        here, not in the input: an override of one field starts from the defaults."""
        recency = bool(self.target_half_life_days)
        other = self.forward_weight or self.weighting not in (None, "last_days")
        if recency and other and "target_half_life_days" not in self.model_fields_set:
            recency = False  # an explicit forward term or weighting replaces the default
        if recency and self.forward_weight:
            raise ValueError("set target_half_life_days or forward_weight, not both")
        need = "last_days" if recency else "first_days" if self.forward_weight else None
        if need is not None and self.weighting not in (None, need):
            term = "target_half_life_days" if recency else "forward_weight > 0"
            raise ValueError(f"{term} needs weighting {need} (or unset)")
        half_life = self.target_half_life_days if recency else 0.0
        object.__setattr__(self, "target_half_life_days", half_life)  # frozen: set once, here
        object.__setattr__(self, "weighting", need or self.weighting)
        return self


class EASEScorer(DenseItemScorer):
    """B = I − P·diagMat(1/diag(P)) with P = (XᵀX + λI)⁻¹ over binary X; score = x·B.

    With ``forward_weight`` > 0, the forward model's weights are added (scaled).
    With recency-weighted targets Y (``target_half_life_days``) the same constrained
    least squares, ‖Y − XB‖² + λ‖B‖² with diag(B) = 0, has C = P·XᵀY and
    B = C − P·diagMat(diag(C)/diag(P)) (Y = X gives the line above).

    The diagonal of B is 0, so an item never recommends itself. Scores may be
    negative: every covered item gets one.
    """

    name = "ease"
    label = "EASE linear autoencoder"
    config_class = EASEConfig
    config: EASEConfig

    def _fit(self, matrix: sp.csr_matrix, groups: np.ndarray | None) -> None:
        self.kept = np.asarray(self._keep(matrix), dtype=np.int64)
        days = matrix[:, self.kept].tocsr()
        binary = (days > 0).astype(np.float32).tocsr()
        b = self._closed_form(days, binary)
        if self.config.forward_weight > 0:
            b += self.config.forward_weight * self._forward_term(matrix, binary, b)
        # Again after the sum: the forward weights carry a diagonal of their own (an
        # item correlated with what follows it), and an item must never score itself.
        np.fill_diagonal(b, 0.0)
        self.weights = b
        self._index()

    def _closed_form(self, days: sp.csr_matrix, binary: sp.csr_matrix) -> np.ndarray:
        """EASE's B over the kept items (diagonal 0), row-major float32: a request sums
        the rows of its history (Cholesky's result is Fortran-ordered)."""
        gram = (binary.T @ binary).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.config.regularization
        p = spd_inverse(gram)
        if not self.config.target_half_life_days:
            b = p / -np.diag(p)  # column j divided by −P_jj
        else:
            targets = days.copy()
            targets.data = np.power(0.5, (days.data - 1) / self.config.target_half_life_days)
            c = p @ (binary.T @ targets).toarray()
            b = c - p * (np.diag(c) / np.diag(p))
        del p  # items² × 8 bytes freed before the forward model allocates its own
        # The closed form's "I −" (and the reference the forward term is scaled to).
        np.fill_diagonal(b, 0.0)
        return np.ascontiguousarray(b, dtype=np.float32)

    def _forward_term(
        self, days: sp.csr_matrix, binary: sp.csr_matrix, b: np.ndarray
    ) -> np.ndarray | float:
        """The forward model's weights over the same items, scaled so that its scores
        of the clients (a seeded sample) have the Frobenius norm of EASE's; 0 if it
        learnt nothing (fewer days of data than its window)."""
        forward = ForwardScorer(ForwardConfig(max_items=self.config.max_items)).fit(days)
        if forward.kept.size == 0:
            log.warning("ease: no forward term: %s", forward.fit_note())
            return 0.0
        n = binary.shape[0]
        rows = np.sort(np.random.default_rng(0).choice(n, min(n, _SCALE_ROWS), replace=False))
        sample = binary[rows]
        ours, theirs = np.linalg.norm(sample @ b), np.linalg.norm(sample @ forward.weights)
        return forward.weights * (ours / theirs) if theirs > 0 else 0.0
