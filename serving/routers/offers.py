"""``/v1/clients/{id}/next-best-offers``: profile, offers with reasons, last orders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from recsys.ranking import RequestOptions
from serving.deps import Context, Ctx, Reader, SurfaceHeader
from serving.drift import count_client
from serving.impressions import listed
from serving.lists import arrivals_of, client_profile, encode
from serving.ranked import client_now, client_options, rank_list
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


#: What next-best offers rank: the client's list with bought items allowed
#: (``exclude_purchased=false``), so a bought item comes back by the blend's
#: re-purchase score and its reason, as in that list, never by a rule of its own.
OFFERS = RequestOptions(exclude_purchased=False)


async def next_best_offers(
    ctx: Context, client_id: str, k: int, surface: str = "api"
) -> dict[str, Any]:
    """The CRM view of one client; unknown clients get popular offers and no profile.
    The offers are the client's ``exclude_purchased=false`` list, ranked as that route
    ranks it (:func:`serving.ranked.rank_list`: fresh purchases, held-back offers,
    segment and country, new arrivals). Its impression is logged under a fresh
    ``recommendation_id``."""
    current, who = ctx.current, client_now(ctx.state, ctx.outcomes, client_id)
    known = who.client_id
    features = await client_profile(ctx, known) or None
    # On the loop, as the recommendations route does (GIL-bound numpy, ~1-2 ms).
    arm = current.arm_of(known)
    recommender = current.recommender_for(arm)
    ctx.catalogue.facts_for(recommender)
    options = client_options(OFFERS, who, features or {})
    offers = rank_list(recommender, who, k, options, arrivals_of(ctx))
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
