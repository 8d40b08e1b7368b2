"""recsys core: events → matrix → models → ranking, importable without the web layer.

This package never imports redis, fastapi, mlflow, ``serving`` or ``training``.
"""

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
