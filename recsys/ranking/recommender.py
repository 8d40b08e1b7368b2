"""The entry points serving and evaluation share: for a client, an item, a basket."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from recsys.errors import NotFoundError
from recsys.ranking import explain
from recsys.ranking._core import BlendCore, OneRanked, RankedItem, RequestOptions, as_row
from recsys.ranking.blend import MAX_K, PIN_BOOST, Blended, Candidates, blend
from recsys.ranking.new_items import favourite_categories
from recsys.ranking.sources import Query, Shown

__all__ = ["HybridRecommender", "RankedItem", "RequestOptions"]

_NONE = np.zeros(0, dtype=np.int64)


class HybridRecommender(BlendCore):
    """CF models, association rules, analyst rules and popularity, blended and explained.

    The batched :meth:`rank` (evaluation) and :meth:`rank_one` live in
    :class:`BlendCore`; the single requests serving makes, with their reasons, here.
    """

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
        query = self.query(row, basket, recent, options)
        wanted = k * 4 if options.max_per_category else k
        items = self._explain(self.rank_one(query, min(wanted, MAX_K)))
        return self._diversify(items, options.max_per_category)[: min(k, MAX_K)]

    def query(
        self,
        row: int | None,
        basket: tuple[str, ...] = (),
        recent: tuple[str, ...] = (),
        options: RequestOptions | None = None,
    ) -> Query:
        """One request's item columns: the trained history plus ``recent`` (bought
        since training: one more purchase day for re-purchases), and the basket; dated
        by the clock."""
        history, fresh = _NONE, self.columns(recent)
        if row is not None:  # a CSR row of the bundle: sorted, unique columns (a slice)
            matrix = self.bundle.data.matrix
            start, end = matrix.indptr[row], matrix.indptr[row + 1]
            history = matrix.indices[start:end].astype(np.int64)
        history = np.union1d(history, fresh) if fresh.size else history
        options = self.dated(options or RequestOptions())
        return Query(
            -1 if row is None else row, history, self.columns(basket), options, recent=fresh
        )

    def favourite_categories(
        self, client_id: str | None, recent: tuple[str, ...] = (), top: int = 2
    ) -> list[str]:
        """The ``top`` categories the client bought most often (none when unknown)."""
        row = self.bundle.data.clients.lookup(client_id) if client_id is not None else None
        if row is None and not recent:
            return []
        return favourite_categories(self.categories, self.query(row, (), recent).history, top)

    def for_clients(
        self,
        rows: np.ndarray,
        k: int = 10,
        options: RequestOptions | None = None,
        recent: Sequence[tuple[str, ...]] | None = None,
    ) -> list[list[RankedItem]]:
        """Ranked, explained lists of many known clients (bundle rows): what
        :meth:`for_client` answers for each without a basket (``recent``: per row)."""
        options = self.dated(options or RequestOptions())  # one day for ranks and reasons
        ranked = self.rank_clients(rows, k, options, recent)
        return [
            self.explain_row(row, ranked.row(i), options, recent[i] if recent else ())
            for i, row in enumerate(np.asarray(rows).tolist())
        ]

    def rank_clients(
        self,
        rows: np.ndarray,
        k: int = 10,
        options: RequestOptions | None = None,
        recent: Sequence[tuple[str, ...]] | None = None,
    ) -> Blended:
        """One batched ranking (:meth:`rank`) of known clients (bundle rows), without
        reasons: what precompute stores. ``recent``: per row, the ids bought since
        training (as :meth:`for_client` takes them)."""
        rows = np.asarray(rows, dtype=np.int64)
        history = (self.bundle.data.matrix[rows] > 0).astype(np.float32).tocsr()
        empty = sp.csr_matrix(history.shape, dtype=np.float32)
        fresh = None if recent is None else self._bought(recent, history.shape)
        options = options or RequestOptions()
        return self.rank(rows, history, empty, min(k, MAX_K), options, fresh).blended

    def _bought(self, ids: Sequence[tuple[str, ...]], shape: tuple[int, int]) -> sp.csr_matrix:
        """Rows × items, 1 where a row's ``ids`` hold the item (unknown ids: cold, left out)."""
        columns = [self.columns(row) for row in ids]
        rows = np.repeat(np.arange(len(columns)), [c.size for c in columns])
        ones = np.ones(rows.size, dtype=np.float32)
        return sp.csr_matrix((ones, (rows, np.concatenate([_NONE, *columns]))), shape=shape)

    def explain_row(
        self, row: int, ranked: Blended, options: RequestOptions, recent: tuple[str, ...] = ()
    ) -> list[RankedItem]:
        """The explained list of one ranked known client (a row of :meth:`rank_clients`,
        as stored): its reasons are computed now, from the bundle."""
        query = self.query(row, (), recent, options)
        return self._explain(OneRanked(ranked, self._fired(query)))

    def for_basket(
        self,
        items: tuple[str, ...],
        client_id: str | None = None,
        k: int = 10,
        options: RequestOptions | None = None,
    ) -> list[RankedItem]:
        """Complete a basket, personalised when the client is known."""
        return self.for_client(client_id, k, basket=items, options=options)

    def for_item(
        self, item_id: str, k: int = 10, options: RequestOptions | None = None
    ) -> list[RankedItem]:
        """Items bought together with / similar to ``item_id`` (``options``: its filters
        and exclusions); an item the bundle does not know: NotFoundError."""
        column = self.bundle.data.items.lookup(item_id)
        if column is None:
            raise NotFoundError(f"item_id: unknown item {item_id!r}")
        basket = np.array([column])
        options = replace(self.dated(options or RequestOptions()), exclude_purchased=False)
        query = self._fired(Query(-1, basket, basket, options))
        n, sources = self.config.candidates, dict[str, Candidates]()
        for name, source in self.sources.items():
            found = source.related(query, n)
            if found is not None:
                sources[name] = as_row(found)
        blocking = self._blocking(basket, options)
        ranked = blend(sources, self.config.weights, self.n_items, min(k, MAX_K), blocking)
        return self._explain(OneRanked(ranked, query), related=True)

    def _explain(self, one: OneRanked, related: bool = False) -> list[RankedItem]:
        """Reasons for one request, from what ranking it computed: each source explains
        only the items it contributed to (pinned items: the analyst rule); items an
        earlier request of the same memo entry explained keep the reasons it gave."""
        ranked = one.blended
        items = [i for i in ranked.items[0].tolist() if i >= 0]
        scores = ranked.scores[0].tolist()
        shares = self._shares(ranked, scores)
        kept = one.explained  # None without a memo: every item explained, nothing kept
        asked = [True] * len(items) if kept is None else [i not in kept for i in items]
        shown = Shown(ranked.items[0], ranked, one.query, related)
        mask = None if kept is None else np.array(asked, dtype=bool)
        reasons = self._reasons(shown, shares, mask) if any(asked) else {}
        out = []
        for position, item in enumerate(items):
            if not asked[position]:
                said = list(kept[item])  # type: ignore[index]
            else:
                said = _said(reasons, shares, position, item)
                if kept is not None:
                    kept[item] = tuple(said)
            title = self.title_list[item]
            out.append(RankedItem(self.id_list[item], title, scores[position], said))
        return out

    def _shares(self, ranked: Blended, scores: list[float]) -> dict[str, list[float]]:
        """Each source's share per listed position (a pinned offer: the analyst rule's,
        whose rule is then the reason)."""
        shares = {name: part[0].tolist() for name, part in ranked.parts.items()}
        if "analyst" in self.sources:
            pinned = [np.inf if s >= PIN_BOOST else 0.0 for s in scores]
            shares["analyst"] = [
                max(a, b) for a, b in zip(shares.get("analyst", pinned), pinned, strict=True)
            ]
        return shares

    def _reasons(
        self, shown: Shown, shares: dict[str, list[float]], asked: np.ndarray | None = None
    ) -> dict[str, dict]:  # type: ignore[type-arg]
        """Each source's reasons for the listed items it has a share in (``asked``: at
        the positions marked only)."""
        if not shares:
            return {}
        listed = shown.items[: len(next(iter(shares.values())))]
        has = (np.array(list(shares.values())) > 0) & (listed >= 0)  # sources × positions
        if asked is not None:  # the listed items come first: -1 only after them
            has[:, : asked.size] &= asked
        out = {}
        for name, mask in zip(shares, has, strict=True):
            mine = listed[mask]
            shown_mine = Shown(mine, shown.blended, shown.query, shown.related)
            out[name] = self.sources[name].reasons(shown_mine) if mine.size else {}
        return out

    def _diversify(self, items: list[RankedItem], cap: int | None) -> list[RankedItem]:
        """Keep at most ``cap`` items per category, in rank order."""
        if not cap:
            return items
        lookup = self.bundle.data.items.lookup
        groups = [str(self.categories[lookup(i.item_id) or 0]) for i in items]
        return _cap_per_group(items, groups, cap)


def _first(pair: tuple[float, str]) -> float:
    return pair[0]


def _said(
    reasons: dict[str, dict],  # type: ignore[type-arg]
    shares: dict[str, list[float]],
    position: int,
    item: int,
) -> list[explain.Reason]:
    """The reasons of the item at ``position``: its sources by falling share (a stable
    sort: ties in the blend's order)."""
    mine = [(-share[position], n) for n, share in shares.items() if share[position] > 0]
    mine.sort(key=_first)
    return [reasons[n][item] for _, n in mine if item in reasons[n]]


def _cap_per_group(items: list[RankedItem], groups: list[str], cap: int) -> list[RankedItem]:
    """Keep at most ``cap`` items per group, in order (diversity)."""
    counts: dict[str, int] = {}
    kept = []
    for item, group in zip(items, groups, strict=True):
        if counts.get(group, 0) < cap:
            kept.append(item)
            counts[group] = counts.get(group, 0) + 1
    return kept
