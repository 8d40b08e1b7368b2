"""The service's accepted events, read back from the Redis Stream every replica writes.

Offline jobs see every replica's events this way. Entries are deduplicated by
``event_id`` (a batch replayed after a Redis outage, or retried by a client with the
same ids, counts once). Trimming is explicit: only what was exported, only when asked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import redis

from recsys.data import write_table
from recsys.errors import ConfigError
from recsys.privacy import client_hash
from serving.privacy import FORGET, TOMBSTONE_SET
from serving.stream import FIELD

__all__ = ["Exported", "export_stream", "read_stream", "read_tombstone_set"]


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
        rows += [orjson.loads(fields[FIELD]) for _, fields in batch]
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
