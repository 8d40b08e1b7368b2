"""Popularity as a source: the most-bought items, overall or within the client's segment."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys._sparse import contains
from recsys.matrix import InteractionMatrix
from recsys.models._top import popular_ranking
from recsys.ranking.blend import Candidates
from recsys.ranking.explain import Reason, popular_reason
from recsys.ranking.sources._base import Batch, Query, Shown, Source

__all__ = ["PopularSource", "segment_popularity"]


def segment_popularity(
    data: InteractionMatrix, buyers: np.ndarray, segments: dict[str, str]
) -> dict[str, np.ndarray]:
    """Buyers per item within each segment; ties go to the globally more popular item."""
    rows = data.clients.index(list(segments))
    known = rows >= 0
    names, codes = np.unique(np.asarray(list(segments.values()))[known], return_inverse=True)
    member = sp.csr_matrix(
        (np.ones(len(codes)), (codes, rows[known])), shape=(len(names), len(data.clients))
    )
    counts = (member @ (data.matrix > 0).astype(np.float64)).toarray()
    tiebreak = buyers / (buyers.max() + 1.0)
    return {str(name): counts[i] + tiebreak for i, name in enumerate(names)}


class PopularSource(Source):
    """Items by number of buyers (ties by index); within a segment when one is known."""

    name = "popular"

    def __init__(self, data: InteractionMatrix) -> None:
        self.data = data
        self.buyers = np.asarray((data.matrix > 0).sum(axis=0)).ravel().astype(float)
        self.order = np.argsort(-self.buyers, kind="stable")
        self.segment_buyers: dict[str, np.ndarray] = {}
        self.segment_order: dict[str, np.ndarray] = {}

    def set_segments(self, segments: dict[str, str]) -> None:
        """Client id → segment: popularity within a segment for its clients' requests."""
        self.segment_buyers = segment_popularity(self.data, self.buyers, segments)
        self.segment_order = {
            name: np.argsort(-buyers, kind="stable") for name, buyers in self.segment_buyers.items()
        }

    def _ranking(self, segment: str | None) -> tuple[np.ndarray, np.ndarray]:
        if segment in self.segment_buyers:
            assert segment is not None
            return self.segment_buyers[segment], self.segment_order[segment]
        return self.buyers, self.order

    def batch(self, batch: Batch, n: int) -> Candidates:
        """The popularity ranking per row, minus what each row has seen."""
        popularity, order = self._ranking(batch.options.segment)
        items, scores = popular_ranking(popularity, batch.seen, n, order)
        if batch.seen is None:
            items, scores = (np.repeat(a, len(batch.rows), axis=0) for a in (items, scores))
        return items, scores

    def one(self, query: Query, n: int) -> Candidates:
        """The head of the ranking, long enough to survive the seen items."""
        popularity, order = self._ranking(query.options.segment)
        seen = query.seen
        head = order[: n + (0 if seen is None else seen.size)]
        if seen is not None:
            head = head[~contains(seen, head)][:n]
        return head, popularity[head].astype(np.float32)

    def reasons(self, shown: Shown) -> dict[int, Reason]:
        """How many clients (of the request's segment) bought each shown item."""
        segment = shown.query.options.segment
        counts = self.segment_buyers.get(segment or "")
        return {
            item: popular_reason(
                self.buyers[item],
                None if counts is None or segment is None else (segment, int(counts[item])),
            )
            for item in shown.items
        }
