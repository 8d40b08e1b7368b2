"""Each member's offers, with the sentence a manager or a mail can use.

Given items go to every member, less those the member declined or postponed or bought
since the bundle was trained. An
affinity audience without given items offers each member the target it is most likely
to buy, with the audience's reason. Otherwise each member gets its next-best offers:
the ``exclude_purchased=false`` list the CRM screen shows, ranked a batch of clients
at once; a client unknown to the bundle (an uploaded list) gets the cold-start list,
and one holding back offers or with purchases since training is ranked alone, as its
list request would rank it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsys.audience import Exclusions
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
#: Next-best offers of known clients (bundle rows), ``k`` each: their ids and reasons.
#: In process by default (:func:`next_best`); ``recsys campaign build`` spreads the
#: rows over worker processes.
Ranker = Callable[[np.ndarray, int], Lists]


def offers_for(
    recommender: HybridRecommender,
    offer: OfferSpec,
    kept: Candidates,
    rules: Exclusions,
    ranker: Ranker | None = None,
) -> Lists:
    """Per member of ``kept``: offered item ids and one reason each (``ranker``: how
    known clients without held-back offers are ranked; default :func:`next_best`)."""
    if offer.items is not None:
        given = [[i for i in offer.items if i not in rules.dropped(c)] for c in kept.clients]
        return given, [[GIVEN] * len(items) for items in given]
    if kept.targets is not None and kept.reasons is not None:
        return [[t] for t in kept.targets], [[r.text] for r in kept.reasons]
    rank = ranker or (lambda rows, k: next_best(recommender, rows, k))
    return _mixed(recommender, kept.clients, offer.next_best, rules, rank)


def next_best(recommender: HybridRecommender, rows: np.ndarray, k: int) -> Lists:
    """Next-best offers of known clients (bundle rows), ranked :data:`BATCH` at once."""
    ids: list[list[str]] = []
    reasons: list[list[str]] = []
    for start in range(0, len(rows), BATCH):
        for items in recommender.for_clients(rows[start : start + BATCH], k, OFFERS):
            ids.append([i.item_id for i in items])
            reasons.append(_reasons(items))
    return ids, reasons


def _mixed(
    recommender: HybridRecommender, clients: list[str], k: int, rules: Exclusions, rank: Ranker
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
    found = rank(rows[batched], k)
    for position, offered, said in zip(batched.tolist(), *found, strict=True):
        ids[position], reasons[position] = offered, said
    # A client the bundle never saw is ranked by what it holds back and bought only: an
    # uploaded list of new clients ranks each such pair once, not once per client.
    cold: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[list[str], list[str]]] = {}
    for position in np.flatnonzero(alone).tolist():
        client = clients[position]
        held, recent = tuple(sorted(rules.held(client))), tuple(sorted(rules.bought(client)))
        if rows[position] < 0 and (held, recent) in cold:
            ids[position], reasons[position] = cold[held, recent]
            continue
        options = RequestOptions(exclude_purchased=False, exclude=held)
        items = recommender.for_client(client, k, options=options, recent=recent)
        ids[position], reasons[position] = [i.item_id for i in items], _reasons(items)
        if rows[position] < 0:
            cold[held, recent] = ids[position], reasons[position]
    return ids, reasons


def _reasons(items: list[RankedItem]) -> list[str]:
    return [i.reasons[0].text if i.reasons else "" for i in items]
