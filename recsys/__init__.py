"""recsys core: events → matrix → models → ranking, importable without the web layer.

This package never imports redis, fastapi, mlflow, ``serving`` or ``training``.
Public names load on first use (PEP 562), so ``from recsys.errors import …`` or a
CLI's ``--help`` does not pay for pandas, scipy and implicit.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recsys.data import CleaningConfig, ImportReport, LoadedEvents, load_events, summarize
    from recsys.errors import (
        ConfigError,
        DataError,
        ModelError,
        NotFoundError,
        ParseError,
        RecsysError,
        SchemaError,
    )
    from recsys.matrix import InteractionMatrix, MatrixConfig, build_matrix
    from recsys.split import (
        Split,
        split_by_fraction_of_time,
        split_by_time,
        split_random_per_client,
    )
    from recsys.synth import SynthConfig, synthesize
    from recsys.vocab import IdMap

#: Public name → the module that defines it.
_WHERE = {
    **dict.fromkeys(
        ("CleaningConfig", "ImportReport", "LoadedEvents", "load_events", "summarize"),
        "recsys.data",
    ),
    **dict.fromkeys(
        (
            "ConfigError",
            "DataError",
            "ModelError",
            "NotFoundError",
            "ParseError",
            "RecsysError",
            "SchemaError",
        ),
        "recsys.errors",
    ),
    **dict.fromkeys(("InteractionMatrix", "MatrixConfig", "build_matrix"), "recsys.matrix"),
    **dict.fromkeys(
        ("Split", "split_by_fraction_of_time", "split_by_time", "split_random_per_client"),
        "recsys.split",
    ),
    **dict.fromkeys(("SynthConfig", "synthesize"), "recsys.synth"),
    "IdMap": "recsys.vocab",
}

__all__ = [
    "CleaningConfig",
    "ConfigError",
    "DataError",
    "IdMap",
    "ImportReport",
    "InteractionMatrix",
    "LoadedEvents",
    "MatrixConfig",
    "ModelError",
    "NotFoundError",
    "ParseError",
    "RecsysError",
    "SchemaError",
    "Split",
    "SynthConfig",
    "build_matrix",
    "load_events",
    "split_by_fraction_of_time",
    "split_by_time",
    "split_random_per_client",
    "summarize",
    "synthesize",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module 'recsys' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
