"""A CRM campaign's effect: its contacted "treatment" group against its uncontacted
"holdout" group, over the campaign window.

The unit is the client. :func:`client_metrics` gives each member's figures over the
post period [start, end) and over the pre period, the same length just before it,
[start − (end − start), start). Purchase lines only (quantity > 0, with a client);
revenue is Σ quantity × price, a missing price counting 0.

Per client, each metric of :data:`METRICS` is:

- ``revenue_per_client``: its revenue;
- ``buyers_share``: 1 if it bought anything, else 0;
- ``offered_item_buyers_share``: 1 if it bought an item of its own offers (the
  holdout's offers are those it would have got), else 0;
- ``orders_per_client``: its distinct orders;
- ``average_check``: revenue / orders, over the clients with an order in the post
  period only.

For each metric (overall, then per value of each ``by`` column) the report gives:

- ``treatment``, ``holdout``: the groups' means; ``difference``: treatment − holdout;
- ``ci95``: its normal 95 % interval with the pooled standard error
  ``sqrt(s² (1 / n_t + 1 / n_h))``, ``s²`` the variance of both groups pooled. A
  holdout is small (a tenth) and revenue heavy-tailed: the holdout's own variance
  misses the few big spenders in most draws, and Welch's interval then covered 0 in
  31 of 40 A/A simulations on the shared data, the pooled one in 40
  (``bench/campaigns.py``). Under no effect the randomisation variance is the
  pooled one;
- ``relative``: difference / holdout mean, ``relative_ci95`` its interval by the
  delta method for the ratio of two independent means;
- ``cuped_difference``, ``cuped_ci95``: the same difference after CUPED (Deng, Xu,
  Kohavi and Walker, "Improving the sensitivity of online controlled experiments
  by utilizing pre-experiment data", WSDM 2013): each client's value becomes
  ``y − θ (x − mean(x))``, ``x`` the same metric over the pre period and
  ``θ = cov(x, y) / var(x)`` over the clients of both groups. It estimates the same
  effect with a narrower interval when the past predicts the present. For the
  average check, ``x`` is the pre-period average check, missing ones (no pre-period
  order) filled with the mean of the present ones (0 when none is);
- ``did``: difference in differences, (post − pre mean of the treatment) −
  (post − pre mean of the holdout);
- ``mde``: the minimum detectable effect, the smallest true difference the CUPED
  interval would exclude 0 for in four draws of five (80 % power, 5 % two-sided):
  (1.96 + 0.84) × its standard error. A campaign owner reads it before believing a
  difference that is not there: an effect below it is likely to be missed.

Intervals are None when a group has fewer than 2 clients, the relative ones also
when the holdout mean is 0; means are None for an empty group. ``srm_p`` is the
chi-square p-value of the clients per group against the shares (1 − h, h), ``h`` the
holdout share; below 0.001 ``srm_mismatch`` flags an assignment that went wrong, and
the figures are then not to be trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from recsys.campaigns._metrics import client_metrics
from recsys.stats import Z80, Z95, cuped, mean_difference, srm_p

__all__ = ["GROUPS", "METRICS", "NO_VALUE", "campaign_effect", "client_metrics"]

METRICS = (
    "revenue_per_client",
    "buyers_share",
    "offered_item_buyers_share",
    "orders_per_client",
    "average_check",
)
#: The groups of a campaign's members.
GROUPS = ("treatment", "holdout")
#: The key, in ``by``, of the clients without a value (no segment).
NO_VALUE = "(none)"
#: An SRM p-value below this is flagged.
_SRM_P = 0.001
#: Each metric's per-client column (its pre-period covariate: ``pre_`` + it).
_COLUMN = {
    "revenue_per_client": "revenue",
    "buyers_share": "bought",
    "offered_item_buyers_share": "bought_offered",
    "orders_per_client": "orders",
    "average_check": "average_check",
}


def campaign_effect(
    members: pd.DataFrame,
    events: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    holdout_share: float,
    by: Sequence[str] = ("channel", "segment"),
) -> dict[str, Any]:
    """The campaign's effect report (JSON-ready: plain numbers, lists, None): clients
    per group and the SRM check, the window, each metric of :data:`METRICS` overall
    and per value of each ``by`` column of ``members`` (see the module docstring).
    ``holdout_share`` is a percent. Raises ValueError on a group other than
    :data:`GROUPS`, a share outside [0, 100] or a window that ends before it starts."""
    if not 0 <= holdout_share <= 100:
        raise ValueError(f"holdout_share {holdout_share} is not a percent in [0, 100]")
    table = client_metrics(members, events, start, end)
    unknown = set(table["group"]) - set(GROUPS)
    if unknown:
        raise ValueError(f"members: unknown groups {sorted(map(str, unknown))}")
    clients = _clients(table)
    share = holdout_share / 100
    p_value = srm_p([clients["treatment"], clients["holdout"]], [1 - share, share])
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    return {
        "clients": clients,
        "srm_p": p_value,
        "srm_mismatch": p_value is not None and p_value < _SRM_P,
        "window": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "pre_start": (start - (end - start)).isoformat(),
        },
        "metrics": _metrics(table),
        "by": {column: _breakdown(table, members, column) for column in by},
    }


def _clients(table: pd.DataFrame) -> dict[str, int]:
    return {group: int((table["group"] == group).sum()) for group in GROUPS}


def _breakdown(table: pd.DataFrame, members: pd.DataFrame, column: str) -> dict[str, Any]:
    """Clients and metrics per value of ``column`` (:data:`NO_VALUE` for missing)."""
    values = table[column] if column in table else members.set_index(table.index)[column]
    keys = values.astype(object).where(values.notna(), NO_VALUE).astype(str)
    return {
        str(key): {"clients": _clients(part), "metrics": _metrics(part)}
        for key, part in table.groupby(keys.to_numpy())
    }


def _metrics(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {metric: _metric(table, metric) for metric in METRICS}


def _metric(table: pd.DataFrame, metric: str) -> dict[str, Any]:
    """One metric's figures: post-period values y, pre-period covariate x."""
    column = _COLUMN[metric]
    rows = table[table["orders"] > 0] if metric == "average_check" else table
    before = rows[f"pre_{column}"]
    if metric == "average_check":
        before = before.fillna(float(before.mean()) if before.notna().any() else 0.0)
    treated = (rows["group"] == "treatment").to_numpy()
    return _compare(rows[column].to_numpy(float), before.to_numpy(float), treated)


def _compare(y: np.ndarray, x: np.ndarray, treated: np.ndarray) -> dict[str, Any]:
    adjusted, _ = cuped(y, x)
    plain = mean_difference(y[treated], y[~treated], pooled=True)
    reduced = mean_difference(adjusted[treated], adjusted[~treated], pooled=True)
    mean_t, mean_h = _mean(y[treated]), _mean(y[~treated])
    both = mean_t is not None and mean_h is not None
    return {
        "treatment": mean_t,
        "holdout": mean_h,
        "difference": _gap(y, treated) if both else None,
        "ci95": plain["ci95"],
        "relative": _gap(y, treated) / mean_h if both and mean_h else None,
        "relative_ci95": plain["relative_ci95"],
        "cuped_difference": _gap(adjusted, treated) if both else None,
        "cuped_ci95": reduced["ci95"],
        "did": _gap(y, treated) - _gap(x, treated) if both else None,
        "mde": _detectable(reduced["ci95"]),
    }


def _detectable(interval: list[float] | None) -> float | None:
    """The smallest true difference the CUPED interval finds (excludes 0) four times in
    five: (z₀.₉₇₅ + z₀.₈) × its standard error."""
    if interval is None:
        return None
    se = (interval[1] - interval[0]) / (2 * Z95)
    return (Z95 + Z80) * se


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def _gap(values: np.ndarray, treated: np.ndarray) -> float:
    """mean over the treatment − mean over the holdout (both non-empty)."""
    return float(values[treated].mean()) - float(values[~treated].mean())
