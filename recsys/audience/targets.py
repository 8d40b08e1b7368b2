"""What an audience is for: one item, every item of a category, or of a tag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from recsys._sparse import contains
from recsys.catalogue import ItemFilter
from recsys.errors import NotFoundError
from recsys.ranking import HybridRecommender

__all__ = ["Target", "target_columns"]


@dataclass(frozen=True)
class Target:
    """An item id, a category or a catalogue tag."""

    kind: Literal["item", "category", "tag"]
    value: str

    @property
    def missing(self) -> str:
        """What is wrong when no item the model knows matches."""
        if self.kind == "item":
            return f"unknown item {self.value!r}"
        return f"no item the model knows has {self.kind} {self.value!r}"

    @property
    def field(self) -> str:
        """The name of the field that gave it (in errors)."""
        return "item_id" if self.kind == "item" else self.kind


def target_columns(recommender: HybridRecommender, target: Target) -> np.ndarray:
    """The item columns of ``target`` that may be offered now (sorted; an item the
    catalogue marks unavailable has none); a target naming no item the bundle knows:
    :class:`NotFoundError` naming the field."""
    facts = recommender.facts
    if target.kind == "item":
        column = recommender.bundle.data.items.lookup(target.value)
        found = np.array([] if column is None else [column], dtype=np.int64)
    elif target.kind == "category":
        found = np.flatnonzero(facts.categories == target.value)
    else:
        everything = np.arange(len(facts), dtype=np.int64)
        found = everything[facts.allowed(everything, ItemFilter(tags=(target.value,)))]
    if found.size == 0:
        raise NotFoundError(f"{target.field}: {target.missing}")
    return found[~contains(facts.unavailable, found)]
