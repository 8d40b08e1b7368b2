"""Reading events in every command: the cleaning switches, and warnings on stderr."""

from __future__ import annotations

import sys
from pathlib import Path

from recsys.data import CleaningConfig, LoadedEvents, load_events
from training import jobs

CLEANING_ONLY = frozenset({"cleaning"})


def cleaning(overrides: list[str] | None, skip: list[str] | None) -> CleaningConfig:
    """The cleaning config of a command that takes only ``cleaning.*`` settings."""
    return jobs.cleaning_config(jobs.parse_overrides(overrides or [], CLEANING_ONLY), skip)


def load(events: Path, fmt: str, config: CleaningConfig) -> LoadedEvents:
    """:func:`load_events`, printing a warning for each step that removed most rows."""
    loaded = load_events(events, fmt, config)
    for line in loaded.report.warnings():
        print(f"warning: {events}: {line}", file=sys.stderr)
    return loaded
