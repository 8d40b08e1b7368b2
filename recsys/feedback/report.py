"""An experiment's report: per arm lists, CTR, conversion, revenue, with intervals.

Proportions (CTR: lists with a click; conversion: lists with a purchase or an
accepted offer) get Wilson 95 % intervals and, against the control, the
two-proportion z-test and a normal interval of the difference; revenue per 1,000
lists a normal interval of the per-list mean. The sample-ratio-mismatch check is a
chi-square test of the clients per arm against the configured shares.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from recsys.feedback.experiments import Experiment
from recsys.stats import Z95 as _Z
from recsys.stats import mean_difference, srm_p, two_proportions, wilson

__all__ = [
    "SRM_P",
    "accepted_offers",
    "arm_report",
    "experiment_report",
    "public",
    "source_report",
    "two_proportions",
    "wilson",
]

#: A sample-ratio-mismatch p-value below this is flagged.
SRM_P = 0.001


def _per_list(impressions: pd.DataFrame, attributed: pd.DataFrame) -> pd.DataFrame:
    """One row per list: its arm and client, whether it got a click or a conversion,
    and the revenue attributed to it."""
    lists = impressions[["recommendation_id", "client_id", "arm"]].drop_duplicates(
        "recommendation_id"
    )
    kinds = attributed.assign(
        click=attributed["type"] == "click",
        conversion=attributed["type"].isin(["purchase", "accepted"]),
    )
    per = kinds.groupby("recommendation_id").agg(
        click=("click", "any"), conversion=("conversion", "any"), revenue=("revenue", "sum")
    )
    out = lists.merge(per, left_on="recommendation_id", right_index=True, how="left")
    return out.fillna({"click": False, "conversion": False, "revenue": 0.0})


def arm_report(
    impressions: pd.DataFrame, attributed: pd.DataFrame, experiment: Experiment
) -> dict[str, Any]:
    """Per arm figures with intervals, differences to the control, and the SRM check."""
    mine = impressions[impressions["experiment"] == experiment.name]
    lists = _per_list(mine, attributed)
    arms = {arm.name: _figures(lists[lists["arm"] == arm.name]) for arm in experiment.arms}
    control = arms[experiment.control]
    for name, figures in arms.items():
        if name != experiment.control:
            figures["vs_control"] = _versus(control, figures)
    return {
        "experiment": experiment.name,
        "control": experiment.control,
        "arms": arms,
        "srm": _srm(lists, experiment),
    }


def _figures(lists: pd.DataFrame) -> dict[str, Any]:
    n = len(lists)
    clicks, conversions = int(lists["click"].sum()), int(lists["conversion"].sum())
    revenue = lists["revenue"].to_numpy(dtype=np.float64)
    mean = float(revenue.mean()) if n else 0.0
    half = _Z * float(revenue.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    return {
        "lists": n,
        "clients": int(lists["client_id"].nunique()),
        "clicks": clicks,
        "conversions": conversions,
        "ctr": clicks / n if n else 0.0,
        "ctr_ci95": list(wilson(clicks, n)),
        "conversion": conversions / n if n else 0.0,
        "conversion_ci95": list(wilson(conversions, n)),
        "revenue_per_1000_lists": 1000 * mean,
        "revenue_per_1000_lists_ci95": [1000 * (mean - half), 1000 * (mean + half)],
        "_revenue": revenue,
    }


def _versus(control: dict[str, Any], arm: dict[str, Any]) -> dict[str, Any]:
    found = mean_difference(arm["_revenue"], control["_revenue"])
    revenue: dict[str, Any] = {"difference": None, "ci95": None, "p_value": None}
    if found["difference"] is not None:
        revenue = {
            "difference": 1000 * found["difference"],
            "ci95": [1000 * bound for bound in found["ci95"]],
            "p_value": found["p_value"],
        }
    return {
        "ctr": two_proportions(control["clicks"], control["lists"], arm["clicks"], arm["lists"]),
        "conversion": two_proportions(
            control["conversions"], control["lists"], arm["conversions"], arm["lists"]
        ),
        "revenue_per_1000_lists": revenue,
    }


def _srm(lists: pd.DataFrame, experiment: Experiment) -> dict[str, Any]:
    """Clients per arm against the configured shares (chi-square)."""
    clients = lists.drop_duplicates("client_id")["arm"].value_counts()
    observed = [int(clients.get(a.name, 0)) for a in experiment.arms]
    p_value = srm_p(observed, [a.share for a in experiment.arms])
    if p_value is None:
        return {"p_value": None, "mismatch": False, "clients": {}}
    counts = {a.name: o for a, o in zip(experiment.arms, observed, strict=True)}
    return {"p_value": p_value, "mismatch": p_value < SRM_P, "clients": counts}


def source_report(impressions: pd.DataFrame, attributed: pd.DataFrame) -> dict[str, Any]:
    """Per source (the one that ranked each shown item): items shown, clicks,
    conversions, revenue."""
    from recsys.feedback.attribution import shown_items

    shown = shown_items(impressions).groupby("source").size()
    kinds = (
        attributed.assign(
            click=attributed["type"] == "click",
            conversion=attributed["type"].isin(["purchase", "accepted"]),
        )
        .groupby("source")
        .agg(clicks=("click", "sum"), conversions=("conversion", "sum"), revenue=("revenue", "sum"))
    )
    return {
        str(source): {
            "shown": int(count),
            "clicks": int(kinds["clicks"].get(source, 0)),
            "conversions": int(kinds["conversions"].get(source, 0)),
            "revenue": float(kinds["revenue"].get(source, 0.0)),
        }
        for source, count in shown.items()
    }


def public(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` without its private arrays (for JSON)."""
    arms = {
        n: {k: v for k, v in f.items() if not k.startswith("_")} for n, f in report["arms"].items()
    }
    return {**report, "arms": arms}


def accepted_offers(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Accepted outcomes (stored records) as conversion events (``type`` ``accepted``)."""
    columns = ["type", "client_id", "item_id", "timestamp", "recommendation_id"]
    if outcomes.empty or "outcome" not in outcomes:
        return pd.DataFrame(columns=columns)
    offers = pd.DataFrame(outcomes["outcome"].tolist())
    offers = offers[offers["outcome"] == "accepted"]
    return offers.assign(type="accepted", timestamp=offers["at"]).reindex(columns=columns)


def experiment_report(
    impressions: pd.DataFrame,
    events: pd.DataFrame,
    outcomes: pd.DataFrame,
    experiment: Experiment,
    window: timedelta,
) -> dict[str, Any]:
    """The whole report of one experiment from the service's logs (JSON-ready): per
    arm figures, differences to the control, the SRM check, per-source figures."""
    from recsys.feedback.attribution import attribute

    if impressions.empty:
        impressions = pd.DataFrame(
            columns=[
                "type",
                "recommendation_id",
                "client_id",
                "items",
                "sources",
                "experiment",
                "arm",
                "timestamp",
            ]
        )
    if "type" in impressions:
        impressions = impressions[impressions["type"] == "impression"]
    conversions = pd.concat([events, accepted_offers(outcomes)], ignore_index=True)
    attributed = attribute(impressions, conversions, window)
    found = public(arm_report(impressions, attributed, experiment))
    return found | {"sources": source_report(impressions, attributed)}
