"""Offline client features, point-in-time correct and vectorised (pandas group-bys)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_store.definitions import SEGMENT_RULES
from recsys.data import CleaningConfig, clean_events, mode_by

__all__ = ["build_features", "feature_events", "rfm_segment"]

#: Returns and cancellations stay: monetary is net of them and return_rate needs them.
_FEATURE_CLEANING = CleaningConfig(cancellations=False, non_positive_quantity=False)


def feature_events(raw: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Known-client lines strictly before ``as_of``, cleaned but keeping returns."""
    before = raw[(raw["timestamp"] < as_of) & raw["client_id"].notna()]
    kept, _ = clean_events(before, _FEATURE_CLEANING)
    value = kept["quantity"] * kept["price"]
    return kept.assign(client_id=kept["client_id"].astype(str), value=value)


def _quintile(values: pd.Series, ascending: bool) -> pd.Series:
    ranked = values.rank(method="first", ascending=ascending)
    if len(values) < 5:
        return ranked.astype(int).clip(1, 5)
    return pd.qcut(ranked, 5, labels=False).astype(int) + 1


def rfm_segment(r: pd.Series, f: pd.Series, m: pd.Series) -> pd.Series:
    """Apply :data:`SEGMENT_RULES` in order, vectorised."""
    segment = pd.Series("", index=r.index, dtype=object)
    for name, (r0, r1), (f0, f1), (m0, m1) in SEGMENT_RULES:
        hit = (segment == "") & r.between(r0, r1) & f.between(f0, f1) & m.between(m0, m1)
        segment[hit] = name
    return segment


def build_features(raw: pd.DataFrame, as_of: str | pd.Timestamp, prefix: str = "C") -> pd.DataFrame:
    """One row per client with every feature of :data:`FEATURES` (index: client_id)."""
    as_of = pd.Timestamp(as_of)
    lines = feature_events(raw, as_of)
    returned = lines["order_id"].astype(str).str.startswith(prefix) | (lines["quantity"] <= 0)
    bought = lines[~returned]
    orders = bought.groupby("client_id")
    first, last = orders["timestamp"].min(), orders["timestamp"].max()
    frequency = orders["order_id"].nunique()
    gross = orders["value"].sum()
    net = lines.groupby("client_id")["value"].sum().reindex(frequency.index).fillna(0.0)
    refunds = (
        lines[returned].groupby("client_id")["value"].sum().reindex(frequency.index).fillna(0.0)
    )
    out = pd.DataFrame(index=frequency.index)
    out["recency_days"] = (as_of - last).dt.total_seconds() / 86_400
    out["frequency"] = frequency.astype(int)
    out["monetary"] = net
    out["average_check"] = gross / frequency
    span = (last - first).dt.total_seconds() / 86_400
    out["avg_days_between_orders"] = (span / (frequency - 1)).where(frequency > 1)
    out["tenure_days"] = (as_of - first).dt.total_seconds() / 86_400
    out["return_rate"] = (refunds.abs() / gross).where(gross > 0, 0.0)
    qty = bought.groupby(["client_id", "item_id"], observed=True)["quantity"].sum().reset_index()
    top = qty.sort_values(["client_id", "quantity", "item_id"], ascending=[True, False, True])
    favourite = top.drop_duplicates("client_id").set_index("client_id")["item_id"]
    out["favourite_item"] = favourite.astype(str)
    out["favourite_country"] = mode_by(bought, "client_id", "country").reindex(out.index)
    out["favourite_category"] = mode_by(bought, "client_id", "category").reindex(out.index)
    out = _score(out, as_of, last)
    out["last_orders"] = _last_orders(bought).reindex(out.index)
    return out


def _last_orders(bought: pd.DataFrame, keep: int = 5) -> pd.Series:
    """Each client's latest orders, newest first: order id, date, lines, value."""
    orders = (
        bought.groupby(["client_id", "order_id"], observed=True)
        .agg(date=("timestamp", "max"), lines=("item_id", "size"), value=("value", "sum"))
        .reset_index()
    )
    orders = orders.sort_values(["client_id", "date"], ascending=[True, False])
    latest = orders.groupby("client_id").head(keep)
    latest = latest.assign(
        order_id=latest["order_id"].astype(str),
        date=latest["date"].dt.date.astype(str),
        value=latest["value"].round(2),
    )
    columns = ["order_id", "date", "lines", "value"]
    return latest.groupby("client_id")[columns].apply(lambda g: g.to_dict("records"))


def _per_client(lines: pd.DataFrame, clients: pd.Index) -> pd.Series:
    """Σ value per client over ``lines``, 0 for clients without such lines."""
    return lines.groupby("client_id")["value"].sum().reindex(clients).fillna(0.0)


def _score(out: pd.DataFrame, as_of: pd.Timestamp, last: pd.Series) -> pd.DataFrame:
    out["r_score"] = _quintile(out["recency_days"], ascending=False)
    out["f_score"] = _quintile(out["frequency"], ascending=True)
    out["m_score"] = _quintile(out["monetary"], ascending=True)
    out["segment"] = rfm_segment(out["r_score"], out["f_score"], out["m_score"])
    rhythm = out["avg_days_between_orders"]
    overdue = np.maximum(2 * rhythm, 30.0)
    late = out["recency_days"] > overdue
    out["churn_risk"] = np.where(out["frequency"] > 1, late, out["recency_days"] > 180)
    step = pd.to_timedelta(rhythm.fillna(30.0), unit="D")
    due = last + step
    out["next_contact"] = due.where(due >= as_of, as_of).dt.date
    return out
