"""Each member's offers, with the sentence a manager or a mail can use.

Given items go to every member, less those the member declined or postponed or bought
since the bundle was trained. An
affinity audience without given items offers each member the target it is most likely
to buy, with the audience's reason. Otherwise each member gets its next-best offers:
the ``exclude_purchased=false`` list the CRM screen shows, ranked a batch of clients
at once; a client unknown to the bundle (an uploaded list) gets the cold-start list,
and one holding back offers or with purchases since training is ranked alone, as its
list request would rank it. Each is ranked with its segment and country (from the
client features), so analyst rules aimed at a segment or a country fire as on the
client's CRM screen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from recsys.audience import Exclusions
from recsys.audience.profiles import NO_PROFILE, Profile
from recsys.campaigns.candidates import Candidates
from recsys.campaigns.definition import OfferSpec
from recsys.ranking import HybridRecommender, RankedItem, RequestOptions

__all__ = ["BATCH", "GIVEN", "Ranker", "next_best", "offers_for"]

#: Clients ranked at once (a batch holds a dense clients × items block).
BATCH = 256
#: The reason of an item the campaign itself names.
GIVEN = "Chosen for this campaign by the marketing team"
#: Next-best offers: bought items allowed, as on the CRM screen.
OFFERS = RequestOptions(exclude_purchased=False)

Lists = tuple[list[list[str]], list[list[str]]]
#: Next-best offers of known clients (bundle rows), ``k`` each, given each row's
#: profile: their ids and reasons. In process by default (:func:`next_best`);
#: ``recsys campaign build`` spreads the rows over worker processes.
Ranker = Callable[[np.ndarray, int, Sequence[Profile]], Lists]


def offers_for(
    recommender: HybridRecommender,
    offer: OfferSpec,
    kept: Candidates,
    rules: Exclusions,
    ranker: Ranker | None = None,
    profiles: Mapping[str, Profile] | None = None,
) -> Lists:
    """Per member of ``kept``: offered item ids and one reason each (``ranker``: how
    known clients without held-back offers are ranked, default :func:`next_best`;
    ``profiles``: each client's segment and country, where known)."""
    if offer.items is not None:
        given = [[i for i in offer.items if i not in rules.dropped(c)] for c in kept.clients]
        return given, [[GIVEN] * len(items) for items in given]
    if kept.targets is not None and kept.reasons is not None:
        return [[t] for t in kept.targets], [[r.text] for r in kept.reasons]
    rank = ranker or (lambda rows, k, of: next_best(recommender, rows, k, of))
    return _mixed(recommender, kept.clients, offer.next_best, rules, rank, profiles or {})


def next_best(
    recommender: HybridRecommender,
    rows: np.ndarray,
    k: int,
    profiles: Sequence[Profile] | None = None,
) -> Lists:
    """Next-best offers of known clients (bundle rows), ranked :data:`BATCH` at once
    among the rows of one profile (``profiles``: per row; default: none known)."""
    if profiles is not None and len(profiles) != len(rows):
        raise ValueError(f"{len(profiles)} profiles for {len(rows)} rows")
    ids: list[list[str]] = [[] for _ in range(len(rows))]
    reasons: list[list[str]] = [[] for _ in range(len(rows))]
    for profile, positions in _grouped(profiles or [NO_PROFILE] * len(rows)).items():
        options = offer_options(profile)
        for start in range(0, len(positions), BATCH):
            part = positions[start : start + BATCH]
            ranked = recommender.for_clients(rows[part], k, options)
            for position, items in zip(part.tolist(), ranked, strict=True):
                ids[position], reasons[position] = [i.item_id for i in items], _reasons(items)
    return ids, reasons


def offer_options(profile: Profile) -> RequestOptions:
    """The next-best offers' options for a client of ``profile``."""
    return replace(OFFERS, segment=profile[0], country=profile[1])


def _grouped(profiles: Sequence[Profile]) -> dict[Profile, np.ndarray]:
    """Positions by profile, in order within each."""
    grouped: dict[Profile, list[int]] = {}
    for position, profile in enumerate(profiles):
        grouped.setdefault(profile, []).append(position)
    return {profile: np.asarray(found, dtype=np.int64) for profile, found in grouped.items()}


def _mixed(
    recommender: HybridRecommender,
    clients: list[str],
    k: int,
    rules: Exclusions,
    rank: Ranker,
    profiles: Mapping[str, Profile],
) -> Lists:
    """Batched ranking for known clients, one by one for the others: unknown ones,
    and those with offers held back (left out) or purchases since training (counted as
    history, as a list request counts them)."""
    rows = recommender.bundle.data.clients.index(clients)
    pairs = zip(clients, rows.tolist(), strict=True)
    alone = np.array([r < 0 or bool(rules.dropped(c)) for c, r in pairs], dtype=bool)
    ids: list[list[str]] = [[] for _ in clients]
    reasons: list[list[str]] = [[] for _ in clients]
    batched = np.flatnonzero(~alone)
    of = [profiles.get(clients[p], NO_PROFILE) for p in batched.tolist()]
    found = rank(rows[batched], k, of)
    for position, offered, said in zip(batched.tolist(), *found, strict=True):
        ids[position], reasons[position] = offered, said
    # A client the bundle never saw is ranked by what it holds back and bought only: an
    # uploaded list of new clients ranks each such pair once, not once per client.
    cold: dict[tuple[object, ...], tuple[list[str], list[str]]] = {}
    for position in np.flatnonzero(alone).tolist():
        client = clients[position]
        held, recent = tuple(sorted(rules.held(client))), tuple(sorted(rules.bought(client)))
        profile = profiles.get(client, NO_PROFILE)
        if rows[position] < 0 and (held, recent, profile) in cold:
            ids[position], reasons[position] = cold[held, recent, profile]
            continue
        options = replace(offer_options(profile), exclude=held)
        items = recommender.for_client(client, k, options=options, recent=recent)
        ids[position], reasons[position] = [i.item_id for i in items], _reasons(items)
        if rows[position] < 0:
            cold[held, recent, profile] = ids[position], reasons[position]
    return ids, reasons


def _reasons(items: list[RankedItem]) -> list[str]:
    return [i.reasons[0].text if i.reasons else "" for i in items]
