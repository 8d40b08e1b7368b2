"""Field types shared by the models that read JSON and YAML.

pydantic's lax ``int`` takes ``true`` as 1 and ``"3"`` as 3, which the JSON schema
it publishes ("integer") refuses; strict ``int`` refuses ``3.0``, which that schema
accepts. :data:`JsonInt` takes what the schema takes: integers and integral floats.
Likewise lax ``date``/``datetime`` take a number as a Unix time, which a schema
``string`` (format date) refuses: :data:`JsonDate` and :data:`JsonDateTime` take
ISO strings and date objects (YAML's), never numbers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

__all__ = ["JsonDate", "JsonDateTime", "JsonInt", "bounded_int"]


def _no_bool_or_text(value: Any) -> Any:
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be an integer")
    return value


#: An ``int`` field that refuses booleans and strings (see the module docstring).
JsonInt = Annotated[int, BeforeValidator(_no_bool_or_text)]


def _no_number(value: Any) -> Any:
    if isinstance(value, bool | int | float):
        raise ValueError("must be an ISO 8601 date string")
    return value


#: A ``date`` field that refuses numbers (see the module docstring).
JsonDate = Annotated[date, BeforeValidator(_no_number)]
#: A ``datetime`` field that refuses numbers (see the module docstring).
JsonDateTime = Annotated[datetime, BeforeValidator(_no_number)]


def bounded_int(low: int, high: int) -> Any:
    """:data:`JsonInt` within ``[low, high]``, written so the bounds reach the JSON schema
    also inside ``X | None`` (constraints placed after the validator do not)."""
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_no_bool_or_text)]
