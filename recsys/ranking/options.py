"""The options of one request: its filters, exclusions and context.

Below both the ranking core and the sources (each reads a request's options), so
neither imports the other for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from recsys.catalogue import ItemFilter

__all__ = ["RequestOptions", "Today", "utc_today"]

Today = Callable[[], date]
"""A clock of days: what "today" is for a request that names no day."""


def utc_today() -> date:
    """Today's date in UTC (never the server's local date: replicas in other zones,
    and the day the events are stamped in, would disagree around midnight)."""
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class RequestOptions:
    """Filters and context of one request."""

    exclude_purchased: bool = True
    exclude: tuple[str, ...] = ()
    out_of_stock: tuple[str, ...] = ()
    """Ids not to offer in this request, beside those the catalogue marks unavailable."""
    only: ItemFilter = field(default_factory=ItemFilter)
    """Category, price and tag filters."""
    max_per_category: int | None = None
    day: date | None = None
    """The day re-purchases are scored on and analyst rules are judged on; ``None``: the
    ranking core's clock (:class:`~recsys.ranking._core.BlendCore`) fills it in."""
    segment: str | None = None
    country: str | None = None
    bought_only: bool = False
    """With ``exclude_purchased`` off, offer only items the client bought before (the
    storefront's "buy it again" shelf: ``mode=repeat``)."""
