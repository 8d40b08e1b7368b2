"""Manager outcomes, stored and shared: what the next lists hold back.

Embedded: an fsynced JSON-lines log (``RECSYS_OUTCOMES_PATH``) read back at start.
With Redis: a stream every replica follows from its start (outcomes are few), so a
decline recorded anywhere holds the item back everywhere. Each outcome carries an
id, so the replica that recorded it does not count it twice when it comes back on
the stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson

from recsys.feedback import Outcome, OutcomeBook
from serving.event_store import EventStore
from serving.stream import FIELD, follow

__all__ = ["OUTCOMES_STREAM", "OutcomeState"]

log = logging.getLogger("recsys.serving")

#: The Redis stream of outcomes.
OUTCOMES_STREAM = "recsys:outcomes"


class OutcomeState:
    """The outcome book of this process, its store, and the clock cool-downs are read by."""

    def __init__(
        self, path: Path, redis: Any, cooldown: timedelta, today: date | None = None
    ) -> None:
        self.file, self.redis = EventStore(path), redis
        self.book = OutcomeBook(cooldown)
        self.clock: Callable[[], datetime] = lambda: _on(today, datetime.now(UTC))
        """Now on the service's day (``today``: the pinned ``RECSYS_TODAY``, at the real
        time of day), so a record's time, its cool-down and a postponement's day are
        judged on the day every list is; tests set their own."""
        self._seen: set[str] = set()

    async def open(self) -> None:
        """Embedded: read the log back (with Redis the follower replays the stream)."""
        if self.redis is None:
            for record in await asyncio.to_thread(self.file.read_all):
                self._apply(record)

    async def follow(self, changed: Callable[[str], Any]) -> None:
        """Apply every replica's outcomes, the whole stream first; ``changed(client)``
        after each one recorded elsewhere (to drop that client's lists)."""

        async def apply(record: dict[str, Any]) -> None:
            if self._apply(record):
                await changed(str(record["outcome"]["client_id"]))

        await follow(self.redis, OUTCOMES_STREAM, apply, "0-0")

    async def record(self, outcome: Outcome) -> None:
        """Store ``outcome`` durably, then count it here."""
        record = {"id": uuid4().hex, "outcome": outcome.model_dump(mode="json")}
        if self.redis is None:
            await self.file.append([record])
        else:
            await self.redis.xadd(OUTCOMES_STREAM, {FIELD: orjson.dumps(record)})
        self._apply(record)

    def replay(self, records: Iterable[dict[str, Any]]) -> None:
        """Count stored outcomes read elsewhere (``recsys precompute`` reads the stream)."""
        for record in records:
            self._apply(record)

    def _apply(self, record: dict[str, Any]) -> bool:
        """Count one stored outcome once; whether it was new here."""
        if record["id"] in self._seen:
            return False
        self._seen.add(record["id"])
        self.book.record(Outcome.model_validate(record["outcome"]))
        return True

    def held_back(self, client_id: str | None) -> tuple[str, ...]:
        """Items not to offer ``client_id`` now (declined in the cool-down, postponed)."""
        if client_id is None:
            return ()
        return self.book.blocked(client_id, self.clock())


def _on(day: date | None, now: datetime) -> datetime:
    """``now`` moved to ``day`` (its time of day kept); ``now`` when no day is pinned."""
    return now if day is None else datetime.combine(day, now.timetz())
