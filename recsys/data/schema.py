"""The canonical events table and the input formats mapped onto it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CANONICAL",
    "FORMATS",
    "ID_COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "FormatName",
    "InputFormat",
]

FormatName = Literal["canonical", "online-retail", "events-log"]

#: Columns every events table has, in order.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "client_id",
    "item_id",
    "order_id",
    "timestamp",
    "quantity",
    "price",
)
#: Columns kept when the input has them.
OPTIONAL_COLUMNS: tuple[str, ...] = ("title", "category", "country", "event_type")
#: Identifier columns: strings, stored as pandas categoricals.
ID_COLUMNS: tuple[str, ...] = ("client_id", "item_id", "order_id")
#: Columns that may be empty in a row (a line without a known client).
NULLABLE_COLUMNS: frozenset[str] = frozenset({"client_id", *OPTIONAL_COLUMNS})


@dataclass(frozen=True)
class InputFormat:
    """How one input format names the canonical columns.

    ``aliases`` maps each canonical column to the spellings accepted for it,
    first match wins; ``date_formats`` are tried in order on the first date.
    """

    name: str
    aliases: dict[str, tuple[str, ...]]
    date_formats: tuple[str, ...] = ("ISO8601",)
    float_ids: tuple[str, ...] = field(default=())
    may_be_empty: tuple[str, ...] = field(default=())


CANONICAL = InputFormat(
    name="canonical",
    aliases={c: (c,) for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS},
)

ONLINE_RETAIL = InputFormat(
    name="online-retail",
    aliases={
        "client_id": ("Customer ID", "CustomerID"),
        "item_id": ("StockCode",),
        "order_id": ("Invoice", "InvoiceNo"),
        "timestamp": ("InvoiceDate",),
        "quantity": ("Quantity",),
        "price": ("Price", "UnitPrice"),
        "title": ("Description",),
        "country": ("Country",),
    },
    # Online Retail II writes ISO dates; the older Online Retail sheet, US ones.
    date_formats=("%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M"),
    float_ids=("client_id",),
)

#: The service's event log (``RECSYS_EVENTS_PATH``, JSON lines): training reads it back.
#: Events without a price keep an empty (NaN) price; order ids may be missing too.
EVENTS_LOG = InputFormat(
    name="events-log",
    aliases={**{c: (c,) for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}, "event_type": ("type",)},
    may_be_empty=("price", "order_id"),
)

FORMATS: dict[str, InputFormat] = {f.name: f for f in (CANONICAL, ONLINE_RETAIL, EVENTS_LOG)}
