"""The canonical events table and the input formats mapped onto it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from recsys.errors import SchemaError

__all__ = [
    "CANONICAL",
    "DEFAULTED_COLUMNS",
    "FORMATS",
    "ID_COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "FormatName",
    "InputFormat",
]

FormatName = Literal["canonical", "online-retail", "events-log"]

#: Columns every input must have, in order.
REQUIRED_COLUMNS: tuple[str, ...] = ("client_id", "item_id", "order_id", "timestamp")
#: Numeric columns every events table has, but an input may leave out, or leave empty
#: in a row: their value then. Ratings, content and free-item catalogues have no
#: price; price-based steps and features skip rows without one.
DEFAULTED_COLUMNS: dict[str, float] = {"quantity": 1.0, "price": float("nan")}
#: Columns kept when the input has them.
OPTIONAL_COLUMNS: tuple[str, ...] = ("title", "category", "country", "event_type", "manager")
#: Identifier columns: strings, stored as pandas categoricals.
ID_COLUMNS: tuple[str, ...] = ("client_id", "item_id", "order_id")
#: Columns that may be empty in a row (a line without a known client).
NULLABLE_COLUMNS: frozenset[str] = frozenset({"client_id", *OPTIONAL_COLUMNS})
#: Every column an input may name, in the order of the canonical table.
ALL_COLUMNS: tuple[str, ...] = (*REQUIRED_COLUMNS, *DEFAULTED_COLUMNS, *OPTIONAL_COLUMNS)


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

    def resolve(self, header: list[str], file: str) -> dict[str, str]:
        """Map each canonical column to the file's column that holds it; a missing
        required column is a :class:`~recsys.errors.SchemaError` naming it."""
        present = set(header)
        columns: dict[str, str] = {}
        for canonical, aliases in self.aliases.items():
            found = next((a for a in aliases if a in present), None)
            if found is not None:
                columns[canonical] = found
            elif canonical in REQUIRED_COLUMNS:
                raise SchemaError(
                    f"missing column (expected {' or '.join(map(repr, aliases))}"
                    f" for format {self.name!r}); the header has: {', '.join(header)}",
                    file=file,
                    row=0,
                    column=aliases[0],
                )
        return columns


CANONICAL = InputFormat(
    name="canonical",
    aliases={c: (c,) for c in ALL_COLUMNS},
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
#: Order ids may be missing (events without a price keep NaN, as in every format).
EVENTS_LOG = InputFormat(
    name="events-log",
    aliases={**{c: (c,) for c in ALL_COLUMNS}, "event_type": ("type",)},
    may_be_empty=("order_id",),
)

FORMATS: dict[str, InputFormat] = {f.name: f for f in (CANONICAL, ONLINE_RETAIL, EVENTS_LOG)}
