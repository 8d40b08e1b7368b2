"""Field types shared by the models that read JSON and YAML.

pydantic's lax ``int`` takes ``true`` as 1 and ``"3"`` as 3, which the JSON schema
it publishes ("integer") refuses; strict ``int`` refuses ``3.0``, which that schema
accepts. :data:`JsonInt` takes what the schema takes: integers and integral floats.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = ["JsonInt"]


def _no_bool_or_text(value: Any) -> Any:
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be an integer")
    return value


#: An ``int`` field that refuses booleans and strings (see the module docstring).
JsonInt = Annotated[int, BeforeValidator(_no_bool_or_text)]
