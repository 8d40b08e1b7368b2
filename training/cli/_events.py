"""Reading events in every command: the cleaning switches, and warnings on stderr."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas and the models load inside the commands, not for --help
    from recsys.bundle import EventsPosition
    from recsys.data import CleaningConfig, LoadedEvents

CLEANING_ONLY = frozenset({"cleaning"})


def cleaning(overrides: list[str] | None, skip: list[str] | None) -> CleaningConfig:
    """The cleaning config of a command that takes only ``cleaning.*`` settings."""
    from training import jobs

    return jobs.cleaning_config(jobs.parse_overrides(overrides or [], CLEANING_ONLY), skip)


def load(events: Path, fmt: str, config: CleaningConfig) -> LoadedEvents:
    """:func:`load_events`, printing a warning for each step that removed most rows."""
    from recsys.data import load_events

    loaded = load_events(events, fmt, config)
    for line in loaded.report.warnings():
        print(f"warning: {events}: {line}", file=sys.stderr)
    return loaded


def extra_events_file(
    source: str, workdir: Path, stream: str | None
) -> tuple[Path, EventsPosition | None]:
    """``--extra-events``, and where those events end (recorded in the bundle, so its
    replicas apply what came after): ``redis://…`` exported from ``stream`` first (into
    ``workdir``, deduplicated by event_id); an export file as is; the service's own
    JSON-lines log copied up to its last complete line."""
    if source.startswith(("redis://", "rediss://", "unix://")):
        from recsys.bundle import EventsPosition
        from serving.stream import DEFAULT_STREAM
        from training.events import export_stream

        target = workdir / "stream-events.parquet"
        exported = export_stream(source, stream or DEFAULT_STREAM, target)
        # An empty stream: every later entry is new to the bundle ("0-0", not unknown).
        return target, EventsPosition(stream_id=exported.last_id or "0-0")
    from training.events import file_position, snapshot_log

    path = Path(source)
    if not path.is_file():  # refused by the reader, naming the file
        return path, None
    found = file_position(path)
    if found is not None or not path.name.lower().endswith((".jsonl", ".ndjson")):
        return path, found
    target = workdir / "service-events.jsonl"
    return target, snapshot_log(path, target)


def tombstones(source: str) -> frozenset[str]:
    """Deleted clients' hashes: a tombstone file, or ``redis://…`` (the shared set)."""
    from recsys.privacy import read_tombstones

    if not source.startswith(("redis://", "rediss://", "unix://")):
        return read_tombstones(Path(source))
    from training.events import read_tombstone_set

    return read_tombstone_set(source)


def forgetting(config: CleaningConfig, source: str) -> CleaningConfig:
    """``config`` that also drops the events of the clients deleted in ``source``."""
    return config.model_copy(update={"tombstones": config.tombstones | tombstones(source)})
