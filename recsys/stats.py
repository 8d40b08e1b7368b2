"""Shared statistics of experiment and campaign reports (numpy and scipy only).

- :func:`wilson`: the Wilson score 95 % interval of a proportion; unlike the normal
  interval it stays inside [0, 1] and is usable at 0 or ``n`` successes.
- :func:`two_proportions`: B − A of two proportions, the unpooled normal 95 %
  interval of the difference and the pooled two-proportion z-test p-value.
- :func:`mean_difference`: treatment − holdout of two means with Welch's standard
  error ``sqrt(var_t / n_t + var_h / n_h)`` (sample variances), or the pooled one
  ``sqrt(s²_pooled (1 / n_t + 1 / n_h))``, its normal 95 % interval and two-sided
  p-value; and the relative difference
  ``mean_t / mean_h − 1`` with a delta-method interval for the ratio of two
  independent means.
- :func:`cuped`: CUPED variance reduction (Deng, Xu, Kohavi and Walker, "Improving
  the sensitivity of online controlled experiments by utilizing pre-experiment
  data", WSDM 2013): ``y − θ (x − mean(x))`` with ``θ = cov(x, y) / var(x)`` over
  every unit of both groups, ``x`` a covariate not affected by the treatment (the
  same metric before the experiment). The adjusted means differ by the same
  amount in expectation; their variance is ``(1 − ρ²)`` times smaller.
- :func:`srm_p`: the sample-ratio-mismatch check, Pearson's chi-square test of
  units per group against the configured shares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["Z80", "Z95", "cuped", "mean_difference", "srm_p", "two_proportions", "wilson"]

#: The two-sided 95 % quantile of the standard normal distribution.
Z95 = 1.959963984540054
#: The one-sided 80 % quantile (a power of 0.8).
Z80 = 0.8416212335729143
_Z = Z95


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson 95 % interval of a proportion."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    centre = (p + _Z**2 / (2 * n)) / (1 + _Z**2 / n)
    half = _Z * math.sqrt(p * (1 - p) / n + _Z**2 / (4 * n * n)) / (1 + _Z**2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def two_proportions(a: int, n_a: int, b: int, n_b: int) -> dict[str, Any]:
    """B − A: the difference, its normal 95 % interval, and the pooled z-test p-value."""
    if n_a == 0 or n_b == 0:
        return {"difference": None, "ci95": None, "p_value": None}
    p_a, p_b = a / n_a, b / n_b
    pooled = (a + b) / (n_a + n_b)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    p_value = 1.0 if se_pooled == 0 else float(2 * stats.norm.sf(abs(p_b - p_a) / se_pooled))
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    return {
        "difference": p_b - p_a,
        "ci95": [p_b - p_a - _Z * se, p_b - p_a + _Z * se],
        "p_value": p_value,
    }


def mean_difference(
    treatment: np.ndarray, holdout: np.ndarray, pooled: bool = False
) -> dict[str, Any]:
    """mean(treatment) − mean(holdout): ``difference``, its normal ``ci95`` and
    ``p_value`` (Welch's standard error; ``pooled``: one variance of both groups);
    ``relative`` (difference / mean(holdout)) and its delta-method ``relative_ci95``.
    All None when a group has fewer than 2 values; the relative ones also when
    mean(holdout) is 0. Plain floats."""
    t, h = np.asarray(treatment, dtype=np.float64), np.asarray(holdout, dtype=np.float64)
    found: dict[str, Any] = dict.fromkeys(
        ("difference", "ci95", "p_value", "relative", "relative_ci95")
    )
    if len(t) < 2 or len(h) < 2:
        return found
    mean_t, mean_h = float(t.mean()), float(h.mean())
    var_t, var_h = _variances(t, h, pooled)
    difference, se = mean_t - mean_h, math.sqrt(var_t + var_h)
    p_value = 1.0 if se == 0 else float(2 * stats.norm.sf(abs(difference) / se))
    found |= {"difference": difference, "ci95": _interval(difference, se), "p_value": p_value}
    if mean_h != 0:
        ratio = mean_t / mean_h
        # |r| sqrt(var_t / mean_t² + var_h / mean_h²), rewritten not to divide by mean_t
        se_ratio = math.sqrt(var_t + ratio**2 * var_h) / abs(mean_h)
        relative = difference / mean_h  # = ratio − 1
        found |= {"relative": relative, "relative_ci95": _interval(relative, se_ratio)}
    return found


def _variances(t: np.ndarray, h: np.ndarray, pooled: bool) -> tuple[float, float]:
    """The variances of the two means: each group's own, or one pooled variance."""
    own_t, own_h = float(t.var(ddof=1)), float(h.var(ddof=1))
    if pooled:
        own_t = own_h = ((len(t) - 1) * own_t + (len(h) - 1) * own_h) / (len(t) + len(h) - 2)
    return own_t / len(t), own_h / len(h)


def _interval(estimate: float, se: float) -> list[float]:
    return [estimate - _Z * se, estimate + _Z * se]


def cuped(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, float]:
    """CUPED (Deng et al., WSDM 2013): ``(y − θ (x − mean(x)), θ)`` with
    ``θ = cov(x, y) / var(x)`` over all the values given (both groups pooled);
    θ = 0 when ``x`` is constant (or empty)."""
    y, x = np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64)
    if len(x) == 0 or np.ptp(x) == 0:
        return y.copy(), 0.0
    centred = x - x.mean()
    theta = float(centred @ (y - y.mean()) / (centred @ centred))
    return y - theta * centred, theta


def srm_p(observed: Sequence[int], shares: Sequence[float]) -> float | None:
    """Chi-square p-value of the ``observed`` counts against the expected ``shares``
    (any scale: normalised to their sum); None when no count. A group with share 0
    is left out, or gives 0.0 when it has units; a single group left gives 1.0."""
    counts, weights = np.asarray(observed, dtype=np.float64), np.asarray(shares, dtype=float)
    total = counts.sum()
    if total == 0:
        return None
    expected = total * weights / weights.sum()
    kept = expected > 0
    if counts[~kept].any():
        return 0.0
    if kept.sum() < 2:
        return 1.0
    return float(stats.chisquare(counts[kept], expected[kept]).pvalue)
