"""The head of sales' daily form: what each manager did with offers, and what it sold.

Per manager (who recorded the outcome: ``user:ann`` is ``ann``; an API key, a
loopback or an open caller is its own author string, ``key:crm-sync``, ``local``,
``open``; outcomes recorded before callers were named are ``(unknown)``), for the
day and for the month to date (UTC days): clients contacted, offers (outcomes),
accepted / declined / postponed, and the orders and revenue of accepted offers.

A purchase is attributed as the experiment report attributes it (:func:`attribute`),
each accepted offer standing for a one-item list shown at the time it was accepted:
a purchase of that item by that client within the window after it goes to the
latest such offer, hence to the manager who recorded it. Sales count in the period
of the purchase (an offer accepted late last month can sell this month), so the
figures of a past day do not move when later purchases arrive.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd

from recsys.feedback.attribution import attribute

__all__ = ["FIGURES", "UNKNOWN", "team_report"]

#: The figures of each manager and period, in order.
FIGURES = (
    *("clients_contacted", "offers", "accepted", "declined", "postponed"),
    *("orders", "revenue"),
)
#: The manager of outcomes recorded before outcomes named who recorded them.
UNKNOWN = "(unknown)"
_SAID = ["accepted", "declined", "postponed"]


def team_report(
    outcomes: pd.DataFrame, events: pd.DataFrame, day: date, window_days: float = 7.0
) -> dict[str, Any]:
    """``{"date", "managers": {name: {"day": {...}, "month": {...}}}}`` (JSON-ready)
    from the outcome log (stored records, each ``outcome`` a dict; or one column per
    field) and the event log (``type`` purchase, ``price``, ``quantity`` count)."""
    offers = _offers(outcomes)
    sales = _sales(offers, events, timedelta(days=window_days))
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
    today = _figures(offers, sales, end - timedelta(days=1), end)
    month = _figures(offers, sales, datetime.combine(day.replace(day=1), time.min, UTC), end)
    today = today.reindex(month.index, fill_value=0)
    managers = {
        str(m): {"day": _plain(today.loc[m]), "month": _plain(month.loc[m])} for m in month.index
    }
    return {"date": day.isoformat(), "managers": managers}


def _offers(outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per outcome: client, item, what was said, when (UTC), by which manager."""
    columns = ["client_id", "item_id", "outcome", "at", "manager"]
    if outcomes.empty:
        return pd.DataFrame(columns=columns).astype({"at": "datetime64[ns, UTC]"})
    stored = "outcome" in outcomes and isinstance(outcomes["outcome"].iloc[0], dict)
    flat = pd.DataFrame(outcomes["outcome"].tolist()) if stored else outcomes.reset_index(drop=True)
    by = flat["by"] if "by" in flat else pd.Series(None, index=flat.index, dtype=object)
    manager = by.where(by.notna(), UNKNOWN).astype(str).str.removeprefix("user:")
    at = pd.to_datetime(flat["at"], utc=True, format="ISO8601").dt.as_unit("ns")
    return flat.assign(at=at, manager=manager).reindex(columns=columns)


def _sales(offers: pd.DataFrame, events: pd.DataFrame, window: timedelta) -> pd.DataFrame:
    """Purchases attributed to accepted offers: ``source`` is the offer's manager."""
    accepted = offers[offers["outcome"] == "accepted"].reset_index(drop=True)
    if events.empty or "type" not in events or accepted.empty:
        return pd.DataFrame(
            {"source": [], "timestamp": pd.to_datetime([], utc=True), "revenue": []}
        )
    lists = pd.DataFrame(
        {
            "recommendation_id": "offer-" + accepted.index.astype(str),
            "client_id": accepted["client_id"].astype(str),
            "items": accepted[["item_id"]].astype(str).to_numpy().tolist(),
            "sources": accepted[["manager"]].to_numpy().tolist(),
            "timestamp": accepted["at"],
        }
    )
    # A purchase's own list id names a recommendation list, not an offer: attributed
    # by the window alone, as a purchase that names no list.
    purchases = events[events["type"] == "purchase"].assign(recommendation_id=None)
    found = attribute(lists, purchases, window)
    found["timestamp"] = pd.to_datetime(found["timestamp"], utc=True)
    return found


def _figures(
    offers: pd.DataFrame, sales: pd.DataFrame, start: datetime, end: datetime
) -> pd.DataFrame:
    """:data:`FIGURES` per manager active in [start, end) (offers or sales)."""
    made = offers[(offers["at"] >= start) & (offers["at"] < end)]
    counts = made.groupby("manager").agg(
        clients_contacted=("client_id", "nunique"), offers=("client_id", "size")
    )
    said = pd.crosstab(made["manager"], made["outcome"]).reindex(columns=_SAID, fill_value=0)
    sold = sales[(sales["timestamp"] >= start) & (sales["timestamp"] < end)]
    money = sold.groupby("source").agg(orders=("revenue", "size"), revenue=("revenue", "sum"))
    out = pd.concat([counts, said, money.rename_axis("manager")], axis=1)
    return out.reindex(columns=list(FIGURES)).fillna(0).sort_index()


def _plain(row: pd.Series) -> dict[str, Any]:
    """A manager's figures as JSON numbers: counts as ints, revenue to the cent."""
    counts = {k: int(row[k]) for k in FIGURES if k != "revenue"}
    return counts | {"revenue": round(float(row["revenue"]), 2)}
