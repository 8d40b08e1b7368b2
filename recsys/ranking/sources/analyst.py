"""Analyst cross-sell rules as a source: offers of the rules the items trigger."""

from __future__ import annotations

from datetime import date

import numpy as np
import scipy.sparse as sp

from recsys._sparse import compact_row_sums, contains, row_keys, row_sums
from recsys.ranking.blend import Candidates
from recsys.ranking.explain import Reason, analyst_reason
from recsys.ranking.sources._base import NONE, Batch, Query, Shown, Source, sparse_top, top_of
from recsys.rules.cross_sell import CrossSellRules
from recsys.vocab import IdMap

__all__ = ["AnalystSource", "offer_matrix"]

#: Contexts (day, segment, country) whose live rules are remembered.
_CONTEXTS = 1024


def offer_matrix(rules: CrossSellRules, items: IdMap) -> sp.csr_matrix:
    """Rules × items: priority-ordered scores, earlier offers of a rule a bit higher."""
    rows, cols, vals = [], [], []
    floor = min((r.priority for r in rules.rules), default=0)
    for r, rule in enumerate(rules.rules):
        for position, item in enumerate(rule.offer):
            column = items.lookup(item)
            if column is not None:
                rows.append(r)
                cols.append(column)
                vals.append(1.0 + (rule.priority - floor) + 1.0 / (position + 2))
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(rules.rules), len(items)))


class AnalystSource(Source):
    """Offers of the analyst rules that apply; score = priority, then offer order."""

    name = "analyst"

    def __init__(self, rules: CrossSellRules, items: IdMap) -> None:
        self.rules, self.ids = rules, items.ids
        self.triggers = rules.triggers(items, {})  # items × rules
        # The items that trigger some rule (sorted): most requests hold none of them.
        self.trigger_items = np.flatnonzero(np.diff(self.triggers.indptr))
        self.offers = offer_matrix(rules, items)
        self.pinned_rules = np.array([r.pinned for r in rules.rules], dtype=bool)
        # Per (day, segment, country): the same few contexts come back all day.
        self._live: dict[tuple[date, str | None, str | None], np.ndarray] = {}

    def live(self, day: date, segment: str | None, country: str | None) -> np.ndarray:
        """Per rule: does it apply on ``day`` to the segment and country?"""
        key = (day, segment, country)
        found = self._live.get(key)
        if found is None:
            if len(self._live) >= _CONTEXTS:
                self._live.clear()
            rules = self.rules.rules
            found = np.array([r.applies(*key) for r in rules], bool)
            found.flags.writeable = False  # shared by every request of the context
            self._live[key] = found
        return found

    def fired_by(self, query: Query) -> np.ndarray:
        """Ids of the rules one request's items trigger and whose context applies."""
        o, items = query.options, query.everything
        held = items[contains(self.trigger_items, items)]
        if not held.size:  # nothing triggers: no rule fires, whatever the context
            return NONE
        triggered = row_sums(self.triggers, held) > 0
        return np.flatnonzero(triggered & self.live(query.day, o.segment, o.country))

    def _fired(self, batch: Batch) -> sp.csr_matrix:
        o = batch.options
        live = self.live(batch.day, o.segment, o.country)
        fired = (((batch.everything > 0).astype(np.float32) @ self.triggers) > 0).toarray()
        return sp.csr_matrix((fired & live[None, :]).astype(np.float32))

    def batch(self, batch: Batch, n: int) -> Candidates:
        """Per row, the top ``n`` offers of the rules it triggers."""
        return sparse_top(self._fired(batch) @ self.offers, batch.seen, n)

    def one(self, query: Query, n: int) -> Candidates:
        """The top ``n`` offers of the rules one request triggers."""
        if not query.fired_analyst.size:
            return NONE, np.zeros(0)
        items, scores = compact_row_sums(self.offers, query.fired_analyst)
        return top_of(items, scores, n, query.seen, positive=True)

    def pinned_batch(self, batch: Batch) -> np.ndarray:
        """Sorted ``row × n_items + item`` keys of the pinned offers that apply."""
        fired = self._fired(batch) @ sp.diags(self.pinned_rules.astype(np.float32))
        offered = (fired @ self.offers).tocsr()
        offered.eliminate_zeros()
        offered.sort_indices()
        return row_keys(offered.indptr, offered.indices, self.offers.shape[1])

    def pinned_one(self, query: Query) -> np.ndarray:
        """Items pinned for one request (its row's keys: the item columns)."""
        fired = query.fired_analyst[self.pinned_rules[query.fired_analyst]]
        return compact_row_sums(self.offers, fired)[0] if fired.size else NONE

    def reasons(self, shown: Shown) -> dict[int, Reason]:
        """The first applying rule (by priority) that offers each shown item."""
        fired = shown.query.fired_analyst
        found = {i: analyst_reason(self.rules, fired, str(self.ids[i])) for i in shown.items}
        return {i: r for i, r in found.items() if r is not None}
