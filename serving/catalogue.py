"""The catalogue every replica sees: stored, shared, and applied to the served bundle.

Embedded (no Redis): a JSON-lines change log (``RECSYS_CATALOGUE_PATH``, fsynced
before the 2xx) replayed at start. With Redis: a hash of the current items, a
counter numbering changes and a stream of the changes, written together by one
Lua script; every replica loads the hash and follows the stream, as it follows
events (:func:`serving.stream.follow`). Change numbers are global, so a list cached
by one replica is checked against changes another applied.

Requests call :meth:`CatalogueState.facts_for` (cheap when nothing changed): the
served recommender's titles, categories, prices, tags and unavailable items are
brought up to date on the event loop before ranking.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import redis
from redis.exceptions import RedisError

from recsys.catalogue import Catalogue, CatalogueItem
from recsys.ranking import HybridRecommender
from recsys.ranking.new_items import NewItems
from serving.impressions import listed_ids
from serving.stream import follow

__all__ = ["HASH", "STAMP", "CatalogueState", "store_items", "stored_catalogue"]

log = logging.getLogger("recsys.serving")

HASH, SEQ, STREAM = "recsys:catalogue", "recsys:catalogue:seq", "recsys:catalogue:changes"
#: Upsert items atomically: each gets the next change number, is stored, and is
#: announced on the stream (ARGV: item id, item JSON, pairs repeated).
_WRITE = """
local out = {}
for i = 1, #ARGV, 2 do
  local seq = redis.call('INCR', KEYS[2])
  local record = '{"seq":' .. seq .. ',"item":' .. ARGV[i + 1] .. '}'
  redis.call('HSET', KEYS[1], ARGV[i], record)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'e', record)
  out[#out + 1] = seq
end
return out
"""
#: First byte of a stored list; then the change number, clock and length of the
#: item ids (``<qdI``), the ids, and the response bytes.
STAMP = b"S"
_STAMP = struct.Struct("<qdI")
#: New-item neighbours are rebuilt at most this often while the catalogue changes.
REBUILD_SECONDS = 2.0


class CatalogueState:
    """The catalogue in memory, its store, and the service's clock: the now that
    availability is read by, and the day (:meth:`today`) every ranking reads."""

    def __init__(self, path: Path, redis: Any = None, today: date | None = None) -> None:
        self.path, self.redis = path, redis
        self.catalogue = Catalogue()
        self.clock: Callable[[], datetime] = _now
        """Now (UTC); tests set their own."""
        self.pinned = today
        """The day pinned by the settings (``RECSYS_TODAY``), if any."""
        self._script = redis.register_script(_WRITE) if redis is not None else None
        self._new: tuple[int, int, float, NewItems] | None = None

    def today(self) -> date:
        """The service's day: the pinned one, else the clock's (UTC) date; the clock of
        every recommender the service builds (repeats, analyst rules, experiments)."""
        return self.pinned if self.pinned is not None else self.clock().date()

    async def open(self) -> str:
        """Read the stored catalogue; the stream id to follow changes from ("" when
        Redis could not be read: the follower loads it once Redis answers)."""
        if self.redis is None:
            lines = await asyncio.to_thread(_lines, self.path)
            for line in lines:
                self._apply(orjson.loads(line))
            return ""
        try:
            return await self._load_shared()
        except (RedisError, OSError) as error:
            log.warning("catalogue not read from Redis yet (%s): retried in the background", error)
            return ""

    async def _load_shared(self) -> str:
        """The last change id first, then every stored item (changes written in
        between are replayed by the follower: upserts are idempotent)."""
        last = await self.redis.xrevrange(STREAM, count=1)
        start = last[0][0].decode() if last else "0-0"
        for record in (await self.redis.hgetall(HASH)).values():
            self._apply(orjson.loads(record))
        return start

    async def follow(self, start: str) -> None:
        """Apply every replica's catalogue changes as they are written (Redis)."""

        async def apply(record: dict[str, Any]) -> None:
            self._apply(record)

        while not start:  # Redis was down at start: load once it answers
            await asyncio.sleep(1.0)
            start = await self.open()
        await follow(self.redis, STREAM, apply, start, block_ms=1000)

    def mark(self) -> tuple[int, float]:
        """The change number and clock now: what a list ranked from here on is stamped
        with (:meth:`stamp`), when it is stored later."""
        return self.catalogue.seq, self.clock().timestamp()

    def stamp(self, listed: bytes, at: tuple[int, float] | None = None) -> bytes:
        """The prefix of a stored list: the change number and clock it was computed
        under (``at``: when its ranking began, default now), and its items
        (:func:`serving.impressions.listed`), so a read checks those items only and
        logs what it showed."""
        seq, now = at or self.mark()
        return STAMP + _STAMP.pack(seq, now, len(listed)) + listed

    def fresh(self, stored: bytes) -> tuple[bytes, bytes] | None:
        """The items and body of a stamped list, or ``None`` when one of its items
        changed after it was computed or saw its window close since (then it is
        computed again). One lookup per listed item at most, however busy the
        catalogue is; none when nothing changed."""
        seq, computed_at, size = _STAMP.unpack_from(stored, 1)
        start = 1 + _STAMP.size
        listed, body = stored[start : start + size], stored[start + size :]
        if self.catalogue.seq <= seq and not self.catalogue.windows:
            return listed, body  # nothing changed since, and no window to close
        # time.time() unless a test set the clock: datetime.now() costs 10× more here.
        now = time.time() if self.clock is _now else self.clock().timestamp()
        if self.catalogue.seq <= seq and not self.catalogue.ends_between(computed_at, now):
            return listed, body
        touched = self.catalogue.touched(listed_ids(listed), seq, computed_at, now)
        return None if touched else (listed, body)

    def _apply(self, record: dict[str, Any]) -> None:
        self.catalogue.apply(CatalogueItem.model_validate(record["item"]), int(record["seq"]))

    async def upsert(self, items: list[CatalogueItem]) -> None:
        """Store ``items`` durably, then apply them here (other replicas follow)."""
        now = self.clock()
        stamped = [_stamped(item, self.catalogue.items.get(item.item_id), now) for item in items]
        if self._script is not None:
            args = [a for item in stamped for a in (item.item_id, item.model_dump_json())]
            seqs = await self._script(keys=[HASH, SEQ, STREAM], args=args)
        else:
            seqs = list(range(self.catalogue.seq + 1, self.catalogue.seq + 1 + len(stamped)))
            lines = [_record(s, i) for s, i in zip(seqs, stamped, strict=True)]
            await asyncio.to_thread(_append, self.path, lines)
        for seq, item in zip(seqs, stamped, strict=True):
            self.catalogue.apply(item, int(seq))

    async def delete(self, item_id: str) -> CatalogueItem:
        """Mark an item discontinued (kept, so every list knows to leave it out)."""
        known = self.catalogue.items.get(item_id) or CatalogueItem(item_id=item_id)
        gone = known.model_copy(update={"deleted": True})
        await self.upsert([gone])
        return gone

    def facts_for(self, recommender: HybridRecommender) -> None:
        """Bring the recommender's item facts up to the catalogue and the clock."""
        if len(self.catalogue) or recommender.facts.seq >= 0:
            recommender.facts.sync(self.catalogue, self.clock())

    def new_items(self, recommender: HybridRecommender) -> NewItems:
        """Content neighbours over the bundle and the catalogue's new items (rebuilt
        when the catalogue changed, at most every :data:`REBUILD_SECONDS`)."""
        cached = self._new
        now = time.monotonic()
        if (
            cached is None
            or cached[0] != id(recommender)
            or (cached[1] != self.catalogue.seq and now - cached[2] > REBUILD_SECONDS)
        ):
            self.facts_for(recommender)
            built = NewItems(recommender, self.catalogue, self.clock())
            self._new = cached = (id(recommender), self.catalogue.seq, now, built)
        return cached[3]


def _now() -> datetime:
    return datetime.now(UTC)


def _stamped(item: CatalogueItem, known: CatalogueItem | None, now: datetime) -> CatalogueItem:
    """``item`` with ``added_at``: when the catalogue first knew it."""
    added = known.added_at if known is not None and known.added_at else now
    return item.model_copy(update={"added_at": item.added_at or added})


def _append(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(b"".join(line + b"\n" for line in lines))
        handle.flush()
        os.fsync(handle.fileno())


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


def stored_catalogue(path: Path, redis_url: str | None) -> Catalogue:
    """The stored catalogue, read once (precompute, the CLI): Redis when given, else
    the local change log."""
    catalogue = Catalogue()
    if redis_url is None:
        records = [orjson.loads(line) for line in _lines(path)]
    else:
        client = redis.Redis.from_url(redis_url)
        records = [orjson.loads(r) for r in client.hgetall(HASH).values()]
        client.close()
    for record in sorted(records, key=lambda r: int(r["seq"])):
        catalogue.apply(CatalogueItem.model_validate(record["item"]), int(record["seq"]))
    return catalogue


def store_items(
    items: list[CatalogueItem], path: Path, redis_url: str | None, chunk: int = 1000
) -> int:
    """Upsert ``items`` into the stored catalogue (``recsys catalogue import``), as the
    API would: Redis (every replica follows) or the local change log. How many."""
    known = stored_catalogue(path, redis_url)
    now = datetime.now(UTC)
    stamped = [_stamped(item, known.items.get(item.item_id), now) for item in items]
    if redis_url is None:
        seqs = range(known.seq + 1, known.seq + 1 + len(stamped))
        _append(path, [_record(s, i) for s, i in zip(seqs, stamped, strict=True)])
        return len(stamped)
    client = redis.Redis.from_url(redis_url)
    script = client.register_script(_WRITE)
    for start in range(0, len(stamped), chunk):
        part = stamped[start : start + chunk]
        script(
            keys=[HASH, SEQ, STREAM],
            args=[a for i in part for a in (i.item_id, i.model_dump_json())],
        )
    client.close()
    return len(stamped)


def _record(seq: int, item: CatalogueItem) -> bytes:
    return orjson.dumps({"seq": seq, "item": item.model_dump(mode="json")})
