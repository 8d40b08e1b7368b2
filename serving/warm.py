"""Lists computed for a new bundle before requests switch to it.

A switch changes every cache key at once. Before it, the ``?k=10`` lists (also
stored for the bare route, no query) of the new bundle's ``warm_clients`` most
active clients are ranked in batches (precompute's path:
:meth:`HybridRecommender.rank_clients`, grouped by the segment and country analyst
rules target), explained as a read of a precomputed ranking explains it, and stored
as a request stores them, under each client's generation read first. Each replica
warms for itself; with Redis the lists land where every replica reads. Clients
with purchases or held-back offers since training, and deleted ones, are left to
requests: their lists fold those in.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from recsys.ranking import RequestOptions
from serving.deps import Context
from serving.lists import Arm, arrivals_of, client_profile, list_key, stored_list
from serving.ranked import ClientNow, Stored, client_now, client_options, explain, fill_arrivals
from serving.state import Loaded
from serving.untrained import untrained_purchases

__all__ = ["warm"]

#: The queries warmed: the storefront's default list, with and without ``k``.
QUERIES = (b"k=10", b"")
_K = 10
Group = tuple[Arm, str | None, str | None]
Profile = dict[str, Any]


async def warm(ctx: Context, fresh: Loaded) -> int:
    """Compute and cache the warmed lists of ``fresh``; how many clients got theirs."""
    limit = ctx.settings.warm_clients
    if limit <= 0:
        return 0
    at = ctx.catalogue.mark()  # before the facts: a change meanwhile is checked on read
    for recommender in fresh.cores():
        ctx.catalogue.facts_for(recommender)
    # What the new bundle did not learn, not what the served one did not (a rollback).
    untrained = {c for c, _ in await untrained_purchases(ctx.events, fresh.bundle)}
    chosen = _most_active(fresh, limit * 2)
    seen = {c: await ctx.cache.generation(c) for c in chosen}  # before what events change
    quiet = [c for c in chosen if c not in untrained and not _eventful(ctx, c)][:limit]
    profiles = {c: await client_profile(ctx, c) for c in quiet}
    lists = await asyncio.to_thread(_lists, ctx, fresh, profiles, at)
    for client, arm, value in lists:
        if _eventful(ctx, client):  # an event while ranking (its generation moved too)
            continue
        for raw in QUERIES:
            await ctx.cache.store(list_key(fresh, client, raw, arm), client, value, seen[client])
    return len(lists)


def _eventful(ctx: Context, client: str) -> bool:
    """Whether something since training changes ``client``'s list (or it was deleted)."""
    who = client_now(ctx.state, ctx.outcomes, client)
    return who.client_id is None or who.eventful


def _most_active(fresh: Loaded, limit: int) -> list[str]:
    """The ``limit`` clients of ``fresh`` with the most items."""
    sizes = np.diff(fresh.bundle.data.matrix.indptr)
    rows = np.argsort(-sizes, kind="stable")[:limit]
    return [str(c) for c in fresh.bundle.data.clients.ids[rows].tolist()]


def _lists(
    ctx: Context, fresh: Loaded, profiles: dict[str, Profile], at: tuple[int, float]
) -> list[tuple[str, Arm, bytes]]:
    """(client, arm, the bytes a request stores) of each chosen client, ranked a group
    (same arm, segment, country) at a time."""
    out = []
    arrivals, rows = arrivals_of(ctx), fresh.bundle.data.clients.index(list(profiles))
    for (arm, segment, country), members in _groups(fresh, profiles, rows).items():
        options = client_options(RequestOptions(), ClientNow(None), _profile(segment, country))
        recommender = fresh.recommender_for(arm)
        ranked = recommender.rank_clients(np.array(members), _K, options)
        for i, row in enumerate(members):
            client = str(fresh.bundle.data.clients.ids[row])
            record = Stored(client, _K, segment, country, ranked.row(i))
            items = explain(fresh, record, options, recommender)
            if items is None:  # an item went out of stock meanwhile: left to requests
                continue
            items = fill_arrivals(recommender, ClientNow(client), items, _K, arrivals)
            out.append(
                (client, arm, stored_list(ctx.catalogue, client, fresh.version, items, arm, at)[1])
            )
    return out


def _groups(
    fresh: Loaded, profiles: dict[str, Profile], rows: np.ndarray
) -> dict[Group, list[int]]:
    """Bundle rows by what their ranking depends on besides the client."""
    grouped: dict[Group, list[int]] = {}
    for (client, profile), row in zip(profiles.items(), rows.tolist(), strict=True):
        group = (fresh.arm_of(client), profile.get("segment"), profile.get("favourite_country"))
        grouped.setdefault(group, []).append(row)
    return grouped


def _profile(segment: str | None, country: str | None) -> Profile:
    return {"segment": segment, "favourite_country": country}
