"""Accepted events, durable before the 2xx: an append-only JSON-lines file.

In the embedded mode (no Redis) this file is the only record of purchases since the
bundle's training: at start-up :meth:`EventStore.read_after` gives back those the
bundle was not trained on, so a restart does not forget them.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # the bundle (numpy, the models) is not needed to store events
    from recsys.bundle import EventsPosition

__all__ = ["EventStore", "parse_lines"]

#: How far before a recorded offset its line is looked for (longer lines: not found).
_LINE_WINDOW = 1 << 16


class EventStore:
    """Appends batches of events and fsyncs them; ``read_all`` gives them back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = asyncio.Lock()

    def _append(self, events: list[dict[str, Any]]) -> None:
        self.write_lines(b"".join(orjson.dumps(e) + b"\n" for e in events))

    def write_lines(self, payload: bytes) -> None:
        """Append encoded JSON lines and fsync (blocking: call it off the event loop)."""
        with open(self.path, "ab") as sink:
            # Several processes may share the file (workers, replicas on one volume):
            # the lock keeps a batch whole and lets a replay empty it safely.
            fcntl.flock(sink, fcntl.LOCK_EX)
            sink.write(payload)
            sink.flush()
            os.fsync(sink.fileno())

    async def append(self, events: list[dict[str, Any]]) -> None:
        """Write ``events`` durably (one fsync per batch), off the event loop."""
        async with self._lock:
            await asyncio.to_thread(self._append, events)

    def read_all(self) -> list[dict[str, Any]]:
        """Every stored event, oldest first; a torn last line (crash) is skipped."""
        if not self.path.exists():
            return []
        return parse_lines(self.path.read_bytes())

    def read_after(self, position: EventsPosition | None, created_at: str) -> list[dict[str, Any]]:
        """The stored events a bundle was not trained on: those after ``position`` when
        it locates a line of this log; else (a bundle that read no log, or another
        file) those stamped at or after the bundle's ``created_at``."""
        if not self.path.exists():
            return []
        offset = _checked_offset(self.path, position)
        if offset is None:
            since = _instant(created_at)
            return [e for e in self.read_all() if _instant(e.get("timestamp")) >= since]
        with open(self.path, "rb") as log:
            log.seek(offset)
            return parse_lines(log.read())


def _checked_offset(path: Path, position: EventsPosition | None) -> int | None:
    """``position``'s offset if the line just before it in ``path`` is the one the
    bundle last read (same ``event_id``), else ``None``."""
    if position is None or position.log_offset is None:
        return None
    offset = position.log_offset
    if offset == 0 and position.log_event_id is None:
        return 0  # the bundle read the log empty: everything in it came after
    if position.log_event_id is None:
        return None
    if not 0 < offset <= path.stat().st_size:
        return None
    with open(path, "rb") as log:
        log.seek(max(0, offset - _LINE_WINDOW))
        before = log.read(min(offset, _LINE_WINDOW))
    last = parse_lines(before[:-1].rpartition(b"\n")[2]) if before.endswith(b"\n") else []
    found = bool(last) and str(last[0].get("event_id")) == position.log_event_id
    return offset if found else None


def _instant(stamp: object) -> datetime:
    """An ISO 8601 time as an aware UTC instant (naive: UTC); unreadable: the latest
    (such an event counts as recent: better not to re-offer what may be bought)."""
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_lines(data: bytes) -> list[dict[str, Any]]:
    """JSON lines → events; a torn line (a crash mid-write) is skipped."""
    out = []
    for line in data.splitlines():
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return out
