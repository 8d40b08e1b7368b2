"""The entry points serving and evaluation share: for a client, an item, a basket."""

from __future__ import annotations

from datetime import date

import numpy as np
import scipy.sparse as sp

from recsys.errors import NotFoundError
from recsys.ranking import explain
from recsys.ranking._core import BlendCore, RankedItem, RequestOptions
from recsys.ranking.blend import MAX_K, PIN_BOOST, Blended, Candidates, blend
from recsys.ranking.sources import cap_per_group, rule_candidates

__all__ = ["HybridRecommender", "RankedItem", "RequestOptions"]


class HybridRecommender(BlendCore):
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
        rows = np.array([-1 if row is None else row])
        history = ((self._history(row) + self._vector(recent)) > 0).astype(np.float32).tocsr()
        cart = self._vector(basket)
        wanted = k * 4 if options.max_per_category else k
        ranked, everything, fired = self.rank(rows, history, cart, min(wanted, MAX_K), options)
        items = self._explain(ranked, everything, fired, options)
        return self._diversify(items, options.max_per_category)[: min(k, MAX_K)]

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
        basket = self._vector((item_id,))
        sources: dict[str, Candidates] = {}
        for name, model in self.cf.items():
            similar = model.similar_items(np.array([column]), k=self.config.candidates)
            sources[name] = (similar.items, similar.scores)
        fired = self.rules.fired(basket) if self.rules is not None else None
        if self.rules is not None and fired is not None and len(self.rules):
            sources["rules"] = rule_candidates(self.rules, fired, self.config.candidates, basket)
        blocked = basket.toarray() > 0
        ranked = blend(sources, self.config.weights, self.n_items, min(k, MAX_K), blocked)
        return self._explain(ranked, basket, fired, RequestOptions(), related=True)

    def _history(self, row: int | None) -> sp.csr_matrix:
        if row is None:
            return sp.csr_matrix((1, self.n_items), dtype=np.float32)
        return self.bundle.data.matrix[[row]].astype(np.float32)

    def _vector(self, ids: tuple[str, ...]) -> sp.csr_matrix:
        """A one-row basket of the known ids (unknown ones are cold, ignored)."""
        if not ids:
            return sp.csr_matrix((1, self.n_items), dtype=np.float32)
        columns = self.bundle.data.items.index(list(ids))
        columns = np.unique(columns[columns >= 0])
        data = np.ones(len(columns), dtype=np.float32)
        return sp.csr_matrix(
            (data, (np.zeros(len(columns), int), columns)), shape=(1, self.n_items)
        )

    def _explain(
        self,
        ranked: Blended,
        everything: sp.csr_matrix,
        fired_by_basket: sp.csr_matrix | None,
        options: RequestOptions,
        related: bool = False,
    ) -> list[RankedItem]:
        """Reasons for one request; ``everything`` = history ∪ basket, one row."""
        fired = self._fired_analyst(everything, options)
        fired_rules = None if fired_by_basket is None else fired_by_basket.indices
        shown = ranked.items[0][ranked.items[0] >= 0]
        basis = {
            name: explain.because_you_bought(model, shown, everything.indices)
            for name, model in self.cf.items()
            if name in ranked.parts
        }
        out = []
        for position, item in enumerate(ranked.items[0]):
            if item < 0:
                break
            shares = {name: part[0, position] for name, part in ranked.parts.items()}
            if ranked.scores[0, position] >= PIN_BOOST:
                shares["analyst"] = np.inf  # a pinned offer: the rule is the reason
            order = sorted((n for n, s in shares.items() if s > 0), key=lambda n: -shares[n])
            reasons = [
                self._reason(n, int(item), basis, (fired, fired_rules), related, options.segment)
                for n in order
            ]
            out.append(
                RankedItem(
                    str(self.ids[item]),
                    str(self.titles[item]),
                    float(ranked.scores[0, position]),
                    [r for r in reasons if r],
                )
            )
        return out

    def _fired_analyst(self, basket: sp.csr_matrix, options: RequestOptions) -> list[int]:
        if self.cross_sell is None:
            return []
        day = options.day or date.today()
        hits = ((basket > 0).astype(np.float32) @ self.triggers).toarray()[0] > 0
        return [
            r
            for r, rule in enumerate(self.cross_sell.rules)
            if hits[r] and rule.applies(day, options.segment, options.country)
        ]

    def _reason(
        self,
        source: str,
        item: int,
        basis: dict[str, dict[int, list[int]]],
        fired: tuple[list[int], np.ndarray | None],
        related: bool,
        segment: str | None = None,
    ) -> explain.Reason | None:
        """One source's reason; ``fired`` = (analyst rules, association rules) of the request."""
        if source in self.cf:
            nearest = basis.get(source, {}).get(item, [])
            return explain.cf_reason(source, self.ids, self.titles, nearest, related)
        if source == "rules" and self.rules is not None and fired[1] is not None:
            return explain.rule_reason(self.rules, fired[1], item, self.ids, self.titles)
        if source == "analyst" and self.cross_sell is not None:
            return explain.analyst_reason(self.cross_sell, fired[0], str(self.ids[item]))
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
