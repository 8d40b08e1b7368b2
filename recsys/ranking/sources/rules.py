"""Mined association rules as a source: what the rules fired by history ∪ basket point to."""

from __future__ import annotations

from recsys.ranking.blend import Candidates
from recsys.ranking.explain import Reason, rule_reason
from recsys.ranking.sources._base import Batch, Query, Shown, Source, sparse_top, top_of
from recsys.rules.index import RuleIndex

__all__ = ["RulesSource"]

#: Sentences kept per source (a rule's is ~1 KB): enough for the rules lists use.
_MEMORY = 50_000


class RulesSource(Source):
    """Consequents of the fired rules, scored by their summed confidence."""

    name = "rules"

    def __init__(self, index: RuleIndex, ids: list[str], labels: list[str]) -> None:
        self.index, self.ids, self.labels = index, ids, labels
        # A rule's sentence is the same for every client: said once, then reused.
        self._said: dict[int, Reason] = {}

    def batch(self, batch: Batch, n: int) -> Candidates:
        """Per row, the top ``n`` consequents of the rules the row fires."""
        fired = batch.fired_rules
        if fired is None:
            fired = self.index.fired(batch.everything)
        return sparse_top(self.index.scores_of(fired), batch.seen, n)

    def one(self, query: Query, n: int) -> Candidates:
        """The top ``n`` consequents of the rules one request fires."""
        fired = query.fired_rules
        if fired is None:
            fired = self.index.fired_by(query.everything)
        items, scores = self.index.scores_by(fired)
        return top_of(items, scores, n, query.seen, positive=True)

    def related(self, query: Query, n: int) -> Candidates:
        """What the rules starting from the item point to (the item itself left out)."""
        return self.one(query, n)

    def relabel(self) -> None:
        """Titles changed: the remembered sentences name the old ones."""
        self._said.clear()

    def reasons(self, shown: Shown) -> dict[int, Reason]:
        """The best fired rule pointing to each shown item, said aloud."""
        fired = shown.query.fired_rules
        if fired is None:
            return {}
        best = self.index.best_rules(fired, shown.items)
        return {item: self._say(rule, item) for item, rule in best.items()}

    def _say(self, rule: int, item: int) -> Reason:
        said = self._said.get(rule)
        if said is None:
            if len(self._said) >= _MEMORY:
                self._said.clear()
            said = self._said[rule] = rule_reason(self.index, rule, item, self.ids, self.labels)
        return said
