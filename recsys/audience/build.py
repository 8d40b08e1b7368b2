"""An audience: the clients most likely to buy the target items, each with a reason."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from recsys.audience.blended import DEPTH
from recsys.audience.profiles import Profile
from recsys.audience.reasons import best_target, reason_for
from recsys.audience.scored import Scored, score_clients
from recsys.audience.select import Exclusions, Picked, pick
from recsys.ranking import HybridRecommender, Reason

__all__ = ["Audience", "AudienceMember", "audience", "build_audience"]


@dataclass(frozen=True)
class AudienceMember:
    """One client of an audience."""

    client_id: str
    rank: int
    """1 for the most likely buyer."""
    score: float
    """The blend's score for the targets × the client's purchases
    (:mod:`recsys.audience.scored`)."""
    reason: Reason
    item_id: str
    """The target the reason is about (the one that counts most for the client)."""


@dataclass(frozen=True)
class Audience:
    """The clients most likely to buy ``items``, best first."""

    items: list[str]
    """The target item ids (those that may be offered now)."""
    day: date
    """The day purchases were judged due on."""
    members: list[AudienceMember] = field(default_factory=list)


def audience(
    recommender: HybridRecommender,
    columns: np.ndarray,
    k: int,
    exclusions: Exclusions | None = None,
    day: date | None = None,
    depth: int = DEPTH,
    profiles: Mapping[str, Profile] | None = None,
) -> Audience:
    """The ``k`` clients most likely to buy any of ``columns`` (item columns) on
    ``day`` (default: the recommender's clock), after ``exclusions``: one batched pass
    over every client (:func:`~recsys.audience.scored.score_clients`; ``profiles``:
    each client's segment and country), then the walk; no columns (an unavailable
    item): an empty audience, without the pass."""
    if np.asarray(columns).size == 0:
        return Audience([], day or recommender.today())
    scored = score_clients(recommender, columns, day, depth, profiles)
    return build_audience(recommender, scored, k, exclusions)


def build_audience(
    recommender: HybridRecommender,
    scored: Scored,
    k: int,
    exclusions: Exclusions | None = None,
    subset: np.ndarray | None = None,
) -> Audience:
    """The audience of the targets at ``subset`` (positions in ``scored``; default: all)
    from clients scored once (a cached :class:`Scored` answers many requests)."""
    subset = np.arange(scored.targets.size) if subset is None else np.asarray(subset)
    ids = [recommender.id_list[c] for c in scored.targets.tolist()]
    clients = recommender.bundle.data.clients.ids
    picked = pick(scored.scores, subset, clients, ids, k, exclusions or Exclusions())
    members = [
        _member(recommender, scored, p, subset, rank, ids) for rank, p in enumerate(picked, 1)
    ]
    return Audience([ids[p] for p in subset.tolist()], scored.day, members)


def _member(
    recommender: HybridRecommender,
    scored: Scored,
    picked: Picked,
    subset: np.ndarray,
    rank: int,
    ids: list[str],
) -> AudienceMember:
    """One kept client with the reason of its strongest target."""
    position = best_target(scored.scores, picked.row, subset, picked.dropped)
    reason = reason_for(recommender, scored, picked.row, position)
    if subset.size > 1:  # name the item the sentence is about
        label = recommender.labels[int(scored.targets[position])]
        reason = Reason(reason.source, f"{label}: {reason.text}", reason.evidence)
    client = str(recommender.bundle.data.clients.ids[picked.row])
    return AudienceMember(client, rank, picked.score, reason, ids[position])
