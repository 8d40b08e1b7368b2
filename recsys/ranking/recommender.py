"""The entry points serving and evaluation share: for a client, an item, a basket."""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys._sparse import gather_rows
from recsys.errors import NotFoundError
from recsys.models import top_k
from recsys.ranking import explain
from recsys.ranking._core import RankedItem, RequestOptions
from recsys.ranking._single import OneRanked, Query, SingleRequests
from recsys.ranking.blend import MAX_K, PIN_BOOST, Candidates, blend
from recsys.ranking.sources import cap_per_group

__all__ = ["HybridRecommender", "RankedItem", "RequestOptions"]


class HybridRecommender(SingleRequests):
    """CF models, association rules, analyst rules and popularity, blended and explained.

    The batched :meth:`rank` (evaluation) lives in :class:`BlendCore`; the single
    requests serving makes, with their reasons, live here.
    """

    # -- single requests, as serving calls them ----------------------------------
    def for_client(
        self,
        client_id: str | None,
        k: int = 10,
        basket: tuple[str, ...] = (),
        options: RequestOptions | None = None,
        recent: tuple[str, ...] = (),
    ) -> list[RankedItem]:
        """Ranked, explained items for a client (unknown or ``None``: cold start).

        ``recent`` are purchases since the bundle was trained: they count as
        history at once (already bought, and folded into the CF models).
        """
        options = options or RequestOptions()
        row = self.bundle.data.clients.lookup(client_id) if client_id is not None else None
        query = self.query(row, basket, recent)
        wanted = k * 4 if options.max_per_category else k
        ranked = self.rank_one(query, min(wanted, MAX_K), options)
        items = self._explain(ranked, options)
        return self._diversify(items, options.max_per_category)[: min(k, MAX_K)]

    def query(
        self, row: int | None, basket: tuple[str, ...] = (), recent: tuple[str, ...] = ()
    ) -> Query:
        """One request's item columns: the trained history plus ``recent``, and the basket."""
        history = np.zeros(0, dtype=np.int64)
        if row is not None:  # a CSR row of the bundle: sorted, unique columns
            history = gather_rows(self.bundle.data.matrix, np.array([row]))[0].astype(np.int64)
        if recent:
            history = np.union1d(history, self.columns(recent))
        return Query(-1 if row is None else row, history, self.columns(basket), self.n_items)

    def for_basket(
        self,
        items: tuple[str, ...],
        client_id: str | None = None,
        k: int = 10,
        options: RequestOptions | None = None,
    ) -> list[RankedItem]:
        """Complete a basket, personalised when the client is known."""
        return self.for_client(client_id, k, basket=items, options=options)

    def for_item(self, item_id: str, k: int = 10) -> list[RankedItem]:
        """Items bought together with / similar to ``item_id``; unknown item: NotFoundError."""
        column = self.bundle.data.items.lookup(item_id)
        if column is None:
            raise NotFoundError(f"item_id: unknown item {item_id!r}")
        basket = np.array([column])
        sources: dict[str, Candidates] = {}
        weights = self.config.weights
        for name, model in self.cf.items():
            if weights.get(name, 0) > 0:  # a model outside the blend is not asked
                similar = model.similar_items(basket, k=self.config.candidates)
                sources[name] = (similar.items, similar.scores)
        fired = self.rules.fired_by(basket) if self.rules is not None else None
        if self.rules is not None and fired is not None and len(self.rules):
            scores = self.rules.scores_by(fired)
            scores[scores <= 0] = -np.inf
            scores[column] = -np.inf
            sources["rules"] = top_k(scores[None, :], self.config.candidates)
        blocked = np.zeros((1, self.n_items), dtype=bool)
        blocked[0, column] = True
        ranked = blend(sources, self.config.weights, self.n_items, min(k, MAX_K), blocked)
        one = OneRanked(ranked, basket, fired, np.zeros(0, dtype=np.int64))
        return self._explain(one, RequestOptions(), related=True)

    def _explain(
        self, one: OneRanked, options: RequestOptions, related: bool = False
    ) -> list[RankedItem]:
        """Reasons for one request, from what ranking it computed."""
        ranked, everything = one.blended, one.everything
        shown = ranked.items[0][ranked.items[0] >= 0]
        rules: dict[int, int] = {}
        if one.fired_rules is not None and self.rules is not None:
            rules = self.rules.best_rules(one.fired_rules, shown)
        items = ranked.items[0].tolist()
        basis = {
            name: explain.because_you_bought(model, shown, everything)
            for name, model in self.cf.items()
            if name in ranked.parts
        }
        parts = {name: part[0].tolist() for name, part in ranked.parts.items()}
        context = (basis, one.fired_analyst, rules, related, options.segment)
        out = []
        for position, score in enumerate(ranked.scores[0].tolist()):
            item = items[position]
            if item < 0:
                break
            shares = {name: part[position] for name, part in parts.items()}
            if score >= PIN_BOOST:
                shares["analyst"] = np.inf  # a pinned offer: the rule is the reason
            order = sorted((n for n, s in shares.items() if s > 0), key=lambda n: -shares[n])
            reasons = [self._reason(n, item, context) for n in order]
            found = [r for r in reasons if r]
            out.append(RankedItem(self.id_list[item], self.title_list[item], score, found))
        return out

    def _reason(self, source: str, item: int, context: tuple[Any, ...]) -> explain.Reason | None:
        """One source's reason; ``context`` = (CF basis, analyst rules fired, best
        association rule per item, related?, segment) of the request."""
        basis, analyst, rules, related, segment = context
        if source in self.cf:
            nearest = basis.get(source, {}).get(item, [])
            return explain.cf_reason(source, self.id_list, self.labels, nearest, related)
        if source == "rules" and self.rules is not None:
            rule = rules.get(item)
            return (
                None
                if rule is None
                else explain.rule_reason(self.rules, rule, item, self.id_list, self.labels)
            )
        if source == "analyst" and self.cross_sell is not None:
            return explain.analyst_reason(self.cross_sell, analyst, self.id_list[item])
        return explain.popular_reason(self.buyers[item], self._segment_count(item, segment))

    def _segment_count(self, item: int, segment: str | None) -> tuple[str, int] | None:
        if segment is None or segment not in self.segment_buyers:
            return None
        return segment, int(self.segment_buyers[segment][item])

    def _diversify(self, items: list[RankedItem], cap: int | None) -> list[RankedItem]:
        """Keep at most ``cap`` items per category, in rank order."""
        if not cap:
            return items
        lookup = self.bundle.data.items.lookup
        return cap_per_group(
            items, [str(self.categories[lookup(i.item_id) or 0]) for i in items], cap
        )
