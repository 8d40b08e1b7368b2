"""The blend's scores read by item: one batched pass over every client.

A served list blends, per client, each source's top candidates (scores min-max
normalised within the client's candidates, weighted, summed: :func:`~recsys.ranking.blend`)
and keeps the top k. An audience needs the other reading: for a few target items,
the blended score of every client. :func:`blend_columns` runs the same batched
sources as :meth:`~recsys.ranking.HybridRecommender.rank_clients` over all clients in
chunks, normalises their candidates with the same :func:`~recsys.ranking.normalise`,
and keeps only the shares that fall on the target items, so a (client, item) score
equals what the blend gives that key before its top-k cut (``tests/test_audience.py``
holds it to :meth:`rank_clients` at the same candidate depth). Two differences, both
on purpose: the candidate depth (:data:`DEPTH`, not the lists' 50: an audience needs
each client's score for items far below their top 10), and no pinning boost (a
marketing rule's pin moves an item up a list, it says nothing of who buys it; the
analyst source's share still counts). Given the clients' profiles (segment and country,
:mod:`recsys.audience.profiles`), the clients of each profile are ranked together with
it, so an analyst rule aimed at a segment or a country counts for its clients only, as
in their lists.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from recsys.audience.profiles import NO_PROFILE, Profile
from recsys.ranking import HybridRecommender, RequestOptions, normalise
from recsys.ranking.sources import Batch

__all__ = ["DEPTH", "BlendColumns", "blend_columns"]

#: Candidates per source and client read for an audience: the smallest depth within 1 %
#: of the best validation precision@100 (bench/tune_audience_depth.py, validation period
#: 2010-06-10..2010-09-09 of the shared data, the default blend: 0.2177 at 1000, 0.2163 at
#: 500, 0.2084 at 200; a pass at 1000 takes 1.13 × 500's). Deeper lists hold more clients
#: per item and rank them better, less and less.
DEPTH = 500
#: The blend's floor on a proposed candidate's share (so a min-max 0 still counts).
_FLOOR = 1e-9


@dataclass(frozen=True)
class BlendColumns:
    """Each client's blended score for each target item (clients × targets, CSR: an
    entry where some source proposed the item to the client) and each source's share
    of it (same shape)."""

    targets: np.ndarray
    """The target item columns (sorted, unique)."""
    scores: sp.csr_matrix
    parts: dict[str, sp.csr_matrix]


def blend_columns(
    recommender: HybridRecommender,
    targets: np.ndarray,
    options: RequestOptions,
    depth: int = DEPTH,
    chunk: int = 1024,
    profiles: Mapping[str, Profile] | None = None,
) -> BlendColumns:
    """The blend's score of every known client for ``targets`` (item columns), read
    from one batched ranking pass in chunks of ``chunk`` clients of one profile
    (``profiles``: client id → segment and country; default: none known), ``depth``
    candidates per source."""
    targets = np.unique(np.asarray(targets, dtype=np.int64))
    options = recommender.dated(options)
    n = len(recommender.bundle.data.clients)
    order, groups = _by_profile(recommender, profiles or {})
    pieces = [
        _chunk(recommender, rows, targets, _with(options, profile), depth)
        for profile, rows in _chunks(order, groups, chunk)
    ]
    shape = (n, targets.size)
    parts = {
        name: _in_row_order(sp.vstack([p[name] for p in pieces], format="csr"), order)
        if pieces
        else sp.csr_matrix(shape)
        for name in recommender.sources
    }
    total = sum(parts.values(), sp.csr_matrix(shape, dtype=np.float64))
    return BlendColumns(targets, sp.csr_matrix(total), parts)


def _by_profile(
    recommender: HybridRecommender, profiles: Mapping[str, Profile]
) -> tuple[np.ndarray, list[tuple[Profile, int]]]:
    """Client rows grouped by profile (the clients without one first, in row order)
    and each group's profile and end in that order."""
    ids = recommender.bundle.data.clients.ids
    n = len(ids)
    if not profiles:
        return np.arange(n), [(NO_PROFILE, n)]
    of = [profiles.get(str(c), NO_PROFILE) for c in ids.tolist()]
    distinct = [NO_PROFILE, *(p for p in dict.fromkeys(of) if p != NO_PROFILE)]
    kinds = {p: i for i, p in enumerate(distinct)}
    codes = np.array([kinds[p] for p in of], dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    ends = np.cumsum(np.bincount(codes, minlength=len(kinds)))
    return order, [(p, int(ends[k])) for p, k in kinds.items()]


def _with(options: RequestOptions, profile: Profile) -> RequestOptions:
    """``options`` for the clients of ``profile`` (none known: as given)."""
    if profile == NO_PROFILE:
        return options
    return replace(options, segment=profile[0], country=profile[1])


def _in_row_order(stacked: sp.csr_matrix, order: np.ndarray) -> sp.csr_matrix:
    """Rows ranked in ``order`` (grouped by profile) back in client row order."""
    if np.array_equal(order, np.arange(order.size)):
        return stacked
    return sp.csr_matrix(stacked[np.argsort(order, kind="stable")])


def _chunks(
    order: np.ndarray, groups: list[tuple[Profile, int]], chunk: int
) -> Iterator[tuple[Profile, np.ndarray]]:
    """Chunks of at most ``chunk`` rows, each within one profile's group."""
    start = 0
    for profile, end in groups:
        for first in range(start, end, chunk):
            yield profile, order[first : min(end, first + chunk)]
        start = end


def _chunk(
    recommender: HybridRecommender,
    rows: np.ndarray,
    targets: np.ndarray,
    options: RequestOptions,
    depth: int,
) -> dict[str, sp.csr_matrix]:
    """Each source's shares on ``targets`` for one chunk of client rows."""
    history = (recommender.bundle.data.matrix[rows] > 0).astype(np.float32).tocsr()
    rules = recommender.rules
    fired = rules.fired(history) if rules is not None else None
    batch = Batch(rows, history, history, options, fired, None)
    weights = recommender.config.weights
    return {
        name: _on_targets(*source.batch(batch, depth), weights[name], targets)
        for name, source in recommender.sources.items()
    }


def _on_targets(
    items: np.ndarray, scores: np.ndarray, weight: float, targets: np.ndarray
) -> sp.csr_matrix:
    """A source's weighted, normalised shares (as the blend computes them), rows ×
    targets: only the candidates that are target items."""
    shape = (items.shape[0], targets.size)
    valid = (items >= 0) & np.isfinite(scores)
    if items.size == 0 or targets.size == 0 or not valid.any():
        return sp.csr_matrix(shape, dtype=np.float64)
    share = weight * normalise(scores.astype(np.float64), valid) + _FLOOR
    at = np.minimum(np.searchsorted(targets, items), targets.size - 1)
    rows, cols = np.nonzero(valid & (targets[at] == items))
    return sp.csr_matrix((share[rows, cols], (rows, at[rows, cols])), shape=shape)
