"""Who a campaign may contact, most likely first, by the kind of its audience.

``item``, ``category`` and ``tag`` audiences are the served blend read by item
(:func:`recsys.audience.audience`: each member comes with its best target and a
reason). The others rank by what their kind is about: a segment's clients by how much
they buy, clients at churn risk by their net spend, clients with repeat items due by
how many are due. Every kind then loses deleted clients and, when the campaign names
one, the clients of other segments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.audience import Exclusions, Profile, Target, audience, profiles_of, target_columns
from recsys.audience.due import activity
from recsys.audience.scored import day_number
from recsys.campaigns.definition import AudienceSpec
from recsys.ranking import HybridRecommender, Reason
from recsys.repeat import intervals

__all__ = ["Candidates", "candidates"]


@dataclass(frozen=True)
class Candidates:
    """Clients in order, and for affinity audiences the target and reason of each."""

    clients: list[str]
    targets: list[str] | None = None
    """The item each client is most likely to buy (affinity audiences only)."""
    reasons: list[Reason] | None = None


def candidates(
    recommender: HybridRecommender,
    spec: AudienceSpec,
    features: pd.DataFrame,
    exclusions: Exclusions,
    wanted: int,
) -> Candidates:
    """At least ``wanted`` clients of ``spec`` (fewer when there are not so many), in
    order, each one ``exclusions`` keeps (``features``: the client feature table,
    indexed by client id; read by the segment and churn kinds)."""
    if spec.kind in ("item", "category", "tag"):
        return _affinity(recommender, spec, exclusions, wanted, profiles_of(features))
    if spec.kind == "segment":
        found = _by_activity(recommender, _flagged(features, features.get("segment") == spec.value))
    elif spec.kind == "churn_risk":
        found = _churn(features)
    elif spec.kind == "repeat_due":
        found = _repeat_due(recommender, exclusions)
    else:
        found = list(dict.fromkeys(spec.clients or []))  # an uploaded list, as given
    return Candidates([c for c in found if exclusions.keeps(c)])


def _affinity(
    recommender: HybridRecommender,
    spec: AudienceSpec,
    exclusions: Exclusions,
    wanted: int,
    profiles: dict[str, Profile],
) -> Candidates:
    target = Target(spec.kind, str(spec.value))  # type: ignore[arg-type]
    columns = target_columns(recommender, target)
    found = audience(recommender, columns, wanted, exclusions, profiles=profiles)
    members = found.members
    return Candidates(
        [m.client_id for m in members], [m.item_id for m in members], [m.reason for m in members]
    )


def _flagged(features: pd.DataFrame, mask: object) -> list[str]:
    if features.empty or mask is None:
        return []
    return [str(c) for c in features.index[np.asarray(mask, dtype=bool)]]


def _by_activity(recommender: HybridRecommender, clients: list[str]) -> list[str]:
    """``clients`` by their purchases in the bundle, most first (unknown ones last)."""
    rows = recommender.bundle.data.clients.index(clients)
    bought = activity(recommender.bundle)
    weight = np.where(rows >= 0, bought[np.maximum(rows, 0)], -1.0)
    return [clients[i] for i in np.argsort(-weight, kind="stable").tolist()]


def _churn(features: pd.DataFrame) -> list[str]:
    """Clients flagged ``churn_risk``, the highest net spend first."""
    if features.empty or "churn_risk" not in features:
        return []
    risky = features[features["churn_risk"].fillna(False).astype(bool)]
    spend = risky["monetary"] if "monetary" in risky else pd.Series(0.0, index=risky.index)
    return [str(c) for c in spend.fillna(0.0).sort_values(ascending=False, kind="stable").index]


def _repeat_due(recommender: HybridRecommender, exclusions: Exclusions) -> list[str]:
    """Clients with an item bought on two or more days whose own interval has passed
    since the last purchase, the most such items first. An item the client bought
    again since training is not due (the purchases since training carry no day: it is
    judged again once a training learns that purchase)."""
    index = recommender.bundle.repeats
    if index is None:
        return []
    days = index.days.tocoo()
    again = days.data >= 2
    rows, cols = days.row[again], days.col[again]
    first = np.asarray(index.first[rows, cols]).ravel()
    last = np.asarray(index.last[rows, cols]).ravel()
    today = day_number(recommender.today())
    due = (today - last) >= intervals(days.data[again], first, last)
    due &= ~_bought_since(recommender, exclusions, rows, cols, due)
    counts = np.bincount(rows[due], minlength=len(recommender.bundle.data.clients))
    order = np.argsort(-counts, kind="stable")
    ids = recommender.bundle.data.clients.ids
    return [str(ids[r]) for r in order[counts[order] > 0].tolist()]


def _bought_since(
    recommender: HybridRecommender,
    exclusions: Exclusions,
    rows: np.ndarray,
    cols: np.ndarray,
    due: np.ndarray,
) -> np.ndarray:
    """Which (client row, item column) pairs the client bought since training: asked
    of the due pairs' clients only (the events since training are few)."""
    data, n_items = recommender.bundle.data, recommender.n_items
    if isinstance(exclusions.bought_since, Mapping) and not exclusions.bought_since:
        return np.zeros(rows.size, dtype=bool)
    clients = np.unique(rows[due])
    bought = [(r, exclusions.bought(str(data.clients.ids[r]))) for r in clients.tolist()]
    keys = [r * n_items + c for r, items in bought for c in recommender.columns(tuple(items))]
    if not keys:
        return np.zeros(rows.size, dtype=bool)
    return np.isin(rows.astype(np.int64) * n_items + cols, np.asarray(keys, dtype=np.int64))
