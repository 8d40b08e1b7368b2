"""How sure an offline figure is: bootstrap intervals over clients, and paired
comparisons of two models on the same clients.

Clients are the unit that was sampled (each evaluated client contributes one value
per metric), so resampling clients with replacement estimates how much a mean
metric would move on another draw of clients. Resamples are seeded and shared by
every model and metric of one report, which makes comparisons paired.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Bootstrap", "BootstrapConfig", "Difference"]


class BootstrapConfig(BaseModel):
    """How intervals are computed."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    resamples: int = Field(default=1000, ge=100)
    """Bootstrap resamples of the evaluated clients."""
    level: float = Field(default=0.95, gt=0, lt=1)
    """Coverage of the percentile intervals."""
    seed: int = 0
    """Random state of the resamples (the same for every model of a report)."""


@dataclass(frozen=True)
class Difference:
    """Mean paired difference A − B, its interval, and a two-sided p-value (H0: no
    difference), from the same resamples of clients."""

    mean: float
    low: float
    high: float
    p_value: float


class Bootstrap:
    """Resamples of ``n`` clients, drawn once and reused for every metric."""

    def __init__(self, n: int, config: BootstrapConfig | None = None) -> None:
        self.config = config or BootstrapConfig()
        rng = np.random.default_rng(self.config.seed)
        self.draws = rng.integers(0, n, size=(self.config.resamples, n)) if n else None

    def _means(self, values: np.ndarray) -> np.ndarray:
        if self.draws is None:
            return np.zeros(1)
        return np.asarray(values, dtype=np.float64)[self.draws].mean(axis=1)

    def _bounds(self, means: np.ndarray) -> tuple[float, float]:
        tail = (1 - self.config.level) / 2 * 100
        low, high = np.percentile(means, [tail, 100 - tail])
        return float(low), float(high)

    def interval(self, values: np.ndarray) -> tuple[float, float]:
        """Percentile interval of the mean of per-client ``values``."""
        return self._bounds(self._means(values))

    def difference(self, a: np.ndarray, b: np.ndarray) -> Difference:
        """A − B on the same clients: interval of the mean difference and p-value.

        The p-value resamples the differences centred on 0 (the null hypothesis)
        and counts means at least as far from 0 as the observed one.
        """
        diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
        observed = float(diff.mean()) if diff.size else 0.0
        means = self._means(diff)
        low, high = self._bounds(means)
        extreme = np.abs(means - observed) >= abs(observed) - 1e-12
        p_value = (1 + int(extreme.sum())) / (1 + len(means))
        return Difference(observed, low, high, min(1.0, p_value))
