"""Items the catalogue has and the last training did not see.

Until a training includes them, no model scores them, so they are reached by what
the catalogue says: ``related`` by shared category, tags and title words (each
weighted, rarer words more), and a "new arrivals" slot in client lists with the
newest available items of the client's favourite categories (those bought since
arriving first).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from datetime import datetime
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from recsys.catalogue import Catalogue, CatalogueItem, ItemFacts, ItemFilter
from recsys.errors import NotFoundError
from recsys.ranking._core import BlendCore, RankedItem
from recsys.ranking.explain import Reason

__all__ = ["NewItems", "arrivals", "favourite_categories", "with_arrivals"]

_WORD = re.compile(r"[^\W\d_]{3,}")
#: Weight of a shared category, of each shared tag, and the most a shared word adds.
WEIGHTS = {"c": 1.0, "t": 0.5, "w": 0.25}


class NewItems:
    """Content neighbours and new arrivals over the bundle's items plus the catalogue's
    new ones (columns from ``len(bundle items)`` on)."""

    def __init__(self, core: BlendCore, catalogue: Catalogue, now: datetime) -> None:
        known = core.facts
        self.n_known = len(known)
        extra = [i for i in catalogue.items if known.column(i) is None]
        self.facts = ItemFacts(
            [*known.ids, *extra],
            [*known.titles, *[""] * len(extra)],
            [*known.categories.tolist(), *[""] * len(extra)],
        )
        self.facts.sync(catalogue, now)
        self.catalogue, self.seq = catalogue, catalogue.seq
        self.buyers = np.concatenate([core.buyers, np.zeros(len(extra))]).astype(np.float64)

    @cached_property
    def _content(self) -> tuple[sp.csr_matrix, list[str], sp.csr_matrix]:
        return _content(self.facts)

    def related(
        self, item_id: str, k: int, only: ItemFilter, bought: Mapping[str, int]
    ) -> list[RankedItem]:
        """Items sharing category, tags or title words with a new item, with the reason."""
        column = self.facts.column(item_id)
        if column is None:
            raise NotFoundError(f"item_id: unknown item {item_id!r}")
        features, _, weights = self._content
        mine = features[column]
        scores = np.asarray(features @ (mine.multiply(weights)).T.toarray()).ravel()
        keep = scores > 0
        keep[column] = False
        keep[self.facts.unavailable] = False
        candidates = np.flatnonzero(keep)
        if only:
            candidates = candidates[self.facts.allowed(candidates, only)]
        popularity = self._popularity(bought)[candidates]
        order = np.lexsort((candidates, -popularity, -scores[candidates]))[:k]
        return [self._related_item(column, int(c), float(scores[c])) for c in candidates[order]]

    def _popularity(self, bought: Mapping[str, int]) -> np.ndarray:
        out = self.buyers.copy()
        for item, count in bought.items():  # purchases since training count at once
            column = self.facts.column(item)
            if column is not None and column >= self.n_known:
                out[column] += count
        return out

    def _related_item(self, anchor: int, column: int, score: float) -> RankedItem:
        features, names, _ = self._content
        shared = set(features[anchor].indices) & set(features[column].indices)
        said = {kind: sorted(n[2:] for f in shared if (n := names[f])[0] == kind) for kind in "ctw"}
        parts = []
        if said["c"]:
            parts.append(f"same category ({said['c'][0]})")
        if said["t"]:
            parts.append("shares tags " + ", ".join(said["t"]))
        if said["w"]:
            parts.append("similar title (" + ", ".join(said["w"]) + ")")
        anchor_label = self.facts.labels[anchor]
        text = f"Like {anchor_label}: " + "; ".join(parts)
        evidence = {
            "item_id": self.facts.ids[anchor],
            "category": said["c"][:1],
            "tags": said["t"],
            "words": said["w"],
        }
        reason = Reason("content", text, evidence)
        return RankedItem(self.facts.ids[column], self.facts.titles[column], score, [reason])


def _content(facts: ItemFacts) -> tuple[sp.csr_matrix, list[str], sp.csr_matrix]:
    """Items × features (category, tags, title words), binary; the feature names; and
    one row of feature weights (a word's weight falls with how many items have it)."""
    vocabulary: dict[str, int] = {}
    rows: list[int] = []
    columns: list[int] = []
    for column, (title, category) in enumerate(
        zip(facts.titles, facts.categories.tolist(), strict=True)
    ):
        names = {f"w:{w}" for w in _WORD.findall(title.lower())}
        if category:
            names.add(f"c:{category}")
        names.update(f"t:{t}" for t in facts.tags_of(column))
        for name in names:
            rows.append(column)
            columns.append(vocabulary.setdefault(name, len(vocabulary)))
    shape = (len(facts), len(vocabulary))
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=shape)
    features = list(vocabulary)
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    span = math.log(max(len(facts), 2))
    weights = np.array([WEIGHTS[n[0]] for n in features]) if features else np.zeros(0)
    words = np.array([n[0] == "w" for n in features], dtype=bool)
    weights[words] *= np.log(len(facts) / np.maximum(counts[words], 1)) / span
    return matrix, features, sp.csr_matrix(weights.astype(np.float32)[None, :])


def favourite_categories(categories: np.ndarray, history: np.ndarray, top: int = 2) -> list[str]:
    """The ``top`` categories most present in a client's history (columns)."""
    found = categories[history]
    found = found[found != ""]
    if found.size == 0:
        return []
    names, counts = np.unique(found.astype(str), return_counts=True)
    return names[np.argsort(-counts, kind="stable")[:top]].tolist()


def with_arrivals(
    items: list[RankedItem], arrivals: list[RankedItem], k: int, slots: int
) -> list[RankedItem]:
    """``items`` with up to ``slots`` of its last places given to ``arrivals`` (scored as
    the item before them, so scores stay non-increasing)."""
    listed = {i.item_id for i in items}
    fresh = [a for a in arrivals if a.item_id not in listed][:slots]
    if not fresh:
        return items[:k]
    kept = items[: k - len(fresh)]
    score = kept[-1].score if kept else 0.0
    return kept + [RankedItem(a.item_id, a.title, score, a.reasons) for a in fresh]


def arrivals(
    catalogue: Catalogue,
    facts: ItemFacts,
    favourites: list[str],
    n: int,
    bought: Mapping[str, int],
    now: datetime,
) -> list[RankedItem]:
    """Up to ``n`` of the newest available catalogue items unknown to the bundle
    (``facts``) in the ``favourites`` categories, newest first."""
    found: list[tuple[float, str]] = []
    for category in favourites:
        filed = facts.newest.get(category, [])
        kept = (key for key in filed if catalogue.items[key[1]].sellable(now))
        found += itertools.islice(kept, n)  # newest first: the first n available suffice
    return [_arrival(catalogue.items[i], bought.get(i, 0)) for _, i in sorted(found)[:n]]


def _arrival(item: CatalogueItem, bought: int) -> RankedItem:
    text = f"New in {item.category}, a category this client buys often"
    if bought:
        text += f"; bought by {bought} since it arrived"
    added = item.added_at.isoformat() if item.added_at else None
    evidence = {"category": item.category, "added_at": added, "bought_since": bought}
    reason = Reason("new_arrivals", text, evidence)
    return RankedItem(item.item_id, item.title or item.item_id, 0.0, [reason])
