"""The degraded answer, cheap enough to give under a flood of misses.

Popularity alone (:attr:`serving.state.Loaded.fallback`) ranked for a client costs
about half of a real list: the blend's machinery runs for one source. Yet its order
is the same for every client of a segment, less what each has bought or must not be
offered. So the cold-start list of each (segment, filters) is ranked once per served
bundle, ``DEPTH`` deeper than asked, and a request only takes out its client's
items (purchases when ``exclude_purchased``, the request's exclusions, held-back
offers) and the items the catalogue no longer offers, by binary search. A client
whose items leave fewer than ``k`` there, and the buy-again shelf, are ranked as a
list is.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from recsys._sparse import contains, gather_rows
from recsys.ranking import HybridRecommender, RankedItem, RequestOptions
from serving.ranked import ClientNow
from serving.state import Loaded

__all__ = ["fallback_items"]

#: Items ranked beyond ``k`` for the clients' own to be taken out.
DEPTH = 60


class _Head(NamedTuple):
    items: list[RankedItem]
    columns: np.ndarray


def fallback_items(
    current: Loaded, who: ClientNow, k: int, options: RequestOptions
) -> list[RankedItem]:
    """Popular items for ``who`` (``options`` as :func:`serving.ranked.client_options`
    made them): the segment's when one is known, its filters and exclusions kept."""
    recommender = current.fallback
    if options.bought_only:
        return recommender.for_client(who.client_id, k, (), options, who.recent)
    head = _head(current, k, options)
    blocked = np.sort(_blocked(recommender, who, options))
    keep = ~contains(blocked, head.columns) & ~contains(recommender.facts.unavailable, head.columns)
    picked = np.flatnonzero(keep)[:k]
    if picked.size < min(k, len(head.items)) or len(head.items) < k:
        return recommender.for_client(who.client_id, k, (), options, who.recent)
    return [head.items[i] for i in picked.tolist()]


def _head(current: Loaded, k: int, options: RequestOptions) -> _Head:
    """The cold-start list of ``options``' segment and filters, ``DEPTH`` deeper than
    ``k``; ranked once per served bundle and catalogue state."""
    heads, recommender = current.fallback_heads, current.fallback
    unavailable = recommender.facts.unavailable  # a new array after each change
    key = (k, replace(options, exclude=(), country=None, out_of_stock=()))
    found = heads.get(key)
    if found is None or found[0] is not unavailable:
        items = recommender.for_client(None, k + DEPTH, (), key[1])
        lookup = recommender.bundle.data.items.lookup
        columns = np.array([lookup(i.item_id) for i in items], dtype=np.int64)
        if len(heads) >= 256:  # many filter combinations: start again
            heads.clear()
        found = heads[key] = (unavailable, _Head(items, columns))
    return found[1]


def _blocked(recommender: HybridRecommender, who: ClientNow, options: RequestOptions) -> np.ndarray:
    """Item columns the client must not be offered here."""
    blocked = [recommender.columns(options.exclude + options.out_of_stock)]
    if options.exclude_purchased:
        row = recommender.bundle.data.clients.lookup(who.client_id) if who.client_id else None
        if row is not None:
            blocked.append(gather_rows(recommender.bundle.data.matrix, np.array([row]))[0])
        blocked.append(recommender.columns(who.recent))
    return np.concatenate(blocked).astype(np.int64)
