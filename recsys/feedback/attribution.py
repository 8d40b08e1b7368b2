"""Which list an event followed from.

An event that names its list (``recommendation_id``) is attributed to it, when that
list showed the item. A purchase (or an accepted offer) without one goes to the
last list that showed the item to that client within the window before it
(``pandas.merge_asof`` by client and item: no loop over events).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

__all__ = ["ATTRIBUTED", "attribute", "shown_items"]

#: Columns of :func:`attribute`'s answer.
ATTRIBUTED = [
    *("type", "client_id", "item_id", "timestamp", "revenue", "recommendation_id"),
    *("position", "source", "experiment", "arm"),
]
_SHOWN = [
    *("recommendation_id", "client_id", "item_id", "position", "source", "experiment"),
    *("arm", "shown_at"),
]


def shown_items(impressions: pd.DataFrame) -> pd.DataFrame:
    """One row per (list, item shown): its 1-based position and the source behind it."""
    if impressions.empty:
        return pd.DataFrame(columns=_SHOWN)
    lists = zip(impressions["items"], impressions["sources"], strict=True)
    pairs = pd.Series([list(zip(i, s, strict=True)) for i, s in lists], index=impressions.index)
    positions = pd.Series([list(range(1, len(p) + 1)) for p in pairs], index=impressions.index)
    rows = impressions.assign(pairs=pairs, position=positions)
    rows = rows.explode(["pairs", "position"]).dropna(subset=["pairs"])
    split = pd.DataFrame(rows["pairs"].tolist(), index=rows.index, columns=["item_id", "source"])
    out = pd.concat([rows.drop(columns=["pairs", "items", "sources"]), split], axis=1)
    out["shown_at"] = pd.to_datetime(out["timestamp"], utc=True, format="ISO8601").dt.as_unit("ns")
    out["position"] = out["position"].astype(np.int64)
    for column in ("experiment", "arm", "client_id"):
        if column not in out:
            out[column] = None
    return out[_SHOWN].reset_index(drop=True)


def attribute(
    impressions: pd.DataFrame, events: pd.DataFrame, window: timedelta = timedelta(days=7)
) -> pd.DataFrame:
    """Events (``type`` click / view / add_to_cart / purchase / accepted) joined to the
    list they followed from; events no list explains are left out."""
    if events.empty or impressions.empty:
        return pd.DataFrame(columns=ATTRIBUTED)
    shown = shown_items(impressions)
    events = _normalised(events)
    named = events[events["recommendation_id"].notna()]
    by_id = (
        named.drop(columns=["recommendation_id"])
        .merge(
            shown.drop(columns=["client_id"]).rename(columns={"recommendation_id": "list_id"}),
            left_on=[named["recommendation_id"].to_numpy(), "item_id"],
            right_on=["list_id", "item_id"],
        )
        .rename(columns={"list_id": "recommendation_id"})
    )
    unnamed = events[
        events["recommendation_id"].isna() & events["type"].isin(["purchase", "accepted"])
    ]
    by_window = _last_list(unnamed.drop(columns=["recommendation_id"]), shown, window)
    found = pd.concat([by_id, by_window], ignore_index=True)
    return found.reindex(columns=ATTRIBUTED).reset_index(drop=True)


def _normalised(events: pd.DataFrame) -> pd.DataFrame:
    out = events.copy()
    stamps = out["timestamp"]
    if not pd.api.types.is_datetime64_any_dtype(stamps):
        stamps = pd.to_datetime(stamps, utc=True, format="ISO8601")
    out["timestamp"] = pd.to_datetime(stamps, utc=True).dt.as_unit("ns")
    if "recommendation_id" not in out:
        out["recommendation_id"] = None
    price = _numbers(out, "price", 0.0)
    out["revenue"] = price * _numbers(out, "quantity", 1.0)
    out.loc[out["type"] != "purchase", "revenue"] = 0.0
    return out[["type", "client_id", "item_id", "timestamp", "revenue", "recommendation_id"]]


def _numbers(frame: pd.DataFrame, column: str, missing: float) -> pd.Series:
    if column not in frame:
        return pd.Series(missing, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").fillna(missing)


def _last_list(events: pd.DataFrame, shown: pd.DataFrame, window: timedelta) -> pd.DataFrame:
    """Each event joined to the last list before it that showed its item to its client."""
    if events.empty:
        return pd.DataFrame(columns=ATTRIBUTED)
    left = events.sort_values("timestamp").astype({"client_id": str, "item_id": str})
    right = shown.dropna(subset=["client_id"]).sort_values("shown_at")
    right = right.astype({"client_id": str, "item_id": str})
    joined = pd.merge_asof(
        left,
        right,
        left_on="timestamp",
        right_on="shown_at",
        by=["client_id", "item_id"],
        direction="backward",
        tolerance=pd.Timedelta(window),
    )
    return joined[joined["recommendation_id"].notna()]
