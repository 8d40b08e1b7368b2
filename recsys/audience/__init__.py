"""Audiences: the clients most likely to buy an item (or any item of a category or tag).

The reverse reading of the served blend: for target items, every known client's
blended score read from one batched pass over all clients
(:mod:`recsys.audience.blended`), weighed by how much the client buys, leaving out the
clients who bought an item within its usual re-purchase interval
(:mod:`recsys.audience.due`), deleted clients, clients holding a declined or postponed
outcome for it, and other segments (:mod:`recsys.audience.select`); each member with
a reason (:mod:`recsys.audience.reasons`). :mod:`recsys.audience.evaluate` measures
audiences against the actual buyers after a cut-off.
"""

from recsys.audience.blended import DEPTH, BlendColumns, blend_columns
from recsys.audience.build import Audience, AudienceMember, audience, build_audience
from recsys.audience.evaluate import evaluate_audiences
from recsys.audience.profiles import FIELDS, NO_PROFILE, Profile, profile_of, profiles_of
from recsys.audience.scored import Scored, ranking, score_clients
from recsys.audience.select import Exclusions, Lookup
from recsys.audience.targets import Target, target_columns

__all__ = [
    "DEPTH",
    "FIELDS",
    "NO_PROFILE",
    "Audience",
    "AudienceMember",
    "BlendColumns",
    "Exclusions",
    "Lookup",
    "Profile",
    "Scored",
    "Target",
    "audience",
    "blend_columns",
    "build_audience",
    "evaluate_audiences",
    "profile_of",
    "profiles_of",
    "ranking",
    "score_clients",
    "target_columns",
]
