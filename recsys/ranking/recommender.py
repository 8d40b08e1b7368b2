"""The entry points serving and evaluation share: for a client, an item, a basket."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.errors import NotFoundError
from recsys.ranking import explain
from recsys.ranking.blend import MAX_K, PIN_BOOST, BlendConfig, Blended, Candidates, blend
from recsys.ranking.sources import (
    analyst_candidates,
    cap_per_group,
    cf_candidates,
    offer_matrix,
    popular_candidates,
    rule_candidates,
    segment_popularity,
)
from recsys.rules.cross_sell import CrossSellRules
from recsys.rules.index import RuleIndex

__all__ = ["HybridRecommender", "RankedItem", "RequestOptions"]


@dataclass(frozen=True)
class RequestOptions:
    """Filters and context of one request."""

    exclude_purchased: bool = True
    exclude: tuple[str, ...] = ()
    out_of_stock: tuple[str, ...] = ()
    category: str | None = None
    max_per_category: int | None = None
    day: date | None = None
    segment: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class RankedItem:
    """One recommended item with its blended score and reasons."""

    item_id: str
    title: str
    score: float
    reasons: list[explain.Reason] = field(default_factory=list)


class HybridRecommender:
    """CF models, association rules, analyst rules and popularity, blended and explained."""

    def __init__(
        self,
        bundle: Bundle,
        rules: RuleIndex | None = None,
        cross_sell: CrossSellRules | None = None,
        config: BlendConfig | None = None,
    ) -> None:
        self.bundle, self.rules, self.cross_sell = bundle, rules, cross_sell
        self.config = config or BlendConfig()
        self.ids, self.titles = bundle.data.items.ids, bundle.titles
        self.categories = np.asarray(bundle.categories)
        self.n_items = len(self.ids)
        self.buyers = np.asarray((bundle.data.matrix > 0).sum(axis=0)).ravel().astype(float)
        self.popular_order = np.argsort(-self.buyers, kind="stable")
        self.segment_buyers: dict[str, np.ndarray] = {}
        self.cf = {n: m for n, m in bundle.models.items() if n in ("als", "itemknn", "bpr")}
        if cross_sell is not None:
            index = {str(i): n for n, i in enumerate(self.ids)}
            self.triggers = cross_sell.triggers(bundle.data.items, {})
            self.offers = offer_matrix(cross_sell, index, self.n_items)

    # -- batched core, used by evaluation directly -------------------------------
    def sources(
        self,
        rows: np.ndarray,
        history: sp.csr_matrix,
        basket: sp.csr_matrix,
        options: RequestOptions,
    ) -> dict[str, Candidates]:
        """Every enabled source's candidates for a batch of requests."""
        n, weights = self.config.candidates, self.config.weights
        seen = history if options.exclude_purchased else None
        everything = ((history + basket) > 0).astype(np.float32).tocsr()
        out: dict[str, Candidates] = {}
        # A client with neither a past nor a basket is cold: popularity and
        # analyst rules speak for it, the CF models have nothing to say.
        cold = (rows < 0) & (np.diff(everything.indptr) == 0)
        for name, model in self.cf.items():
            if weights.get(name, 0) > 0:
                items, scores = cf_candidates(model, rows, everything, n, options.exclude_purchased)
                out[name] = (np.where(cold[:, None], -1, items), scores)
        if self.rules is not None and len(self.rules) and weights.get("rules", 0) > 0:
            out["rules"] = rule_candidates(self.rules, everything, n, seen)
        if self.cross_sell is not None and weights.get("analyst", 0) > 0:
            context = (options.day or date.today(), options.segment, options.country)
            out["analyst"] = analyst_candidates(
                self.cross_sell, self.triggers, everything, self.offers, context, n, seen
            )
        if weights.get("popular", 0) > 0:
            out["popular"] = self._popular(len(rows), n, seen, options.segment)
        return out

    def set_segments(self, segments: dict[str, str]) -> None:
        """Client id → segment: popularity within a segment for its clients' requests."""
        self.segment_buyers = segment_popularity(self.bundle.data, self.buyers, segments)

    def _popular(
        self, n_rows: int, n: int, seen: sp.csr_matrix | None, segment: str | None
    ) -> Candidates:
        if segment in self.segment_buyers:
            return popular_candidates(self.segment_buyers[segment], n_rows, n, seen)
        return popular_candidates(self.buyers, n_rows, n, seen, self.popular_order)

    def rank(
        self,
        rows: np.ndarray,
        history: sp.csr_matrix,
        basket: sp.csr_matrix,
        k: int,
        options: RequestOptions,
    ) -> Blended:
        """Blend, filter and rank for a batch of (client row, history, basket)."""
        blocked = self._blocked(history, basket, options)
        pinned = self._pinned(history + basket, options)
        sources = self.sources(rows, history, basket, options)
        return blend(sources, self.config.weights, self.n_items, k, blocked, pinned)

    def _blocked(
        self, history: sp.csr_matrix, basket: sp.csr_matrix, o: RequestOptions
    ) -> np.ndarray:
        blocked = (basket.toarray() > 0) | ((history.toarray() > 0) & o.exclude_purchased)
        for ids in (o.exclude, o.out_of_stock):
            if not ids:
                continue
            columns = self.bundle.data.items.index(list(ids))
            blocked[:, columns[columns >= 0]] = True
        if o.category is not None:
            blocked |= (self.categories != o.category)[None, :]
        return blocked

    def _pinned(self, baskets: sp.csr_matrix, o: RequestOptions) -> np.ndarray | None:
        if self.cross_sell is None or not any(r.pinned for r in self.cross_sell.rules):
            return None
        day = o.day or date.today()
        keep = np.array(
            [r.pinned and r.applies(day, o.segment, o.country) for r in self.cross_sell.rules]
        )
        fired = (((baskets > 0).astype(np.float32) @ self.triggers).toarray() > 0) & keep[None, :]
        return (sp.csr_matrix(fired.astype(np.float32)) @ self.offers).toarray() > 0

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
        ranked = self.rank(rows, history, cart, min(wanted, MAX_K), options)
        items = self._explain(ranked, history, cart, options)
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
        if self.rules is not None and len(self.rules):
            sources["rules"] = rule_candidates(self.rules, basket, self.config.candidates, basket)
        blocked = basket.toarray() > 0
        ranked = blend(sources, self.config.weights, self.n_items, min(k, MAX_K), blocked)
        empty = sp.csr_matrix((1, self.n_items))
        return self._explain(ranked, empty, basket, RequestOptions(), related=True)

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
        history: sp.csr_matrix,
        cart: sp.csr_matrix,
        options: RequestOptions,
        related: bool = False,
    ) -> list[RankedItem]:
        everything = ((history + cart) > 0).astype(np.float32).tocsr()
        fired = self._fired_analyst(everything, options)
        fired_rules = self.rules.fired(everything).indices if self.rules is not None else None
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
