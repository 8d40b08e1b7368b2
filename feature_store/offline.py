"""Offline client features, point-in-time correct and vectorised (pandas group-bys)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_store.definitions import SEGMENT_RULES
from recsys.data import CleaningConfig, clean_events, mode_by

__all__ = ["build_features", "feature_events", "rfm_segment"]

#: Returns and cancellations stay: monetary is net of them and return_rate needs them.
_KEEP_RETURNS = {"cancellations": False, "non_positive_quantity": False}


def feature_events(
    raw: pd.DataFrame, as_of: pd.Timestamp, cleaning: CleaningConfig | None = None
) -> pd.DataFrame:
    """Known-client lines strictly before ``as_of``, cleaned (``cleaning``, default
    every step) but keeping returns. ``value`` is NaN on lines without a price."""
    before = raw[(raw["timestamp"] < as_of) & raw["client_id"].notna()]
    config = (cleaning or CleaningConfig()).model_copy(update=_KEEP_RETURNS)
    kept, _ = clean_events(before, config)
    value = kept["quantity"] * kept["price"]
    return kept.assign(client_id=kept["client_id"].astype(str), value=value)


def _quintile(values: pd.Series, ascending: bool) -> pd.Series:
    ranked = values.rank(method="first", ascending=ascending)
    if len(values) < 5:
        return ranked.astype(int).clip(1, 5)
    return pd.qcut(ranked, 5, labels=False).astype(int) + 1


def _money_quintile(monetary: pd.Series) -> pd.Series:
    """Quintiles of the clients with prices; 0 (unknown) for those without."""
    priced = monetary.notna()
    score = pd.Series(0, index=monetary.index, dtype=int)
    if priced.any():
        score[priced] = _quintile(monetary[priced], ascending=True)
    return score


def rfm_segment(r: pd.Series, f: pd.Series, m: pd.Series) -> pd.Series:
    """Apply :data:`SEGMENT_RULES` in order, vectorised; an unknown M (0, no prices)
    matches any M range, so such clients are named by recency and frequency."""
    segment = pd.Series("", index=r.index, dtype=object)
    for name, (r0, r1), (f0, f1), (m0, m1) in SEGMENT_RULES:
        money = m.between(m0, m1) | (m == 0)
        hit = (segment == "") & r.between(r0, r1) & f.between(f0, f1) & money
        segment[hit] = name
    return segment


def build_features(
    raw: pd.DataFrame,
    as_of: str | pd.Timestamp,
    prefix: str = "C",
    cleaning: CleaningConfig | None = None,
) -> pd.DataFrame:
    """One row per client with every feature of :data:`FEATURES` (index: client_id).

    Money features of a client none of whose lines has a price are NaN ("no
    prices"), never 0; their ``m_score`` is 0 (unknown).
    """
    as_of = pd.Timestamp(as_of)
    lines = feature_events(raw, as_of, cleaning)
    returned = lines["order_id"].astype(str).str.startswith(prefix) | (lines["quantity"] <= 0)
    bought = lines[~returned]
    orders = bought.groupby("client_id")
    first, last = orders["timestamp"].min(), orders["timestamp"].max()
    frequency = orders["order_id"].nunique()
    gross = orders["value"].sum(min_count=1)  # NaN: no priced line
    net = lines.groupby("client_id")["value"].sum(min_count=1).reindex(frequency.index)
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
    out["return_rate"] = (refunds.abs() / gross).where(gross > 0, 0.0).where(gross.notna())
    qty = bought.groupby(["client_id", "item_id"], observed=True)["quantity"].sum().reset_index()
    top = qty.sort_values(["client_id", "quantity", "item_id"], ascending=[True, False, True])
    favourite = top.drop_duplicates("client_id").set_index("client_id")["item_id"]
    out["favourite_item"] = favourite.astype(str)
    out["favourite_country"] = mode_by(bought, "client_id", "country").reindex(out.index)
    out["favourite_category"] = mode_by(bought, "client_id", "category").reindex(out.index)
    out = _score(out, as_of, last)
    out["last_orders"] = _last_orders(bought).reindex(out.index)
    manager = _managers(lines).reindex(out.index).astype(object)
    out["manager"] = manager.where(manager.notna(), None)  # no manager: None, never NaN
    return out


def _managers(lines: pd.DataFrame) -> pd.Series:
    """Each client's manager: the one on their latest line naming one (the client may
    have changed hands; a return is handled by the current manager too). Empty when
    the events carry no ``manager`` column."""
    if "manager" not in lines:
        return pd.Series(dtype=object)
    names = lines["manager"].astype(object).where(lines["manager"].notna(), "")
    named = lines.assign(manager=names.astype(str).str.strip())
    named = named[named["manager"] != ""].sort_values("timestamp", kind="stable")
    latest = named.drop_duplicates("client_id", keep="last")
    return latest.set_index("client_id")["manager"].astype(object)


def _last_orders(bought: pd.DataFrame, keep: int = 5) -> pd.Series:
    """Each client's latest orders, newest first: order id, date, lines, value."""
    orders = (
        bought.groupby(["client_id", "order_id"], observed=True)
        .agg(
            date=("timestamp", "max"),
            lines=("item_id", "size"),
            value=("value", "sum"),
            priced=("value", "count"),
        )
        .reset_index()
    )
    orders["value"] = orders["value"].where(orders["priced"] > 0)  # no price: unknown, not 0
    orders = orders.sort_values(["client_id", "date"], ascending=[True, False])
    latest = orders.groupby("client_id").head(keep)
    latest = latest.assign(
        order_id=latest["order_id"].astype(str),
        date=latest["date"].dt.date.astype(str),
        value=latest["value"].round(2),
    )
    columns = ["order_id", "date", "lines", "value"]
    return latest.groupby("client_id")[columns].apply(lambda g: g.to_dict("records"))


def _score(out: pd.DataFrame, as_of: pd.Timestamp, last: pd.Series) -> pd.DataFrame:
    out["r_score"] = _quintile(out["recency_days"], ascending=False)
    out["f_score"] = _quintile(out["frequency"], ascending=True)
    out["m_score"] = _money_quintile(out["monetary"])
    out["segment"] = rfm_segment(out["r_score"], out["f_score"], out["m_score"])
    rhythm = out["avg_days_between_orders"]
    overdue = np.maximum(2 * rhythm, 30.0)
    late = out["recency_days"] > overdue
    out["churn_risk"] = np.where(out["frequency"] > 1, late, out["recency_days"] > 180)
    step = pd.to_timedelta(rhythm.fillna(30.0), unit="D")
    due = last + step
    out["next_contact"] = due.where(due >= as_of, as_of).dt.date
    return out
