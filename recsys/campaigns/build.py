"""Building a campaign: its audience, who is over the contact cap, treatment and
holdout, and each member's offers with their reasons.

Clients over the cap are left out before the split, so both groups are drawn from the
same clients. Holdout members get the offers they would have got (recorded, not
sent): the report compares who bought an offered item in both groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from recsys.audience import Exclusions
from recsys.audience.profiles import NO_PROFILE, profiles_of
from recsys.campaigns.candidates import Candidates, candidates
from recsys.campaigns.definition import Campaign
from recsys.campaigns.groups import HOLDOUT, groups
from recsys.campaigns.offers import Ranker, offers_for
from recsys.campaigns.pressure import contacts_near
from recsys.errors import NotFoundError
from recsys.ranking import HybridRecommender

__all__ = ["Built", "Pressure", "build_campaign"]


@dataclass(frozen=True)
class Pressure:
    """The contact cap: at most ``cap`` contacts per ``days`` days, given ``contacts``
    (:data:`recsys.campaigns.pressure.CONTACT_COLUMNS`)."""

    contacts: pd.DataFrame
    cap: int
    days: int


@dataclass(frozen=True)
class Built:
    """A built campaign: its members (:data:`recsys.campaigns.store.MEMBER_COLUMNS`)
    and the build report."""

    members: pd.DataFrame
    report: dict[str, Any]


def build_campaign(
    recommender: HybridRecommender,
    campaign: Campaign,
    features: pd.DataFrame,
    exclusions: Exclusions,
    pressure: Pressure,
    now: datetime,
    ranker: Ranker | None = None,
) -> Built:
    """Build ``campaign`` on the served models (``features``: the client feature
    table indexed by client id; ``exclusions``: deleted clients and held-back offers;
    ``ranker``: how next-best offers are ranked, :mod:`recsys.campaigns.offers`).
    The segment filter of the audience is applied here, from ``features``."""
    segments = _segments(features)
    rules = Exclusions(
        exclusions.forgotten, exclusions.held_back, exclusions.bought_since,
        campaign.audience.segment, segments,
    )  # fmt: skip
    start = pd.Timestamp(campaign.start, tz="UTC")
    capped = _capped(pressure, start, campaign.contact_cap or pressure.cap)
    _known_offers(recommender, campaign)
    wanted = campaign.audience.size + len(capped)
    try:
        found = candidates(recommender, campaign.audience, features, rules, wanted)
    except NotFoundError as error:
        raise NotFoundError(f"audience.value: {error}") from None
    kept, over = _under_cap(found, capped, campaign.audience.size)
    members, empty = _members(recommender, campaign, kept, rules, features, ranker)
    return Built(members, _report(campaign, members, over, empty, now))


def _known_offers(recommender: HybridRecommender, campaign: Campaign) -> None:
    """Given items the model and the catalogue do not know: :class:`NotFoundError`
    naming the first (a typo would otherwise reach every member)."""
    for position, item in enumerate(campaign.offer.items or []):
        if recommender.columns((item,)).size == 0:
            raise NotFoundError(f"offer.items.{position}: unknown item {item!r}")


def _segments(features: pd.DataFrame) -> dict[str, str]:
    if features.empty or "segment" not in features:
        return {}
    named = features["segment"].dropna()
    return dict(zip(named.index.astype(str), named.astype(str), strict=True))


def _capped(pressure: Pressure, start: pd.Timestamp, cap: int) -> frozenset[str]:
    """Clients who already have ``cap`` contacts within the window around ``start``."""
    contacts = pressure.contacts
    if contacts.empty:
        return frozenset()
    clients = contacts["client_id"].astype(str).unique()
    near = contacts_near(contacts, clients, start, pressure.days)
    return frozenset(clients[near >= cap].tolist())


def _under_cap(found: Candidates, capped: frozenset[str], size: int) -> tuple[Candidates, int]:
    """The first ``size`` candidates not capped, and how many capped ones were passed
    over for them (every capped one when fewer than ``size`` are left)."""
    keep = np.array([c not in capped for c in found.clients], dtype=bool)
    positions = np.flatnonzero(keep)[:size]
    cut = positions[-1] + 1 if positions.size == size else len(found.clients)
    over = int((~keep[:cut]).sum())

    def take(values: list[Any] | None) -> list[Any] | None:
        return None if values is None else [values[i] for i in positions.tolist()]

    return Candidates(take(found.clients) or [], take(found.targets), take(found.reasons)), over


def _members(
    recommender: HybridRecommender,
    campaign: Campaign,
    kept: Candidates,
    rules: Exclusions,
    features: pd.DataFrame,
    ranker: Ranker | None,
) -> tuple[pd.DataFrame, int]:
    """The members with their offers, and how many clients were left out for having
    none (every given item declined): a member is a client contacted, or held out
    from a contact."""
    profiles = profiles_of(features, kept.clients)
    offers, reasons = offers_for(recommender, campaign.offer, kept, rules, ranker, profiles)
    table = pd.DataFrame({"client_id": kept.clients, "offers": offers, "reasons": reasons})
    table = table[table["offers"].map(len) > 0].reset_index(drop=True)
    clients = table["client_id"].tolist()
    table.insert(1, "group", groups(campaign.name, clients, campaign.holdout))
    table.insert(2, "channel", campaign.channel)
    table.insert(3, "segment", [profiles.get(c, NO_PROFILE)[0] for c in clients])
    return table, len(kept.clients) - len(table)


def _report(
    campaign: Campaign, members: pd.DataFrame, over: int, empty: int, now: datetime
) -> dict[str, Any]:
    held = int((members["group"] == HOLDOUT).sum()) if len(members) else 0
    return {
        "campaign": campaign.name,
        "built_at": now.isoformat(),
        "members": len(members),
        "treatment": len(members) - held,
        "holdout": held,
        "over_cap": over,
        "without_offers": empty,
        "audience": campaign.audience.kind,
        "asked": campaign.audience.size,
        # What the members were built under: the report and the contact cap read these,
        # not a definition changed since.
        "definition": campaign.model_dump(mode="json", exclude={"audience": {"clients"}}),
    }
