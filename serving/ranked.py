"""What a client's list is ranked with, and precomputed lists as their ranking only.

A list depends on more than the bundle and the query: the client's purchases since
training, the offers they declined or postponed, their segment and country, and
the catalogue's new arrivals. :func:`client_now`, :func:`client_options` and
:func:`rank_list` decide that once, for a request (:mod:`serving.lists`) and for
``recsys precompute`` alike, so a stored list is what a request computes.

A stored list of 10 with its reasons is ~8 KB of JSON (1.5 KB compressed): the
reasons repeat item titles and rule metrics the bundle already holds. So
precompute stores what the batched ranking decided (items, scores, each source's
share, the request's segment and country: ~300 bytes compressed) and a read
renders the reasons from the bundle, as a request would (~0.4 ms instead of the
~1.2 ms of ranking too), and fills the new-arrivals slots then. The key carries
the bundle version, so a stored ranking is always read with the bundle that made
it. Clients with purchases or held-back offers since training are stored as a
request stores them (their ranking folds those in).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import orjson

from recsys._sparse import contains
from recsys.catalogue import Catalogue
from recsys.ranking import HybridRecommender, RankedItem, RequestOptions, new_items
from recsys.ranking.blend import Blended
from serving.outcomes import OutcomeState
from serving.state import Loaded, ServiceState

__all__ = [
    "MARK",
    "Arrivals",
    "ClientNow",
    "Stored",
    "client_now",
    "client_options",
    "explain",
    "fill_arrivals",
    "pack_ranking",
    "rank_list",
    "unpack",
]

#: The first byte of a stored ranking (response bytes start with ``{``).
MARK = b"R"


class ClientNow(NamedTuple):
    """What has happened to a client since the bundle was trained, as lists use it."""

    client_id: str | None
    """The id, or ``None`` for a deleted client (ranked as cold start)."""
    recent: tuple[str, ...] = ()
    """Purchases since training, sorted."""
    held_back: tuple[str, ...] = ()
    """Offers declined in the cool-down, or postponed."""

    @property
    def eventful(self) -> bool:
        """Whether anything since training changes the client's list."""
        return bool(self.recent or self.held_back)


def client_now(state: ServiceState, outcomes: OutcomeState, client_id: str | None) -> ClientNow:
    """``client_id``'s fresh purchases and held-back offers (nothing once deleted)."""
    if client_id is None or state.is_forgotten(client_id):
        return ClientNow(None)
    recent = tuple(sorted(state.recent.get(client_id, ())))
    return ClientNow(client_id, recent, outcomes.held_back(client_id))


def client_options(
    options: RequestOptions, who: ClientNow, profile: Mapping[str, Any]
) -> RequestOptions:
    """The options a client's list is ranked with: the request's, the client's held-back
    offers left out, and the segment and country analyst rules may target."""
    return replace(
        options,
        exclude=options.exclude + who.held_back,
        segment=profile.get("segment"),
        country=profile.get("favourite_country"),
    )


@dataclass(frozen=True)
class Arrivals:
    """What the new-arrivals slots are filled from."""

    slots: int
    catalogue: Catalogue
    bought_since: Mapping[str, int]
    """Purchases per item since training (a new item's popularity)."""
    now: datetime


def rank_list(
    recommender: HybridRecommender,
    who: ClientNow,
    k: int,
    options: RequestOptions,
    arrivals: Arrivals,
) -> list[RankedItem]:
    """A client's list as a request ranks it (``options`` from :func:`client_options`):
    fresh purchases count as history, then the new-arrivals slots are filled."""
    items = recommender.for_client(who.client_id, k, (), options, who.recent)
    if options.only or options.bought_only:  # a filtered list, or the buy-again shelf,
        return items  # holds what it asks for, no more
    return fill_arrivals(recommender, who, items, k, arrivals)


def fill_arrivals(
    recommender: HybridRecommender,
    who: ClientNow,
    items: list[RankedItem],
    k: int,
    arrivals: Arrivals,
) -> list[RankedItem]:
    """``items`` with the new-arrivals slots filled (new catalogue items of the
    client's favourite categories), when there are any."""
    if not arrivals.slots or not recommender.facts.unknown:
        return items
    favourites = recommender.favourite_categories(who.client_id, who.recent)
    if not favourites:
        return items
    a = arrivals
    found = new_items.arrivals(
        a.catalogue, recommender.facts, favourites, a.slots, a.bought_since, a.now
    )
    fresh = [i for i in found if i.item_id not in who.recent]
    return new_items.with_arrivals(items, fresh, k, a.slots)


def pack_ranking(client_id: str, ranked: Blended, k: int, options: RequestOptions) -> bytes:
    """One client's row of a batched ranking (a batch of one) for ``?k=<k>``, compressed."""
    record = {
        "client": client_id,
        "k": k,
        "items": ranked.items[0].tolist(),
        "scores": ranked.scores[0].tolist(),
        "parts": {name: part[0].tolist() for name, part in ranked.parts.items()},
        "segment": options.segment,
        "country": options.country,
    }
    return MARK + zlib.compress(orjson.dumps(record), 6)


class Stored(NamedTuple):
    """A stored ranking, read back."""

    client: str
    k: int
    segment: str | None
    country: str | None
    ranked: Blended


def unpack(stored: bytes) -> Stored | None:
    """A stored ranking; ``None`` for one an older version wrote (no ``k``)."""
    record = orjson.loads(zlib.decompress(stored[len(MARK) :]))
    if "k" not in record:
        return None
    parts = {name: np.array([values]) for name, values in record["parts"].items()}
    scores = np.array([record["scores"]], dtype=np.float32)
    ranked = Blended(np.array([record["items"]], dtype=np.int64), scores, parts)
    return Stored(record["client"], record["k"], record["segment"], record["country"], ranked)


def explain(
    loaded: Loaded,
    stored: Stored,
    options: RequestOptions,
    recommender: HybridRecommender | None = None,
) -> list[RankedItem] | None:
    """The explained items of a stored ranking, reasons computed now by ``recommender``
    (the bundle's own unless an arm's); ``None`` when one of them may no longer be
    offered (catalogue)."""
    recommender = recommender or loaded.recommender
    if contains(recommender.facts.unavailable, stored.ranked.items[0]).any():
        return None
    row = loaded.bundle.data.clients.lookup(stored.client)
    if row is None:  # not a client of this bundle: nothing to explain from
        return []
    return recommender.explain_row(row, stored.ranked, options)
