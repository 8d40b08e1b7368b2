"""The catalogue in memory: items by id, a numbered change log, and the schedule.

Every change gets a sequence number (global when the store is shared, see
``serving.catalogue``). Cached lists record the number and clock they were computed
under and their items, so a reader asks :meth:`Catalogue.touched` whether one of
those items changed after, or saw its window close since: only then is the list
computed again. Item facts follow :meth:`Catalogue.changed_since`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import datetime

from recsys.catalogue._item import CatalogueItem

__all__ = ["Catalogue"]

#: Changes kept for :meth:`Catalogue.changed_since`; older readers see "unknown".
LOG_SIZE = 20_000


class Catalogue:
    """Items by id, with what changed when. Not thread-safe: one event loop applies
    changes and reads them."""

    def __init__(self, items: Iterable[CatalogueItem] = ()) -> None:
        self.items: dict[str, CatalogueItem] = {}
        self.seq = 0
        self._log_seq: list[int] = []
        self._log_ids: list[str] = []
        self._off: set[str] = set()  # out of stock or deleted
        self._windowed: set[str] = set()  # with available_from/until
        self._ends: list[float] = []  # every available_until given (Unix s), sorted
        self._last: dict[str, int] = {}  # the latest change of each item
        for item in items:
            self.apply(item)

    def __len__(self) -> int:
        return len(self.items)

    def apply(self, item: CatalogueItem, seq: int | None = None) -> int:
        """Upsert ``item`` (a deletion is an item with ``deleted``) as change ``seq``
        (the next number when ``None``); the number it got."""
        seq = self.seq + 1 if seq is None else seq
        self.items[item.item_id] = item
        _mark(self._off, item.item_id, item.deleted or not item.available)
        windowed = item.available_from is not None or item.available_until is not None
        _mark(self._windowed, item.item_id, windowed)
        if item.available_until is not None:
            bisect.insort(self._ends, item.available_until.timestamp())
        self.seq = max(self.seq, seq)
        self._last[item.item_id] = seq
        self._log_seq.append(seq)
        self._log_ids.append(item.item_id)
        if len(self._log_seq) > 2 * LOG_SIZE:  # amortised trim
            del self._log_seq[:-LOG_SIZE], self._log_ids[:-LOG_SIZE]
        return seq

    def changed_since(self, seq: int) -> list[str] | None:
        """Ids changed after change ``seq``; ``None`` when the log no longer reaches back."""
        if seq >= self.seq:
            return []
        if self._log_seq and seq + 1 < self._log_seq[0]:
            return None
        start = bisect.bisect_right(self._log_seq, seq)
        return self._log_ids[start:]

    @property
    def windows(self) -> bool:
        """Whether any item has an ``available_until`` (the clock can hide items)."""
        return bool(self._ends)

    def ends_between(self, start: float, end: float) -> bool:
        """Whether any ``available_until`` lies in ``(start, end]`` (Unix seconds)."""
        at = bisect.bisect_right(self._ends, start)
        return at < len(self._ends) and self._ends[at] <= end

    def touched(self, ids: list[str], seq: int, start: float, end: float) -> bool:
        """Whether one of ``ids`` changed after change ``seq``, or its window closed in
        ``(start, end]``: what makes a list computed then stale."""
        for item_id in ids:
            if self._last.get(item_id, 0) > seq:
                return True
            item = self.items.get(item_id)
            until = item.available_until if item is not None else None
            if until is not None and start < until.timestamp() <= end:
                return True
        return False

    def unsellable(self, now: datetime) -> list[str]:
        """Ids that may not be offered at ``now``."""
        windowed = (i for i in self._windowed if not self.items[i].sellable(now))
        return sorted(self._off.union(windowed))

    def next_transition(self, now: datetime) -> float:
        """When the sellable set next changes by the clock alone (Unix s; inf: never)."""
        moments = (
            m.timestamp()
            for i in self._windowed
            for m in (self.items[i].available_from, self.items[i].available_until)
            if m is not None and m > now
        )
        return min(moments, default=float("inf"))


def _mark(members: set[str], item: str, present: bool) -> None:
    if present:
        members.add(item)
    else:
        members.discard(item)
