"""``recsys catalogue import``: a catalogue file read into validated items.

Columns are named like the events table (``item_id``, ``title``, ``category``,
``price``) plus ``available``, ``tags`` (``|``-separated), ``available_from`` and
``available_until``; only ``item_id`` is required. Errors name the file, the 1-based
data row and the column, as the events importer does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from recsys.catalogue._item import CatalogueItem
from recsys.errors import DataError, ParseError, SchemaError

__all__ = ["CATALOGUE_COLUMNS", "read_items"]

#: The columns a catalogue file may have (``item_id`` required).
CATALOGUE_COLUMNS = (
    "item_id",
    "title",
    "category",
    "price",
    "available",
    "tags",
    "available_from",
    "available_until",
)
_TRUE = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def read_items(path: Path) -> list[CatalogueItem]:
    """Every row of a CSV / CSV.gz / Parquet catalogue as an item; the first bad
    value raises :class:`DataError` naming file, row and column."""
    frame = _read(path)
    unknown = [c for c in frame.columns if c not in CATALOGUE_COLUMNS]
    if unknown or "item_id" not in frame.columns:
        what = f"unknown column {unknown[0]!r}" if unknown else "column 'item_id' missing"
        raise SchemaError(f"{what}; columns: {', '.join(CATALOGUE_COLUMNS)}", file=str(path))
    records: list[dict[str, Any]] = frame.to_dict("records")  # type: ignore[assignment]
    return [_item(record, str(path), row) for row, record in enumerate(records, start=1)]


def _read(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path).astype(object).where(lambda f: f.notna(), None)
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, skip_blank_lines=False, encoding="utf-8-sig"
        )
    except pd.errors.EmptyDataError:
        raise SchemaError("the file is empty", file=str(path)) from None
    except pd.errors.ParserError as exc:
        raise ParseError(f"malformed CSV ({exc})", file=str(path)) from None
    except (UnicodeDecodeError, EOFError, OSError, ValueError) as exc:
        raise SchemaError(f"not a readable catalogue file ({exc})", file=str(path)) from None
    return frame.astype(object).where(frame != "", None)


def _item(record: dict[str, Any], file: str, row: int) -> CatalogueItem:
    """One row as an item: blanks are absent, tags split, flags read as booleans."""
    values = {k: v for k, v in record.items() if v is not None}
    if isinstance(values.get("tags"), str):
        values["tags"] = [t.strip() for t in values["tags"].split("|") if t.strip()]
    flag = values.get("available")
    if isinstance(flag, str):
        if flag.strip().lower() not in _TRUE:
            raise ParseError(f"not true/false: {flag!r}", file=file, row=row, column="available")
        values["available"] = _TRUE[flag.strip().lower()]
    try:
        return CatalogueItem.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        column = str(error["loc"][0]) if error["loc"] else None
        raise DataError(error["msg"], file=file, row=row, column=column) from None
