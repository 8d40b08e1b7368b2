"""A collaborative-filtering model as a source: the client's history ∪ basket folded in."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models import Scorer
from recsys.ranking.blend import Candidates
from recsys.ranking.explain import Reason, because_you_bought, cf_reason
from recsys.ranking.sources._base import NONE, Batch, Query, Shown, Source

__all__ = ["CFSource"]


class CFSource(Source):
    """One fitted model of the bundle that scores from a client's own items."""

    def __init__(self, name: str, model: Scorer, ids: list[str], labels: list[str]) -> None:
        self.name, self.model, self.ids, self.labels = name, model, ids, labels

    def batch(self, batch: Batch, n: int) -> Candidates:
        """The model's batched top ``n`` (fresh history folded in); cold rows get none."""
        exclude = batch.options.exclude_purchased
        got = self.model.recommend(batch.rows, batch.everything, n, exclude, fold_in=True)
        return np.where(batch.cold[:, None], -1, got.items), got.scores

    def one(self, query: Query, n: int) -> Candidates:
        """The model's compact top ``n`` for one history ∪ basket."""
        if query.cold:
            return NONE, np.zeros(0)
        seen = query.everything if query.options.exclude_purchased else None
        if query.everything.size:
            compact = self.model.basket_candidates(query.everything, n, seen)
            if compact is not None:
                return compact
        # A model that cannot score a basket by itself: its batched path on one row.
        items = query.everything
        ones = np.ones(items.size, np.float32)
        history = sp.csr_matrix((ones, items, [0, items.size]), (1, self.model.n_items))
        exclude = query.options.exclude_purchased
        got = self.model.recommend(np.array([query.row]), history, n, exclude, fold_in=True)
        found = got.items[0] >= 0
        return got.items[0][found], got.scores[0][found]

    def related(self, query: Query, n: int) -> Candidates:
        """The model's most similar items to the one asked about."""
        return self.model.similar_candidates(int(query.basket[0]), n)

    def reasons(self, shown: Shown) -> dict[int, Reason]:
        """ "Clients like this one bought it", naming the client's nearest purchases."""
        basis = because_you_bought(self.model, shown.items, shown.query.everything)
        return {
            item: cf_reason(
                self.name, self.ids, self.labels, nearest, shown.related, self.model.later
            )
            for item, nearest in basis.items()
        }
