"""What a cache miss answers, so that no storefront request waits long for its list.

Every switch (a promoted bundle, new analyst rules, a changed experiments file)
changes every cache key at once, and a list costs ~1 ms of CPU on the event loop:
a burst of misses would queue behind each other. So a miss is answered by the
first of:

1. **stale**: the list cached for the same client and query under what was served
   before the last switch, while within ``stale_seconds`` of it (RFC 5861's
   stale-while-revalidate); marked ``"stale": true``, its new list computed in the
   background, once per key. It passes the read-time checks every cached list
   passes: an event (purchase, outcome, deletion) dropped all the client's lists of
   every version, and the catalogue check refuses one holding an item no longer
   offered.
2. **the list**, when it is computed within ``list_budget_ms``;
3. **degraded**: the fallback (:attr:`serving.state.Loaded.fallback`: popular items,
   the client's segment's when the feature store is in memory, same filters) when the
   budget ran out - the list is still computed and cached when ready (unless ranked
   without the features the store did not give in time) - or at once when
   the lists queued ahead would not let it be ready within the budget, or
   ``compute_backlog`` are queued already (then it is not queued: load is shed, the
   next request for it computes it). Lists are computed in turn from a queue
   (:mod:`serving.computing`), whose length says how long a new one would wait.
"""

from __future__ import annotations

from typing import cast

from recsys.ranking import RequestOptions
from serving.catalogue import STAMP
from serving.deps import Context
from serving.fallback import fallback_items
from serving.impressions import listed
from serving.lists import (
    Arm,
    ListJob,
    Served,
    client_profile,
    compute_list,
    list_body,
    list_key,
)
from serving.ranked import client_now, client_options

__all__ = ["answer_miss", "degraded_list", "stale_list"]

_STALE = (b'"cached":true', b'"cached":true,"stale":true', 1)


async def answer_miss(
    ctx: Context, key: str, client: str, raw: bytes, k: int, options: RequestOptions, arm: Arm
) -> Served:
    """A missed list: stale, computed within the budget, or degraded (module doc)."""

    # What the key was made from, whatever is served when the list is ranked.
    job = ListJob(ctx, key, client, k, options, arm, ctx.current)
    queue, budget = ctx.cache.queue, ctx.settings.list_budget_ms / 1000
    stale = await stale_list(ctx, client, raw)
    if stale is not None:
        # Refreshes fill half the backlog at most: misses with no list must get in.
        if queue.pending() < ctx.settings.compute_backlog // 2:  # else the next read asks
            queue.submit(job.rank, key, refresh=True, read=job.reader, then=job.storer)
        ctx.metrics.stale.inc()
        return stale
    if budget <= 0:
        return await compute_list(ctx, key, client, k, options, arm, job.current)
    if queue.admits(budget):
        # This request's own future: over the budget it is cancelled, the list stays
        # queued and is cached when computed.
        future = queue.submit(job.rank, key, read=job.reader, then=job.storer)
        done, served = await queue.within(future, budget)
        if done:
            return cast(Served, served)
    ctx.metrics.degraded.inc()
    return await degraded_list(ctx, client, k, options, arm)


async def stale_list(ctx: Context, client: str, raw: bytes) -> Served | None:
    """The list cached for ``client`` and this query under what was served before the
    last switch, while within the bound; ``None`` when there is none to answer."""
    before = ctx.state.previous()
    if before is None or ctx.state.is_forgotten(client):
        return None
    arm = before.arm_of(client)
    found = await ctx.cache.get(list_key(before, client, raw, arm))
    # Only response bytes: a precomputed ranking is explained from its own bundle.
    if found is None or found[:1] != STAMP:
        return None
    fresh = ctx.catalogue.fresh(found)
    if fresh is None:
        return None
    return Served(fresh[1].replace(*_STALE), fresh[0], arm, "stale", before.version)


async def degraded_list(
    ctx: Context, client: str, k: int, options: RequestOptions, arm: Arm
) -> Served:
    """The fallback list: popular items, the client's purchases (for
    ``exclude_purchased``), held-back offers and unavailable items left out as in the
    real list; not cached. Within the client's segment when the feature store is in
    memory: a Redis read may be what made the list late."""
    current, who = ctx.current, client_now(ctx.state, ctx.outcomes, client)
    in_memory = ctx.features is not None and ctx.features.redis is None
    profile = await client_profile(ctx, who.client_id) if in_memory else {}
    targeted = client_options(options, who, profile)
    ctx.catalogue.facts_for(current.fallback)
    items = fallback_items(current, who, k, targeted)
    body = list_body(client, current.version, items, arm, degraded=True)
    # Logged without the arm: the fallback is no arm's list (a costlier arm, more often
    # late, must not be judged by it).
    return Served(body, listed(items), None, "degraded")
