"""The service's accepted events, read back from the Redis Stream every replica writes.

Offline jobs see every replica's events this way. Entries are deduplicated by
``event_id`` (a batch replayed after a Redis outage, or retried by a client with the
same ids, counts once). Trimming is explicit: only what was exported, only when asked.

Each exported event keeps its entry id (``stream_id``), so a bundle trained on an
export records where in the stream its events end (:class:`EventsPosition`), and its
replicas apply every later purchase, also those accepted while it trained.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import redis

from recsys.bundle import EventsPosition
from recsys.data import write_table
from recsys.errors import ConfigError
from recsys.privacy import client_hash
from serving.event_store import parse_lines
from serving.privacy import FORGET, TOMBSTONE_SET
from serving.stream import FIELD

__all__ = [
    "STREAM_ID",
    "Exported",
    "export_stream",
    "file_position",
    "last_stream_id",
    "read_stream",
    "read_tombstone_set",
    "snapshot_log",
]

#: The column an export gives each event: the id of the stream entry it was read from.
STREAM_ID = "stream_id"


@dataclass(frozen=True)
class Exported:
    """What an export read: the events, the last stream id it covered, and how many
    stream entries it read (more than events when ids repeat)."""

    events: pd.DataFrame
    last_id: str | None
    entries: int


def read_stream(redis_url: str, stream: str, chunk: int = 10_000) -> Exported:
    """Every entry of ``stream``, oldest first, deduplicated by ``event_id``."""
    client = _connect(redis_url)
    rows: list[dict[str, Any]] = []
    start, last, entries = "-", None, 0
    while True:
        batch = client.xrange(stream, min=start, max="+", count=chunk)
        rows += [{**orjson.loads(f[FIELD]), STREAM_ID: entry.decode()} for entry, f in batch]
        entries += len(batch)
        if batch:
            last = batch[-1][0].decode()
            start = f"({last}"
        if len(batch) < chunk:
            break
    events = pd.DataFrame(rows)
    if "event_id" in events.columns:
        events = events.drop_duplicates("event_id", keep="first").reset_index(drop=True)
    return Exported(_forgotten(events, frozenset()), last, entries)


def _forgotten(events: pd.DataFrame, tombstones: frozenset[str]) -> pd.DataFrame:
    """``events`` without deletion records and without the events of deleted clients
    (those the stream records as deleted, and ``tombstones``)."""
    if events.empty:
        return events
    forget = (
        (events["type"] == FORGET).to_numpy() if "type" in events else np.zeros(len(events), bool)
    )
    recorded = events.loc[forget, "client_hash"].dropna() if forget.any() else []
    gone = tombstones | frozenset(recorded)
    events = events.loc[~forget].drop(columns=["client_hash"], errors="ignore")
    if gone:
        hashes = events["client_id"].astype(str).map(client_hash)
        events = events.loc[~hashes.isin(gone).to_numpy()]
    return events.reset_index(drop=True)


def read_tombstone_set(redis_url: str) -> frozenset[str]:
    """The tombstones every replica adds to Redis."""
    members = _connect(redis_url).smembers(TOMBSTONE_SET)
    return frozenset(m.decode() for m in members)


def export_stream(
    redis_url: str,
    stream: str,
    out: Path,
    trim: bool = False,
    tombstones: frozenset[str] = frozenset(),
) -> Exported:
    """Write the stream's events to ``out`` (.parquet, .csv, .csv.gz or .jsonl, in the
    ``events-log`` format), none of a deleted client; with ``trim``, then remove
    exactly the exported entries."""
    exported = read_stream(redis_url, stream)
    exported = replace(exported, events=_forgotten(exported.events, tombstones))
    if exported.events.empty:
        raise ConfigError(f"events: stream {stream!r} at {redis_url} holds no events")
    if out.name.lower().endswith((".jsonl", ".ndjson")):
        out.parent.mkdir(parents=True, exist_ok=True)
        lines = (orjson.dumps(r) for r in exported.events.to_dict("records"))
        out.write_bytes(b"\n".join(lines) + b"\n")
    else:
        write_table(pa.Table.from_pandas(exported.events, preserve_index=False), out)
    if trim and exported.last_id is not None:
        ms, _, seq = exported.last_id.partition("-")
        _connect(redis_url).xtrim(stream, minid=f"{ms}-{int(seq) + 1}")  # < MINID: removed
    return exported


def _connect(redis_url: str) -> Any:
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
        client.ping()
    except (redis.RedisError, OSError, ValueError) as error:
        raise ConfigError(f"events: cannot read {redis_url} ({error})") from None
    return client


def last_stream_id(ids: Iterable[str]) -> str | None:
    """The latest of stream ids ``<ms>-<seq>`` (compared as numbers), ``None`` if none."""
    keys = [tuple(int(part) for part in str(i).split("-", 1)) for i in ids]
    return "-".join(map(str, max(keys))) if keys else None


def file_position(path: Path) -> EventsPosition | None:
    """Where an export (``recsys events export``) ends in the stream: its last
    ``stream_id``; ``None`` for a file without that column (or unreadable: the
    reader then says why, naming the row)."""
    try:
        found = last_stream_id(_column(path, STREAM_ID))
    except (ValueError, OSError, pa.ArrowException):
        return None
    return None if found is None else EventsPosition(stream_id=found)


def _column(path: Path, name: str) -> list[str]:
    """The non-empty values of column ``name`` of an events file ([] without it)."""
    lower = path.name.lower()
    if lower.endswith((".jsonl", ".ndjson")):
        return [str(e[name]) for e in parse_lines(path.read_bytes()) if e.get(name)]
    if lower.endswith((".parquet", ".pq")):
        if name not in pq.read_schema(path).names:
            return []
        return [str(v) for v in pq.read_table(path, columns=[name])[name].to_pylist() if v]
    if name not in pd.read_csv(path, nrows=0).columns:
        return []
    return pd.read_csv(path, usecols=[name], dtype=str)[name].dropna().tolist()


def snapshot_log(log: Path, target: Path) -> EventsPosition:
    """Copy the complete lines of the service's event log (embedded mode) to ``target``
    and say where the copy ends: the service may append while training reads, and
    what it appends after the copy is replayed at start-up, not lost."""
    data = log.read_bytes()
    data = data[: data.rfind(b"\n") + 1]  # a line being written is not read yet
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    last = parse_lines(data[:-1].rpartition(b"\n")[2])
    event_id = str(last[0].get("event_id")) if last else None
    return EventsPosition(log_offset=len(data), log_event_id=event_id)
