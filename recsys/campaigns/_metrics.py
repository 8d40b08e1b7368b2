"""The per-client table of a campaign's effect report: what each member bought in
the campaign window and in the same length of time just before it."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["client_metrics"]

#: The figures of one window, per client (the pre-period ones get a ``pre_`` prefix).
COLUMNS = ("revenue", "orders", "bought", "bought_offered", "average_check")


def client_metrics(
    members: pd.DataFrame, events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """One row per member (index ``client_id``, a string): over the post period
    [start, end) its ``revenue`` (Σ quantity × price, a missing price counting 0),
    ``orders`` (distinct order ids), ``bought`` (1 with any purchase),
    ``bought_offered`` (1 with a purchase of an item of its own ``offers``),
    ``average_check`` (revenue / orders, NaN without an order); the same with a
    ``pre_`` prefix over the pre period [start − (end − start), start); and its
    ``group``, ``channel``, ``segment``. Only purchase lines count (quantity > 0,
    with a client). A member without events gets zeros (NaN average check).

    Naive ``start``/``end`` or event times are read as UTC. Raises ValueError when
    ``end`` is not after ``start`` or a client appears twice in ``members``.
    """
    moments = events["timestamp"]
    start, end = _moment(start, moments), _moment(end, moments)
    if end <= start:
        raise ValueError(f"campaign window: end {end} is not after start {start}")
    table = _members(members)
    lines = _purchases(events, table.index)
    offered = _offered(members)
    post = _window(lines, start, end, table.index, offered)
    pre = _window(lines, start - (end - start), start, table.index, offered)
    return pd.concat([post, pre.add_prefix("pre_"), table[["group", "channel", "segment"]]], axis=1)


def _moment(moment: Any, timestamps: pd.Series) -> pd.Timestamp:
    """``moment`` comparable with ``timestamps`` (naive times are UTC)."""
    moment = pd.Timestamp(moment)
    tz = getattr(timestamps.dtype, "tz", None)
    if tz is None:
        return moment if moment.tzinfo is None else moment.tz_convert("UTC").tz_localize(None)
    return moment.tz_convert(tz) if moment.tzinfo is not None else moment.tz_localize("UTC")


def _ids(values: pd.Series) -> pd.Series:
    """Identifiers as strings; missing ones stay missing (never the string "nan")."""
    return values.astype(str).where(values.notna())


def _members(members: pd.DataFrame) -> pd.DataFrame:
    table = members.set_index(_ids(members["client_id"]).rename("client_id"))
    if not table.index.is_unique:
        twice = table.index[table.index.duplicated()].unique().tolist()[:5]
        raise ValueError(f"members: clients listed more than once: {twice}")
    return table


def _purchases(events: pd.DataFrame, clients: pd.Index) -> pd.DataFrame:
    """The members' purchase lines: client, item, order, time and revenue."""
    client = _ids(events["client_id"])
    kept = client.isin(clients).to_numpy() & (events["quantity"] > 0).to_numpy()
    lines = events[kept].reset_index(drop=True)
    owner = client[kept].reset_index(drop=True)
    # A line without an order (the service's events may have none) is its client's
    # order at that time: counted, never dropped by ``nunique``.
    order = _ids(lines["order_id"]).fillna(owner + "@" + lines["timestamp"].astype(str))
    return pd.DataFrame(
        {
            "client_id": owner,
            "item_id": _ids(lines["item_id"]),
            "order_id": order,
            "timestamp": lines["timestamp"],
            "revenue": lines["quantity"] * lines["price"].fillna(0.0),
        }
    )


def _offered(members: pd.DataFrame) -> pd.DataFrame:
    """(client_id, item_id) of every offer made (or, in the holdout, not made)."""
    pairs = members[["client_id", "offers"]].explode("offers").dropna().reset_index(drop=True)
    return pd.DataFrame(
        {"client_id": _ids(pairs["client_id"]), "item_id": _ids(pairs["offers"])}
    ).drop_duplicates()


def _window(
    lines: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    clients: pd.Index,
    offered: pd.DataFrame,
) -> pd.DataFrame:
    """The figures of :data:`COLUMNS` over [start, end), one row per client."""
    inside = lines[(lines["timestamp"] >= start) & (lines["timestamp"] < end)]
    per = inside.groupby("client_id").agg(
        revenue=("revenue", "sum"), orders=("order_id", "nunique")
    )
    hits = inside.merge(offered, on=["client_id", "item_id"])["client_id"]
    out = per.reindex(clients, fill_value=0).astype({"revenue": float, "orders": int})
    out["bought"] = clients.isin(per.index).astype(int)
    out["bought_offered"] = clients.isin(hits).astype(int)
    out["average_check"] = out["revenue"] / out["orders"].where(out["orders"] > 0)
    return out[list(COLUMNS)]
