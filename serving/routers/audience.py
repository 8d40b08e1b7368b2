"""``/v1/items/{id}/audience``: the clients most likely to buy one item, with reasons."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Path, Query
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from feature_store import SEGMENT_RULES
from recsys.audience import Audience, Exclusions, Target, target_columns
from recsys.errors import NotFoundError
from recsys.ranking import HybridRecommender
from serving.audiences import item_audience, segment_reader
from serving.deps import Context, Ctx, Reader
from serving.schemas import AUTH_RESPONSES, MAX_ID, ErrorOut, ItemAudience

__all__ = ["MAX_AUDIENCE", "router"]

#: The largest ``k`` of one audience request (a longer list: ``recsys audience``).
MAX_AUDIENCE = 1000
#: The RFM segments the feature store names (the schema lists them: any other is a 422).
Segment = Enum("Segment", {name: name for name, *_ in SEGMENT_RULES}, type=str)  # type: ignore[misc]

router = APIRouter(
    prefix="/v1/items", tags=["items"], dependencies=[Reader], responses=AUTH_RESPONSES
)


@router.get(
    "/{item_id}/audience",
    response_model=ItemAudience,
    responses={
        404: {
            "model": ErrorOut,
            "description": "an item neither the model nor the catalogue knows",
        },
        409: {
            "model": ErrorOut,
            "description": "a segment, and the service has no client features",
        },
        422: {"model": ErrorOut, "description": "k out of range, or an unknown segment"},
        503: {"model": ErrorOut, "description": "no model yet, or the feature store is down"},
    },
)
async def audience(
    item_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)],
    ctx: Ctx,
    k: Annotated[int, Query(ge=1, le=MAX_AUDIENCE, description="Clients to list.")] = 100,
    segment: Annotated[
        Segment | None, Query(description="Only clients of this RFM segment.")
    ] = None,
) -> ItemAudience:
    """The ``k`` clients most likely to buy ``item_id``, best first, each with a reason:
    the served blend's scores read by item over every client, weighed by how much each
    client buys; left out are clients who bought it within its usual re-purchase
    interval or since training, deleted clients, and clients who declined (in the
    cool-down) or postponed it. An item the catalogue knows but the models have not
    learnt yet, or one marked unavailable: no clients; an item neither knows, or one
    discontinued (``DELETE /v1/items/{id}``): 404.
    The first request for an item scores every client (~2 s on 4,285 clients), later
    ones reuse it (docs/how-to/audiences.md)."""
    current = ctx.current
    recommender = current.recommender
    columns = _columns(ctx, recommender, item_id)
    named = None if segment is None else str(segment.value)
    exclusions = _exclusions(ctx, named)
    try:
        found = await run_in_threadpool(
            item_audience, recommender, columns, k, exclusions, current.profiles
        )
    except (RedisError, OSError):  # the feature store, asked for segments
        raise HTTPException(503, "segment: the feature store is not answering") from None
    return _body(found, item_id, current.version, named)


def _columns(ctx: Context, recommender: HybridRecommender, item_id: str) -> np.ndarray:
    """The item's column (none when the catalogue alone knows it, or marks it
    unavailable); unknown to both, or discontinued: 404 naming it."""
    entry = ctx.catalogue.catalogue.items.get(item_id)
    if entry is not None and entry.deleted:  # gone for good, until a PUT revives it
        raise NotFoundError(f"item_id: {item_id!r} is discontinued")
    try:
        return target_columns(recommender, Target("item", item_id))
    except NotFoundError:
        if item_id in recommender.facts.unknown:  # a new catalogue item: not learnt yet
            return np.zeros(0, dtype=np.int64)
        raise NotFoundError(f"item_id: unknown item {item_id!r}") from None


def _exclusions(ctx: Context, segment: str | None) -> Exclusions:
    """What the service knows now: tombstones, held-back offers, fresh purchases, and
    the segment asked for (409 naming it when the service has no client features)."""
    if segment is not None and ctx.features is None:
        detail = "segment: the service has no client features (RECSYS_FEATURES_PATH)"
        raise HTTPException(409, detail)
    state = ctx.state
    return Exclusions(
        forgotten=state.forgotten,
        held_back=ctx.outcomes.held_back,
        bought_since=lambda client: state.recent.get(client, ()),
        segment=segment,
        segments=segment_reader(ctx.features) if ctx.features is not None else {},
    )


def _body(found: Audience, item_id: str, version: str, segment: str | None) -> ItemAudience:
    clients = [
        {
            "client_id": m.client_id,
            "rank": m.rank,
            "score": m.score,
            "reason": {
                "source": m.reason.source,
                "text": m.reason.text,
                "evidence": m.reason.evidence,
            },
        }
        for m in found.members
    ]
    return ItemAudience.model_validate(
        {
            "item_id": item_id,
            "model_version": version,
            "day": found.day.isoformat(),
            "segment": segment,
            "clients": clients,
        }
    )
