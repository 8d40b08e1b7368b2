"""What the blend knows about each item column besides the models' scores.

Titles, categories, prices and tags (learnt from events, the catalogue winning where
it says something) and the columns that may not be offered now. Filters read them
at a request's candidates only, never over the whole catalogue.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from recsys._sparse import contains
from recsys.catalogue._catalogue import Catalogue
from recsys.catalogue._item import CatalogueItem

__all__ = ["ItemFacts", "ItemFilter"]

_NONE = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class ItemFilter:
    """A request's filters on item facts (all given ones must hold)."""

    categories: tuple[str, ...] = ()
    """Any of these categories."""
    price_min: float | None = None
    """At least this price (items without a known price fail a price filter)."""
    price_max: float | None = None
    """At most this price."""
    tags: tuple[str, ...] = ()
    """At least one of these tags."""

    def __bool__(self) -> bool:
        return (
            bool(self.categories or self.tags)
            or self.price_min is not None
            or (self.price_max is not None)
        )


class ItemFacts:
    """Per-column facts of one id list, kept in step with a :class:`Catalogue`."""

    def __init__(self, ids: Sequence[str], titles: Sequence[str], categories: Sequence[str]):
        self.ids = list(ids)
        self.titles = [str(t) for t in titles]
        # The same list objects are read by the sources' reasons: updated in place.
        self.labels = [t or i for t, i in zip(self.titles, self.ids, strict=True)]
        self.categories = np.array([str(c) for c in categories], dtype=object)
        self.prices = np.full(len(self.ids), np.nan)
        self.unavailable = _NONE
        """Sorted columns that may not be offered now."""
        self.seq = -1  # the catalogue change these facts reflect (-1: none applied)
        self.valid_until = float("inf")  # when the clock alone changes availability
        self._index = {item: column for column, item in enumerate(self.ids)}
        self.unknown: set[str] = set()
        """Catalogue ids without a column here (new items, for a bundle's facts)."""
        self.newest: dict[str, list[tuple[float, str]]] = {}
        """Per category, the unknown items as (-added_at, id), newest first."""
        self._filed: dict[str, tuple[str, tuple[float, str]]] = {}
        self._tags: dict[str, set[int]] = {}
        self._tag_arrays: dict[str, np.ndarray] = {}
        self._column_tags: dict[int, tuple[str, ...]] = {}
        self.relabelled: Callable[[], None] = lambda: None
        """Called after titles change (sources drop sentences built from old ones)."""

    def __len__(self) -> int:
        return len(self.ids)

    def column(self, item_id: str) -> int | None:
        """The column of ``item_id``, or ``None``."""
        return self._index.get(item_id)

    def allowed(self, items: np.ndarray, wanted: ItemFilter) -> np.ndarray:
        """Mask over the candidate ``items`` (columns) meeting ``wanted``."""
        keep = np.ones(items.shape, dtype=bool)
        if wanted.categories:
            keep &= np.isin(self.categories[items], wanted.categories)
        if wanted.price_min is not None:
            keep &= self.prices[items] >= wanted.price_min  # NaN (unknown) fails
        if wanted.price_max is not None:
            keep &= self.prices[items] <= wanted.price_max
        if wanted.tags:
            keep &= contains(self._tagged(wanted.tags), items)
        return keep

    def sync(self, catalogue: Catalogue, now: datetime) -> None:
        """Apply what changed in ``catalogue`` since the last sync, and recompute the
        unavailable columns (also when the clock passed an availability boundary)."""
        if self.seq == catalogue.seq and now.timestamp() < self.valid_until:
            return
        changed = catalogue.changed_since(self.seq) if self.seq >= 0 else None
        ids = catalogue.items.keys() if changed is None else set(changed)
        for item_id in (i for i in ids if i not in self._index):
            self._file_new(catalogue.items[item_id])
        described = [self.describe(catalogue.items[i]) for i in ids if i in self._index]
        if any(described):
            self.relabelled()
        found = (self._index.get(i) for i in catalogue.unsellable(now))
        self.unavailable = np.unique(np.fromiter((c for c in found if c is not None), np.int64))
        self.seq, self.valid_until = catalogue.seq, catalogue.next_transition(now)

    def _file_new(self, item: CatalogueItem) -> None:
        """Index an item without a column under its category, newest first."""
        self.unknown.add(item.item_id)
        old = self._filed.pop(item.item_id, None)
        if old is not None:
            self.newest[old[0]].remove(old[1])
        if item.category is not None:
            key = (-(item.added_at.timestamp() if item.added_at else 0.0), item.item_id)
            bisect.insort(self.newest.setdefault(item.category, []), key)
            self._filed[item.item_id] = (item.category, key)

    def describe(self, item: CatalogueItem) -> bool:
        """Take the catalogue's title, category, price and tags of one known item;
        whether its title changed."""
        column = self._index[item.item_id]
        retitled = item.title is not None and item.title != self.titles[column]
        if retitled:
            self.titles[column] = self.labels[column] = str(item.title)
        if item.category is not None:
            self.categories[column] = item.category
        self.prices[column] = np.nan if item.price is None else item.price
        self._retag(column, item.tags)
        return retitled

    def _retag(self, column: int, tags: tuple[str, ...]) -> None:
        old = self._column_tags.pop(column, ())
        for tag in set(old) ^ set(tags):
            members = self._tags.setdefault(tag, set())
            (members.add if tag in tags else members.discard)(column)
            self._tag_arrays.pop(tag, None)
        if tags:
            self._column_tags[column] = tags

    def tags_of(self, column: int) -> tuple[str, ...]:
        """The catalogue's tags of one column."""
        return self._column_tags.get(column, ())

    def _tagged(self, tags: tuple[str, ...]) -> np.ndarray:
        """Sorted columns carrying any of ``tags`` (per-tag arrays cached)."""
        parts = []
        for tag in tags:
            if tag not in self._tag_arrays:
                self._tag_arrays[tag] = np.array(sorted(self._tags.get(tag, ())), dtype=np.int64)
            parts.append(self._tag_arrays[tag])
        return np.unique(np.concatenate(parts)) if len(parts) > 1 else parts[0]
