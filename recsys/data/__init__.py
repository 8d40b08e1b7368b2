"""Event import: read, validate and clean events into the canonical table."""

from recsys.data._readers import input_format, pick_date_format, read_events
from recsys.data._writers import write_table
from recsys.data.cleaning import (
    CLEANING_STEPS,
    OPERATIONS,
    CleaningConfig,
    CleaningStep,
    Predicate,
    clean_events,
)
from recsys.data.loading import (
    ImportReport,
    LoadedEvents,
    combine,
    load_events,
    mode_by,
    summarize,
)
from recsys.data.schema import (
    DEFAULTED_COLUMNS,
    FORMATS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    InputFormat,
)

__all__ = [
    "CLEANING_STEPS",
    "DEFAULTED_COLUMNS",
    "FORMATS",
    "OPERATIONS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "CleaningConfig",
    "CleaningStep",
    "ImportReport",
    "InputFormat",
    "LoadedEvents",
    "Predicate",
    "clean_events",
    "combine",
    "input_format",
    "load_events",
    "mode_by",
    "pick_date_format",
    "read_events",
    "summarize",
    "write_table",
]
