"""The events a retrain reads: the history, the service's events since, and the archive.

With the Redis stream as a source, the events read are exported into the working
directory; only after the candidate is promoted are they moved into the archive
directory and trimmed from the stream (:func:`keep_batch`, :func:`trim_batch`), so a
crash at any step loses none: until the trim they are still in the stream, and an
event both archived and still in the stream (a crash between the two) is read once
(matched by ``event_id``). Every later retrain reads the archive back.

Each input is cleaned on its own; when they are joined, a row equal to a row of an
earlier input (history first, then the sources in the order given) is dropped too:
the cleaning's own definition of a duplicate (every column equal, the first kept),
on the columns both inputs have. Each input counts its rows found in each earlier
one (:attr:`Source.duplicates_of`, a data check reads them), the joined report's
``dropped`` counts them all (:data:`ACROSS_INPUTS`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsys.bundle import EventsPosition
from recsys.data import CleaningConfig, LoadedEvents, combine, write_table
from recsys.errors import ConfigError, DataError
from training.cli import _events

__all__ = [
    "ACROSS_INPUTS",
    "Source",
    "Sources",
    "StreamBatch",
    "join",
    "keep_batch",
    "read_sources",
    "trim_batch",
]

_REDIS = ("redis://", "rediss://", "unix://")
#: The format the service's events are read in (log, export, archive alike).
EVENTS_LOG = "events-log"
#: The joined report's name for rows dropped as duplicates of an earlier input's.
ACROSS_INPUTS = "duplicates_across_inputs"


@dataclass(frozen=True)
class Source:
    """One input, cleaned on its own (the data checks read each one's report)."""

    name: str
    loaded: LoadedEvents
    duplicates_of: dict[str, int] = field(default_factory=dict)
    """Earlier input's name → how many of this input's rows kept equal one of its rows
    (dropped when the inputs are joined)."""


@dataclass(frozen=True)
class StreamBatch:
    """The stream entries a retrain read: kept in ``archive`` and trimmed after promotion."""

    redis_url: str
    stream: str
    export: Path | None
    """The exported events not yet archived (``None``: there were none)."""
    last_id: str | None
    archive: Path


@dataclass(frozen=True)
class Sources:
    """Every input, and all of them as one table."""

    parts: list[Source]
    combined: LoadedEvents
    position: EventsPosition | None
    batch: StreamBatch | None

    def part(self, name: str) -> Source | None:
        """The input named ``name``, if read."""
        return next((p for p in self.parts if p.name == name), None)


def read_sources(
    history: Path,
    fmt: str,
    extra: list[str],
    cleaning: CleaningConfig,
    workdir: Path,
    archive: Path,
    stream: str | None,
) -> Sources:
    """Read ``history`` and every ``extra`` source (files, or one ``redis://…`` stream
    with ``archive``'s earlier exports), each cleaned with ``cleaning``."""
    parts = [Source("history", _events.load(history, fmt, cleaning))]
    position: EventsPosition | None = None
    batch: StreamBatch | None = None
    for source in extra:
        found: EventsPosition | None
        if source.startswith(_REDIS):
            if batch is not None:
                raise ConfigError("--extra-events: give at most one redis:// stream")
            batch, found, read = _stream(source, stream, workdir, archive, cleaning)
            parts += read
        else:
            path, found = _events.extra_events_file(source, workdir, None)
            loaded = _load(path, cleaning, named=source)
            parts.append(Source(_unique(f"new events ({Path(source).name})", parts), loaded))
        if found is not None and position is not None:
            raise ConfigError("--extra-events: at most one of the service's logs or streams")
        position = found or position
    parts, combined = join(parts, cleaning.duplicates)
    return Sources(parts, combined, position, batch)


def _unique(name: str, parts: list[Source]) -> str:
    """``name``, numbered when an earlier input has it (the same file given twice)."""
    taken, found, number = {p.name for p in parts}, name, 1
    while found in taken:
        number += 1
        found = f"{name} #{number}"
    return found


def join(parts: list[Source], across: bool = True) -> tuple[list[Source], LoadedEvents]:
    """The inputs as one table; with ``across`` (the cleaning's ``duplicates`` step on),
    without the rows that equal a row of an earlier input. Returns the inputs with
    their :attr:`Source.duplicates_of` counts, and the joined events."""
    kept: list[np.ndarray] = []
    counted: list[Source] = []
    for part in parts:
        events = part.loaded.events
        keep = np.ones(len(events), dtype=bool)
        found: dict[str, int] = {}
        for earlier in counted if across else []:
            hit = _found_in(events, earlier.loaded.events) & keep
            if hit.any():
                found[earlier.name] = found.get(earlier.name, 0) + int(hit.sum())
            keep &= ~hit
        kept.append(keep)
        counted.append(replace(part, duplicates_of=found))
    pieces = [_kept(p.loaded, mask) for p, mask in zip(counted, kept, strict=True)]
    combined = pieces[0]
    for piece in pieces[1:]:
        combined = combine(combined, piece)
    dropped = sum(sum(p.duplicates_of.values()) for p in counted)
    report = combined.report
    if across and len(parts) > 1:
        report = replace(
            report,
            rows_kept=report.rows_kept - dropped,
            dropped={**report.dropped, ACROSS_INPUTS: dropped},
        )
    return counted, LoadedEvents(combined.events, report)


def _kept(loaded: LoadedEvents, keep: np.ndarray) -> LoadedEvents:
    """``loaded``'s rows where ``keep`` (its report as cleaned alone)."""
    if keep.all():
        return loaded
    return LoadedEvents(loaded.events.loc[keep].reset_index(drop=True), loaded.report)


def _found_in(rows: pd.DataFrame, earlier: pd.DataFrame) -> np.ndarray:
    """Which of ``rows`` equal a row of ``earlier`` in every column both have (missing
    values equal, as :meth:`pandas.DataFrame.duplicated` compares them)."""
    shared = [c for c in rows.columns if c in earlier.columns]
    if rows.empty or earlier.empty or not shared:
        return np.zeros(len(rows), dtype=bool)
    left, right = _plain(rows[shared]), _plain(earlier[shared]).drop_duplicates()
    marked = left.merge(right.assign(_found=True), on=shared, how="left", sort=False)
    return marked["_found"].notna().to_numpy()


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Values two inputs can compare: categories as plain values (each input has its
    own), numbers as their 15 significant digits. A number written as decimal text
    keeps those through any reader, but not always its last bit: the JSON-lines reader
    reads the log's 1.95 as 1.9500000000000002, the CSV reader the shop's as 1.95."""
    plain = {c: frame[c].astype(object) for c in frame.columns if frame[c].dtype == "category"}
    plain.update({c: _digits(frame[c]) for c in frame.columns if frame[c].dtype.kind == "f"})
    return frame.assign(**plain).reset_index(drop=True)


def _digits(numbers: pd.Series) -> np.ndarray:
    """Each number as text with 15 significant digits (``nan`` for a missing one)."""
    codes, values = pd.factorize(numbers, use_na_sentinel=False)
    return np.array([f"{v:.15g}" for v in values], dtype=object)[codes]


def _load(path: Path, cleaning: CleaningConfig, named: str | None = None) -> LoadedEvents:
    """The service's events in ``path``; errors name ``named``, the file the person
    gave, when ``path`` is a copy of it (the log's snapshot keeps its rows)."""
    try:
        return _events.load(path, EVENTS_LOG, cleaning)
    except DataError as error:
        if named is None or error.file != str(path):
            raise
        raise type(error)(error.reason, file=named, row=error.row, column=error.column) from None


def _stream(
    url: str, name: str | None, workdir: Path, archive: Path, cleaning: CleaningConfig
) -> tuple[StreamBatch, EventsPosition, list[Source]]:
    """The archive's events (one source) and the stream's new ones (another)."""
    from serving.stream import DEFAULT_STREAM
    from training.events import read_stream

    stream = name or DEFAULT_STREAM
    kept = sorted(archive.glob("*.parquet")) if archive.is_dir() else []
    parts = [Source("archive", _archived(kept, workdir, cleaning))] if kept else []
    read = read_stream(url, stream)
    fresh = _not_archived(read.events, kept)
    export = None
    if not fresh.empty:
        export = workdir / "stream-events.parquet"
        write_table(pa.Table.from_pandas(fresh, preserve_index=False), export)
        parts.append(Source("new events (stream)", _load(export, cleaning)))
    # An empty stream: every later entry is new to the bundle ("0-0", not unknown).
    position = EventsPosition(stream_id=read.last_id or "0-0")
    return StreamBatch(url, stream, export, read.last_id, archive), position, parts


def _archived(files: list[Path], workdir: Path, cleaning: CleaningConfig) -> LoadedEvents:
    """Every archived export, read as one file (one cleaning report)."""
    tables = [pq.read_table(f) for f in files]
    target = workdir / "archive-events.parquet"
    write_table(pa.concat_tables(tables, promote_options="permissive"), target)
    return _load(target, cleaning)


def _not_archived(events: pd.DataFrame, files: list[Path]) -> pd.DataFrame:
    """``events`` less those an earlier retrain archived (a crash before its trim)."""
    if events.empty or "event_id" not in events.columns or not files:
        return events
    ids = {v for f in files for v in _ids(f)}
    return events.loc[~events["event_id"].astype(str).isin(ids)].reset_index(drop=True)


def _ids(path: Path) -> list[str]:
    if "event_id" not in pq.read_schema(path).names:
        return []
    return [str(v) for v in pq.read_table(path, columns=["event_id"])["event_id"].to_pylist()]


def keep_batch(batch: StreamBatch) -> Path | None:
    """Move the exported events into the archive (atomic rename, then fsync of the
    directory): from now on they are read from there, whatever the stream holds."""
    if batch.export is None or batch.last_id is None:
        return None
    batch.archive.mkdir(parents=True, exist_ok=True)
    target = batch.archive / f"{batch.last_id}.parquet"
    staged = batch.archive / f".{batch.last_id}.parquet.partial"
    staged.write_bytes(batch.export.read_bytes())  # the workdir may be another disk
    _fsync(staged)
    os.replace(staged, target)
    _fsync(batch.archive)
    return target


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def trim_batch(batch: StreamBatch) -> None:
    """Remove exactly the entries read (ids ≤ the last one), never a later one."""
    import redis

    if batch.last_id is None:
        return
    ms, _, seq = batch.last_id.partition("-")
    client = redis.Redis.from_url(batch.redis_url)
    try:
        # Exact (not "~"): an approximate trim leaves entries behind, read again next time.
        client.xtrim(batch.stream, minid=f"{ms}-{int(seq) + 1}", approximate=False)
    finally:
        client.close()
