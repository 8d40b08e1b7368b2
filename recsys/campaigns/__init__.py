"""Campaigns: audiences contacted with offers, a holdout kept out, the effect read after.

A campaign is data (:mod:`recsys.campaigns.definition`). Building it picks its
audience and offers from the served models (:mod:`recsys.campaigns.build`), splits
treatment from holdout by a hash (:mod:`recsys.campaigns.groups`), leaves out clients
over the contact cap (:mod:`recsys.campaigns.pressure`) and records who is in which
group (:mod:`recsys.campaigns.store`). After the window,
:mod:`recsys.campaigns.effect` compares the groups: each difference with a 95 %
interval, CUPED-adjusted, beside the difference-in-differences;
:mod:`recsys.campaigns.simulate` replays a campaign on history, with a known uplift
injected or none.
"""

from recsys.campaigns.definition import (
    NAME_PATTERN,
    AudienceSpec,
    Campaign,
    OfferSpec,
    load_campaign,
    parse,
)
from recsys.campaigns.effect import METRICS, campaign_effect, client_metrics
from recsys.campaigns.groups import HOLDOUT, TREATMENT, groups, in_holdout
from recsys.campaigns.pressure import CONTACT_COLUMNS, contacts_near, over_cap
from recsys.campaigns.store import MEMBER_COLUMNS, CampaignStore

__all__ = [
    "CONTACT_COLUMNS",
    "HOLDOUT",
    "MEMBER_COLUMNS",
    "METRICS",
    "NAME_PATTERN",
    "TREATMENT",
    "AudienceSpec",
    "Campaign",
    "CampaignStore",
    "OfferSpec",
    "campaign_effect",
    "client_metrics",
    "contacts_near",
    "groups",
    "in_holdout",
    "load_campaign",
    "over_cap",
    "parse",
]
