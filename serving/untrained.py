"""Purchases the serving bundle was not trained on: what "bought since training" means.

A replica holds every purchase its bundle did not learn (folded into the client's history,
and one more purchase day where bought items may come back). The set depends on the
bundle: at start-up in embedded mode it is read back from the local event log (with Redis
the follower starts at the bundle's position), and after every swap to a new bundle it is
rebuilt from that bundle's recorded events position, so what the new bundle learnt leaves
it and what it did not stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from recsys.bundle import Bundle
from serving.event_store import EventStore
from serving.state import Loaded, ServiceState
from serving.stream import StreamEventStore, records_after_async, start_after

__all__ = ["rebase", "reload", "untrained_purchases"]

Warm = Callable[[Loaded], Awaitable[object]]
#: The longest a warm-up may hold a switch back.
WARM_SECONDS = 60.0
log = logging.getLogger("recsys.serving")
"""Work done for a new bundle before requests switch to it (:func:`serving.warm.warm`)."""


async def untrained_purchases(
    store: EventStore | StreamEventStore, bundle: Bundle
) -> list[tuple[str, str]]:
    """(client, item) of every accepted purchase after the events ``bundle`` was trained on."""
    if isinstance(store, StreamEventStore):
        start = start_after(bundle.events_position, bundle.created_at)
        records = await records_after_async(store.redis, store.stream, start)
    else:
        position, created = bundle.events_position, bundle.created_at
        records = await asyncio.to_thread(store.read_after, position, created)
    return [(str(e["client_id"]), str(e["item_id"])) for e in records if _bought(e)]


async def rebase(state: ServiceState, store: EventStore | StreamEventStore) -> None:
    """Rebuild ``state``'s purchases since training for the bundle it serves now. The
    replacement happens with no await after the read: an event the follower reads later
    is applied to the new set, one it read earlier is in the read."""
    loaded = state.current
    if loaded is None:
        return
    purchases = await untrained_purchases(store, loaded.bundle)
    state.rebase(purchases)


async def reload(
    state: ServiceState, store: EventStore | StreamEventStore, warm: Warm | None = None
) -> bool:
    """Load the bundle the settings point at now (:meth:`ServiceState.prepare`); when it
    is a new one, ``warm`` it (:mod:`serving.warm`), switch to it, and rebuild the
    purchases since training for it. Then reread a changed experiments file. Every
    reload path goes here."""
    async with state.switching:  # one switch at a time: none undoes another's
        ok, fresh = await asyncio.to_thread(state.prepare)
        if fresh is not None:
            if warm is not None and state.current is not None:  # the first load: no traffic
                await _warmed(warm, fresh)
            state.switch(fresh)
            await rebase(state, store)
        await asyncio.to_thread(state.reread_experiments)
    return ok


async def reread(state: ServiceState) -> bool:
    """Serve the experiments file as it is now, if it changed (one switch at a time)."""
    async with state.switching:
        return await asyncio.to_thread(state.reread_experiments)


async def _warmed(warm: Warm, fresh: Loaded) -> None:
    """Warm ``fresh``; a warm-up that fails or hangs delays the switch, never stops it."""
    try:
        await asyncio.wait_for(warm(fresh), WARM_SECONDS)
    except Exception:  # the lists are computed on demand instead
        log.exception("warming bundle %s failed; switching to it anyway", fresh.version)


def _bought(event: dict[str, Any]) -> bool:
    kind = event.get("type", "purchase")
    return kind == "purchase" and bool(event.get("client_id")) and bool(event.get("item_id"))
