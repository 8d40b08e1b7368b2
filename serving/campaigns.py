"""What the service reads of the campaigns (:mod:`recsys.campaigns`): each client's
campaigns for the CRM screen and ``/v1/clients/{id}/campaigns``, and a campaign's page
report, its effect read from this service's own event log.

Every function here blocks on files: call it off the event loop (``asyncio.to_thread``
or ``run_in_threadpool``), as the routes do.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import Depends, Request

from recsys.campaigns import (
    METRICS,
    Campaign,
    CampaignStore,
    campaign_effect,
)
from recsys.errors import ConfigError
from serving.deps import Context
from serving.experiments_page import read_events

__all__ = [
    "EVENT_COLUMNS",
    "Book",
    "CampaignBook",
    "PageReport",
    "campaign_report",
    "canonical_events",
    "effect_rows",
    "page_report",
]

#: The canonical events table the effect reads.
EVENT_COLUMNS = ("client_id", "item_id", "order_id", "timestamp", "quantity", "price")

#: How the page names each metric, and the unit its figures are in.
METRIC_NAMES = {
    "revenue_per_client": ("Revenue per client", "money"),
    "buyers_share": ("Buyers", "share"),
    "offered_item_buyers_share": ("Buyers of an offered item", "share"),
    "orders_per_client": ("Orders per client", "number"),
    "average_check": ("Average check (buyers)", "money"),
}
NONE = "—"
log = logging.getLogger("recsys.serving")

Key = tuple[int, int]


class CampaignBook:
    """The campaigns of ``settings.campaigns_path``, with each campaign's members
    indexed by client; an index is read again only when its members file changed
    (modification time or size), so a CRM screen does not reread unchanged files."""

    def __init__(self, root: Path) -> None:
        self.store = CampaignStore(root)
        self._lock = threading.Lock()
        self.writing = asyncio.Lock()
        """Held while a definition is written (``PUT /v1/campaigns/{name}``)."""
        self._members: dict[str, tuple[Key, dict[str, dict[str, Any]]]] = {}
        self._definitions: dict[str, tuple[Key, Campaign]] = {}

    def client_campaigns(self, client_id: str) -> list[dict[str, Any]]:
        """Every built campaign ``client_id`` is a member of (treatment or holdout), by
        start, newest first; none for a client no campaign has."""
        found = []
        for name in self.store.names():
            member = self._index(name).get(client_id)
            if member is None:
                continue
            campaign = self._definition(name)
            if campaign is None:  # a definition removed or broken since the build
                continue
            offers, reasons = member.get("offers") or [], member.get("reasons") or []
            reasons = [*reasons, *[""] * (len(offers) - len(reasons))]
            found.append(
                {
                    "name": name,
                    "channel": member.get("channel") or campaign.channel,
                    "group": member.get("group"),
                    "start": campaign.start.isoformat(),
                    "end": campaign.end.isoformat(),
                    "offers": [
                        {"item_id": str(item), "reason": str(reason or "")}
                        for item, reason in zip(offers, reasons, strict=False)
                    ],
                }
            )
        return sorted(found, key=lambda c: (c["start"], c["name"]), reverse=True)

    def _index(self, name: str) -> dict[str, dict[str, Any]]:
        """``name``'s members by client id (the cached one while its file is unchanged)."""
        key = _key(self.store.root / f"{name}.members.jsonl")
        if key is None:
            return {}
        with self._lock:
            cached = self._members.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            members = self.store.members(name)
        except ConfigError:  # a damaged file: the other campaigns still show
            log.warning("campaign %s: members file unreadable; left out", name)
            members = pd.DataFrame(columns=["client_id"])
        rows: list[dict[str, Any]] = members.to_dict(orient="records")  # type: ignore[assignment]
        index = {str(row["client_id"]): row for row in rows}
        with self._lock:
            self._members[name] = (key, index)
        return index

    def _definition(self, name: str) -> Campaign | None:
        key = _key(self.store.root / f"{name}.yaml")
        if key is None:
            return None
        with self._lock:
            cached = self._definitions.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            campaign = self.store.definition(name)
        except Exception:  # a broken file: the screen shows the other campaigns
            return None
        with self._lock:
            self._definitions[name] = (key, campaign)
        return campaign


def _key(path: Path) -> Key | None:
    """A file's (modification time, size); None when it is missing."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_mtime_ns, found.st_size


async def _book(request: Request) -> CampaignBook:
    return request.app.state.campaigns  # type: ignore[no-any-return]


Book = Annotated[CampaignBook, Depends(_book)]
"""The app's campaign book (``create_app`` makes it from ``campaigns_path``)."""


def canonical_events(raw: pd.DataFrame) -> pd.DataFrame:
    """The service's event log as the canonical events table: purchases only (a row
    without a type is one), each event once (by ``event_id``: a retried batch), the
    order its ``order_id``, else its ``event_id``, else client and time; times in UTC
    (unreadable ones dropped); quantity 1 when absent; a missing price NaN."""
    if raw.empty:
        return _empty()
    table = raw
    if "type" in table:
        table = table[table["type"].fillna("purchase") == "purchase"]
    if "event_id" in table:
        table = table[table["event_id"].isna() | ~table["event_id"].duplicated()]
    if table.empty or not {"client_id", "item_id", "timestamp"} <= set(table.columns):
        return _empty()
    stamps = pd.to_datetime(table["timestamp"], utc=True, format="ISO8601", errors="coerce")
    clients = table["client_id"].astype(str)
    order = _column(table, "order_id", object)
    if "event_id" in table:
        order = order.fillna(table["event_id"])
    order = order.fillna(clients + "@" + table["timestamp"].astype(str))
    found = pd.DataFrame(
        {
            "client_id": clients,
            "item_id": table["item_id"].astype(str),
            "order_id": order.astype(str),
            "timestamp": stamps,
            "quantity": _column(table, "quantity", float).fillna(1.0),
            "price": _column(table, "price", float),
        }
    )
    return found[found["timestamp"].notna()].reset_index(drop=True)


def _column(table: pd.DataFrame, name: str, dtype: type) -> pd.Series:
    if name not in table:
        return pd.Series(None, index=table.index, dtype=dtype)
    values = table[name]
    return pd.to_numeric(values, errors="coerce") if dtype is float else values.astype(object)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": pd.Series(dtype=object),
            "item_id": pd.Series(dtype=object),
            "order_id": pd.Series(dtype=object),
            "timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
            "quantity": pd.Series(dtype=float),
            "price": pd.Series(dtype=float),
        }
    )


@dataclass
class PageReport:
    """What a campaign's page shows."""

    campaign: Campaign
    build: dict[str, Any] | None
    """The last build's report (None before the first build)."""
    effect: dict[str, Any] | None
    """The effect report (None while the campaign has no members)."""


async def page_report(ctx: Context, name: str) -> PageReport:
    """Campaign ``name``'s definition, last build and effect over the service's own
    event log; :class:`~recsys.errors.NotFoundError` when there is none."""
    store = CampaignStore(ctx.settings.campaigns_path)
    campaign, members, build = await asyncio.to_thread(_stored, store, name)
    effect = None
    if not members.empty:
        raw = await read_events(ctx.events)
        try:
            effect = await asyncio.to_thread(campaign_report, campaign, members, raw)
        except ValueError as error:  # members not as a build writes them: no figures
            log.warning("campaign %s: no effect report (%s)", name, error)
    return PageReport(campaign, build, effect)


def _stored(
    store: CampaignStore, name: str
) -> tuple[Campaign, pd.DataFrame, dict[str, Any] | None]:
    campaign = store.definition(name)  # NotFoundError: a 404
    try:
        return store.as_built(name), store.members(name), store.build_report(name)
    except ConfigError as error:  # a damaged members or build file
        log.warning("campaign %s: build files unreadable (%s)", name, error)
        return campaign, pd.DataFrame(), None


def campaign_report(
    campaign: Campaign, members: pd.DataFrame, raw_events: pd.DataFrame
) -> dict[str, Any]:
    """The effect of ``campaign`` on its ``members`` over ``raw_events`` (the service's
    event log, as read)."""
    start = pd.Timestamp(campaign.start, tz="UTC")
    end = pd.Timestamp(campaign.end, tz="UTC")
    events = canonical_events(raw_events)
    return campaign_effect(members, events, start, end, campaign.holdout)


def effect_rows(metrics: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """One row per metric, its figures as the page prints them."""
    rows = []
    for metric in METRICS:
        if metric not in metrics:
            continue
        m, (label, unit) = metrics[metric], METRIC_NAMES.get(metric, (metric, "number"))
        rows.append(
            {
                "metric": metric,
                "label": label,
                "treatment": _amount(m.get("treatment"), unit),
                "holdout": _amount(m.get("holdout"), unit),
                "difference": _with_interval(m.get("difference"), m.get("ci95"), unit),
                "cuped": _with_interval(m.get("cuped_difference"), m.get("cuped_ci95"), unit),
                "relative": _with_interval(m.get("relative"), m.get("relative_ci95"), "ratio"),
                "did": _amount(m.get("did"), unit, signed=True),
                "mde": _amount(m.get("mde"), unit),
            }
        )
    return rows


def _with_interval(value: Any, interval: Any, unit: str) -> str:
    shown = _amount(value, unit, signed=True)
    if shown == NONE or not interval or any(_missing(v) for v in interval):
        return shown
    low, high = (_amount(v, unit, signed=True) for v in interval)
    return f"{shown} [{low}, {high}]"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _amount(value: Any, unit: str, signed: bool = False) -> str:
    """A figure in its unit: £1,234.50, 12.5 % (a difference of shares in points),
    1.234; "—" when there is none."""
    if _missing(value):
        return NONE
    number = float(value)
    sign = ("+" if number >= 0 else "−") if signed else ("−" if number < 0 else "")
    size = abs(number)
    if unit == "money":
        return f"{sign}£{size:,.2f}"
    if unit == "share":
        return f"{sign}{size * 100:.1f} {'pp' if signed else '%'}"
    if unit == "ratio":
        return f"{sign}{size * 100:.1f} %"
    return f"{sign}{size:,.3f}"
