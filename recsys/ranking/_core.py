"""The blend's core: its sources, filters and ranking, for a batch or one request.

Both shapes run the same sources (:mod:`recsys.ranking.sources`) and the same
:func:`~recsys.ranking.blend.blend` on sparse ``(request, item)`` keys; only how a
request is held differs (sparse rows for a batch, sorted item columns for one).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from recsys._sparse import row_keys
from recsys.bundle import Bundle
from recsys.catalogue import ItemFacts
from recsys.ranking import explain
from recsys.ranking._memo import Memo, memo_key, read_only, with_options
from recsys.ranking.blend import BlendConfig, Blended, Blocking, Candidates, blend
from recsys.ranking.options import RequestOptions, Today, utc_today
from recsys.ranking.sources import (
    AnalystSource,
    Batch,
    CFSource,
    PopularSource,
    Query,
    RepeatSource,
    RulesSource,
    Source,
)
from recsys.rules.cross_sell import CrossSellRules
from recsys.rules.index import RuleIndex

__all__ = ["BlendCore", "OneRanked", "Ranked", "RankedItem", "RequestOptions", "as_row"]

_NONE = np.zeros(0, dtype=np.int64)
_Kept = tuple[Query, dict[str, Candidates], dict[int, tuple[explain.Reason, ...]] | None]
"""What the memo keeps of a request: the query with its fired rules, the sources'
candidates, and the reasons of the items explained so far."""


class Ranked(NamedTuple):
    """A blended batch with the inputs its reasons need."""

    blended: Blended
    everything: sp.csr_matrix
    fired_rules: sp.csr_matrix | None


class OneRanked(NamedTuple):
    """One blended request, and the request its sources saw (for the reasons)."""

    blended: Blended
    query: Query
    explained: dict[int, tuple[explain.Reason, ...]] | None = None
    """Reasons of the items requests of the same memo entry explained (filled as they
    are): the same sources saw the same request, so an item's reasons are the same."""


@dataclass(frozen=True)
class RankedItem:
    """One recommended item with its blended score and reasons."""

    item_id: str
    title: str
    score: float
    reasons: list[explain.Reason] = field(default_factory=list)


class BlendCore:
    """CF models, association rules, analyst rules and popularity, blended.

    ``today`` is the clock of a request that names no day (serving passes the
    service's one clock; default: the UTC date): the core fills ``options.day`` from
    it, so the repeat and analyst sources read one day and never a clock of their own.
    ``memo``: how many requests' candidates :meth:`rank_one` keeps for the next request
    the sources see alike (:mod:`recsys.ranking._memo`; 0, the default: none).
    """

    def __init__(
        self,
        bundle: Bundle,
        rules: RuleIndex | None = None,
        cross_sell: CrossSellRules | None = None,
        config: BlendConfig | None = None,
        today: Today = utc_today,
        memo: int = 0,
    ) -> None:
        self.bundle, self.rules, self.cross_sell = bundle, rules, cross_sell
        self.memo: Memo[_Kept] = Memo(memo)
        self.config = config or BlendConfig()
        self.today = today
        self.ids = bundle.data.items.ids
        # Python lists for the per-item strings of reasons (numpy scalars are slow
        # there), kept in step with the catalogue (titles and categories win there).
        categories = bundle.categories if bundle.categories is not None else [""] * len(self.ids)
        self.facts = ItemFacts(self.ids.tolist(), bundle.titles.tolist(), list(categories))
        self.id_list, self.title_list = self.facts.ids, self.facts.titles
        self.labels, self.categories = self.facts.labels, self.facts.categories
        self.n_items = len(self.ids)
        bundle.data.matrix.sort_indices()  # single requests read rows as sorted columns
        self.popular = PopularSource(bundle.data)
        self.buyers = self.popular.buyers
        self.cf = {n: m for n, m in bundle.models.items() if m.personal}
        self.analyst = None if cross_sell is None else AnalystSource(cross_sell, bundle.data.items)
        self.sources = self._sources()
        self.facts.relabelled = self._relabel

    def _relabel(self) -> None:
        for source in self.sources.values():
            source.relabel()
        self.memo.clear()  # kept reasons name items by their old titles

    def _sources(self) -> dict[str, Source]:
        """The sources with a weight in the blend, by name."""
        found: list[Source] = [
            CFSource(name, model, self.id_list, self.labels) for name, model in self.cf.items()
        ]
        if self.rules is not None and len(self.rules):
            found.append(RulesSource(self.rules, self.id_list, self.labels))
        if self.analyst is not None:
            found.append(self.analyst)
        if self.bundle.repeats is not None:
            found.append(RepeatSource(self.bundle.repeats, self.labels, self.config.rebuy))
        found.append(self.popular)
        return {s.name: s for s in found if self.config.weights.get(s.name, 0) > 0}

    def set_segments(self, segments: dict[str, str]) -> None:
        """Client id → segment: popularity within a segment for its clients' requests."""
        self.popular.set_segments(segments)
        self.memo.clear()  # a segment's popular candidates changed

    def share_segments(self, other: BlendCore) -> None:
        """Use ``other``'s segment popularity (same bundle: no recount)."""
        self.popular.segment_buyers = other.popular.segment_buyers
        self.popular.segment_order = other.popular.segment_order
        self.memo.clear()

    def dated(self, options: RequestOptions) -> RequestOptions:
        """``options`` with a day: the one given, else today by the core's clock."""
        return options if options.day is not None else replace(options, day=self.today())

    def rank(
        self,
        rows: np.ndarray,
        history: sp.csr_matrix,
        basket: sp.csr_matrix,
        k: int,
        options: RequestOptions,
        recent: sp.csr_matrix | None = None,
    ) -> Ranked:
        """Blend, filter and rank for a batch of (client row, history, basket);
        ``recent``: rows × items bought since training (history too)."""
        options = self.dated(options)
        if recent is not None:
            recent = _binary(recent)
            history = _binary(history + recent)
        everything = _binary(history + basket)
        fired = self.rules.fired(everything) if self.rules is not None else None
        batch = Batch(rows, history, everything, options, fired, recent)
        n = self.config.candidates
        found = {name: source.batch(batch, n) for name, source in self.sources.items()}
        keys = self._blocked(history, basket, options)
        pinned = None
        if "analyst" in self.sources and self.analyst is not None:
            pinned = self.analyst.pinned_batch(batch)
        weights = self.config.weights
        ranked = blend(found, weights, self.n_items, k, self._blocking(keys, options), pinned)
        return Ranked(ranked, everything, fired)

    def _blocked(
        self, history: sp.csr_matrix, basket: sp.csr_matrix, options: RequestOptions
    ) -> np.ndarray:
        """Sorted ``row × n_items + item`` keys a batch may not offer: the basket, and
        the history where bought items are excluded."""
        blocked = (basket + history if options.exclude_purchased else basket).tocsr()
        blocked.eliminate_zeros()
        blocked.sort_indices()
        return row_keys(blocked.indptr, blocked.indices, self.n_items)

    def rank_one(self, query: Query, k: int) -> OneRanked:
        """Blend, filter and rank one request (as :meth:`rank` on a batch of one)."""
        if query.options.day is None:  # serving's queries come dated (one clock read)
            query = replace(query, options=self.dated(query.options))
        query, found, explained = self._candidates(query)
        o = query.options
        keys = query.everything if o.exclude_purchased else query.basket
        pinned = None
        if "analyst" in self.sources and self.analyst is not None:
            pinned = self.analyst.pinned_one(query)
        blocking = self._blocking(keys, o)
        if o.bought_only and not o.exclude_purchased:
            blocking = _bought_only(blocking, query.history)
        ranked = blend(found, self.config.weights, self.n_items, k, blocking, pinned)
        return OneRanked(ranked, query, explained)

    def _candidates(self, query: Query) -> _Kept:
        """The query with the rules it fires, each source's candidates for it, and the
        reasons explained so far (``None`` without a memo): kept in the memo for the next
        request its sources see alike (:func:`memo_key`)."""
        key = memo_key(query) if self.memo.size else None
        kept = None if key is None else self.memo.get(key)
        if kept is not None:
            return with_options(kept[0], query.options), kept[1], kept[2]
        query = self._fired(query)
        n = self.config.candidates
        found = {name: as_row(source.one(query, n)) for name, source in self.sources.items()}
        if key is None:
            return query, found, None
        read_only(query, found)
        fresh: _Kept = (query, found, {})
        self.memo.put(key, fresh)
        return fresh

    def _fired(self, query: Query) -> Query:
        """The query with the association and analyst rules its items fire."""
        rules = self.rules.fired_by(query.everything) if self.rules is not None else None
        analyst = _NONE if self.analyst is None else self.analyst.fired_by(query)
        return replace(query, fired_rules=rules, fired_analyst=analyst)

    def _blocking(self, keys: np.ndarray, o: RequestOptions) -> Blocking:
        columns = self.facts.unavailable
        if o.exclude or o.out_of_stock:
            asked = self.columns((*o.exclude, *o.out_of_stock))
            # Ids the bundle does not know block nothing: no merge for them.
            columns = np.union1d(columns, asked) if asked.size else columns
        if not o.only:
            return Blocking(keys, columns)
        facts, only = self.facts, o.only
        return Blocking(keys, columns, lambda items: facts.allowed(items, only))

    def columns(self, ids: tuple[str, ...]) -> np.ndarray:
        """Sorted unique item columns of the known ``ids`` (unknown ones are cold, ignored)."""
        if not ids:
            return _NONE
        lookup = self.bundle.data.items.lookup
        found = (lookup(i) for i in ids)
        return np.unique(np.fromiter((c for c in found if c is not None), dtype=np.int64))


def _binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """1 where ``matrix`` is positive (float32 CSR)."""
    return (matrix > 0).astype(np.float32).tocsr()


def as_row(candidates: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One request's compact candidates as a batch of one row."""
    items, scores = candidates
    return items[None, :], scores[None, :]


def _bought_only(blocking: Blocking, bought: np.ndarray) -> Blocking:
    """``blocking`` that also keeps out every item the client has not bought."""
    earlier = blocking.allowed

    def allowed(items: np.ndarray) -> np.ndarray:
        mask = np.isin(items, bought)
        return mask if earlier is None else mask & earlier(items)

    return replace(blocking, allowed=allowed)
