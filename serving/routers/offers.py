"""``/v1/clients/{id}/next-best-offers``: profile, offers with reasons, last orders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from recsys.ranking import RequestOptions
from serving.deps import Context, Ctx, Reader, SurfaceHeader
from serving.drift import count_client
from serving.impressions import listed
from serving.lists import client_profile, encode, known_client, with_arrivals
from serving.schemas import AUTH_RESPONSES, MAX_ID, NextBestOffers

router = APIRouter(
    prefix="/v1/clients", tags=["crm"], dependencies=[Reader], responses=AUTH_RESPONSES
)

PROFILE = (
    "recency_days",
    "frequency",
    "monetary",
    "average_check",
    "avg_days_between_orders",
    "tenure_days",
    "return_rate",
    "segment",
    "churn_risk",
    "r_score",
    "f_score",
    "m_score",
    "favourite_item",
    "favourite_country",
    "favourite_category",
    "manager",
)


async def next_best_offers(
    ctx: Context, client_id: str, k: int, surface: str = "api"
) -> dict[str, Any]:
    """The CRM view of one client; unknown clients get popular offers and no profile.
    Its impression is logged under a fresh ``recommendation_id``."""
    current, known = ctx.current, known_client(ctx, client_id)
    features = await client_profile(ctx, known) or None
    segment = (features or {}).get("segment")
    country = (features or {}).get("favourite_country")
    held = ctx.outcomes.held_back(known)  # declined (cool-down) and postponed offers
    # Bought items come back when due again (the repeat source), e.g. a monthly refill,
    # on the service's day (the recommender's clock), except those bought since training.
    options = RequestOptions(exclude=held, segment=segment, country=country, due_repeats=True)
    recent = tuple(sorted(ctx.state.recent.get(client_id, ()))) if known else ()
    # On the loop, as the recommendations route does (GIL-bound numpy, ~1-2 ms).
    arm = current.arm_of(known)
    recommender = current.recommender_for(arm)
    ctx.catalogue.facts_for(recommender)
    offers = recommender.for_client(known, k, (), options, recent)
    offers = with_arrivals(ctx, recommender, known, recent, offers, k)
    shown = listed(offers)
    recommendation_id = ctx.impressions.shown(client_id, shown, current.version, surface, arm)
    return {
        "recommendation_id": recommendation_id,
        **({"experiment": arm[0], "arm": arm[1]} if arm else {}),
        "client_id": client_id,
        "model_version": current.version,
        "profile": None if features is None else {key: features.get(key) for key in PROFILE},
        "offers": offers,
        "last_orders": [] if features is None else features.get("last_orders") or [],
        "next_contact": None if features is None else features.get("next_contact"),
        "offer_history": ctx.outcomes.book.history(client_id) if known else [],
    }


@router.get("/{client_id}/next-best-offers", response_model=NextBestOffers)
async def offers(
    client_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)],
    ctx: Ctx,
    k: Annotated[int, Query(ge=1, le=20)] = 5,
    x_surface: SurfaceHeader = "api",
) -> Response:
    """Profile, top offers with reasons a manager can say aloud, last orders, next contact."""
    count_client(ctx, ctx.current, client_id)
    body = await next_best_offers(ctx, client_id, k, x_surface)
    headers = {"X-Recommendation-Id": body["recommendation_id"]}
    return Response(encode(body), media_type="application/json", headers=headers)
