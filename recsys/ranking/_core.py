"""The batched core of the blend: sources, filters and ranking for many requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.ranking import explain
from recsys.ranking.blend import BlendConfig, Blended, Candidates, blend
from recsys.ranking.sources import (
    analyst_candidates,
    blocked_mask,
    cf_candidates,
    offer_matrix,
    popular_candidates,
    rule_candidates,
    segment_popularity,
)
from recsys.rules.cross_sell import CrossSellRules
from recsys.rules.index import RuleIndex

__all__ = ["BlendCore", "Ranked", "RankedItem", "RequestOptions"]


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


class Ranked(NamedTuple):
    """A blended batch with the inputs its reasons need."""

    blended: Blended
    everything: sp.csr_matrix
    fired_rules: sp.csr_matrix | None


@dataclass(frozen=True)
class RankedItem:
    """One recommended item with its blended score and reasons."""

    item_id: str
    title: str
    score: float
    reasons: list[explain.Reason] = field(default_factory=list)


class BlendCore:
    """CF models, association rules, analyst rules and popularity, blended (batched)."""

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
        # Python lists for the per-item strings of reasons (numpy scalars are slow there).
        self.id_list: list[str] = self.ids.tolist()
        self.title_list: list[str] = [str(t) for t in self.titles.tolist()]
        self.labels = [t or i for t, i in zip(self.title_list, self.id_list, strict=True)]
        self.categories = np.asarray(bundle.categories)
        self.n_items = len(self.ids)
        bundle.data.matrix.sort_indices()  # single requests read rows as sorted columns
        self.buyers = np.asarray((bundle.data.matrix > 0).sum(axis=0)).ravel().astype(float)
        self.popular_order = np.argsort(-self.buyers, kind="stable")
        self.segment_buyers: dict[str, np.ndarray] = {}
        self.segment_order: dict[str, np.ndarray] = {}
        self.cf = {n: m for n, m in bundle.models.items() if m.personal}
        if cross_sell is not None:
            index = {str(i): n for n, i in enumerate(self.ids)}
            self.triggers = cross_sell.triggers(bundle.data.items, {})
            self.offers = offer_matrix(cross_sell, index, self.n_items)

    # -- batched core, used by evaluation directly -------------------------------
    def sources(
        self,
        rows: np.ndarray,
        history: sp.csr_matrix,
        everything: sp.csr_matrix,
        options: RequestOptions,
        fired_rules: sp.csr_matrix | None = None,
    ) -> dict[str, Candidates]:
        """Every enabled source's candidates for a batch of requests.

        ``everything`` is history ∪ basket (binary); ``fired_rules`` the association
        rules it fires, when the caller has them already.
        """
        n, weights = self.config.candidates, self.config.weights
        seen = history if options.exclude_purchased else None
        out: dict[str, Candidates] = {}
        # A client with neither a past nor a basket is cold: popularity and
        # analyst rules speak for it, the CF models have nothing to say.
        cold = (rows < 0) & (np.diff(everything.indptr) == 0)
        for name, model in self.cf.items():
            if weights.get(name, 0) > 0:
                items, scores = cf_candidates(model, rows, everything, n, options.exclude_purchased)
                out[name] = (np.where(cold[:, None], -1, items), scores)
        if self.rules is not None and len(self.rules) and weights.get("rules", 0) > 0:
            if fired_rules is None:
                fired_rules = self.rules.fired(everything)
            out["rules"] = rule_candidates(self.rules, fired_rules, n, seen)
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
        self.segment_order = {
            name: np.argsort(-buyers, kind="stable") for name, buyers in self.segment_buyers.items()
        }

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
    ) -> Ranked:
        """Blend, filter and rank for a batch of (client row, history, basket).

        Also returns history ∪ basket and the rules it fired, computed once here
        and reused by the reasons.
        """
        everything = ((history + basket) > 0).astype(np.float32).tocsr()
        fired = self.rules.fired(everything) if self.rules is not None else None
        blocked = self._blocked(history, basket, options)
        pinned = self._pinned(everything, options)
        sources = self.sources(rows, history, everything, options, fired)
        ranked = blend(sources, self.config.weights, self.n_items, k, blocked, pinned)
        return Ranked(ranked, everything, fired)

    def _blocked(
        self, history: sp.csr_matrix, basket: sp.csr_matrix, o: RequestOptions
    ) -> np.ndarray:
        excluded = (*o.exclude, *o.out_of_stock)
        return blocked_mask(
            self.bundle.data.items,
            self.categories,
            (history, basket),
            o.exclude_purchased,
            excluded,
            o.category,
        )

    def _pinned(self, baskets: sp.csr_matrix, o: RequestOptions) -> np.ndarray | None:
        if self.cross_sell is None or not any(r.pinned for r in self.cross_sell.rules):
            return None
        day = o.day or date.today()
        keep = np.array(
            [r.pinned and r.applies(day, o.segment, o.country) for r in self.cross_sell.rules]
        )
        fired = (((baskets > 0).astype(np.float32) @ self.triggers).toarray() > 0) & keep[None, :]
        return (sp.csr_matrix(fired.astype(np.float32)) @ self.offers).toarray() > 0
