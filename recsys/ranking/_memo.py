"""Each request's candidates, kept for the next request that differs only in what the
blend filters.

A storefront asks for one client's list in many ways: each block with its own ``k``,
the items shown elsewhere on the page excluded, a category shelf. Each such query is a
cache miss of its own, yet the sources see the same request every time: the client's
history, basket and purchases since training, whether bought items may come back, the
day, the segment and the country (:func:`memo_key`: what the sources and the rules they
fire read, nothing else). Their candidates, the fired rules and the reasons of the items
listed so far are kept under that key in a small LRU (the sources normalise their scores
over all their candidates before anything is blocked, so an item's share, and with it
its reasons, do not depend on the request's filters). The blend, the filters
(exclusions, stock, category, price, tags, ``bought_only``) and the cut to ``k`` still
run per request, so a list is the same with or without the memo. A new bundle, new
analyst rules or an experiment's arm is a new ranking core with an empty memo; new
segments, a retitled item and a deleted client empty it.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

import numpy as np

from recsys.ranking.options import RequestOptions
from recsys.ranking.sources import Query

__all__ = ["Memo", "memo_key", "read_only", "with_options"]

V = TypeVar("V")


class Memo(Generic[V]):
    """A thread-safe LRU of at most ``size`` values (``size`` 0: keeps nothing)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()  # precompute may rank beside the loop

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable) -> V | None:
        """The value kept under ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
            return found

    def put(self, key: Hashable, value: V) -> None:
        """Keep ``value``; the least recently used goes past ``size``."""
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (what the values were computed from changed)."""
        with self._lock:
            self._data.clear()


def memo_key(query: Query) -> Hashable:
    """What the sources read of a request: its client row and item columns (history,
    basket, purchases since training), and of its options whether bought items may
    come back, the day, the segment and the country."""
    o = query.options
    # The dtype with the bytes: equal bytes of int32 and int64 columns are other items.
    items = [(a.dtype.char, a.tobytes()) for a in (query.history, query.basket, query.recent)]
    return (query.row, *items, o.exclude_purchased, o.day, o.segment, o.country)


def with_options(query: Query, options: RequestOptions) -> Query:
    """``query`` (fired rules and all) under another request's ``options``, which
    :func:`memo_key` found the same for the sources."""
    other = copy.copy(query)
    object.__setattr__(other, "options", options)  # frozen: no __post_init__ again
    return other


def read_only(query: Query, candidates: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Mark a kept query's arrays and candidates read-only: a later request writing into
    them would raise, not change an earlier one's list."""
    arrays = [query.history, query.basket, query.recent, query.everything, query.fired_analyst]
    if query.fired_rules is not None:
        arrays.append(query.fired_rules)
    for array in [*arrays, *(a for pair in candidates.values() for a in pair)]:
        array.flags.writeable = False
