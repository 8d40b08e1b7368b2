"""Accepted events, durable before the 2xx: an append-only JSON-lines file."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from typing import Any

import orjson

__all__ = ["EventStore", "parse_lines"]


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


def parse_lines(data: bytes) -> list[dict[str, Any]]:
    """JSON lines → events; a torn line (a crash mid-write) is skipped."""
    out = []
    for line in data.splitlines():
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return out
