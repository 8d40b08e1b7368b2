"""The top of an audience: the ranking walked best first, leaving out deleted clients,
other segments, and the targets a client declined, postponed or bought since training.

Those are read per client as the walk reaches them (a tombstone is a hash of the id,
a held-back offer a lookup), so an audience of 100 asks about a few hundred clients,
never the whole base. Leaving a target out only lowers a client's score, so the walk
stops once ``k`` kept clients score at least what the next unread one could.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from recsys.audience.scored import ranking
from recsys.privacy import client_hash

__all__ = ["Exclusions", "Lookup", "Picked", "pick"]

Lookup = Mapping[str, Collection[str]] | Callable[[str], Collection[str]]
"""Client id → item ids: a mapping, or a function (the service's outcome book)."""
SegmentOf = Mapping[str, str] | Callable[[str], str | None]
"""Client id → segment name (``None`` or absent: none)."""


def _read(source: Lookup) -> Callable[[str], Collection[str]]:
    if isinstance(source, Mapping):
        return lambda client: source.get(client, ())
    return source


@dataclass(frozen=True)
class Exclusions:
    """Who an audience leaves out beside the pairs that are not due."""

    forgotten: Collection[str] = frozenset()
    """Tombstones: SHA-256 digests of deleted clients' ids (:mod:`recsys.privacy`)."""
    held_back: Lookup = field(default_factory=dict)
    """Items each client declined (in the cool-down) or postponed."""
    bought_since: Lookup = field(default_factory=dict)
    """Items each client bought since the bundle was trained."""
    segment: str | None = None
    """Keep only the clients of this segment."""
    segments: SegmentOf = field(default_factory=dict)
    """Each client's segment (read only with ``segment``)."""

    def keeps(self, client_id: str) -> bool:
        """Whether the client may be in the audience at all."""
        if self.forgotten and client_hash(client_id) in self.forgotten:
            return False
        if self.segment is None:
            return True
        found = self.segments
        named = found.get(client_id) if isinstance(found, Mapping) else found(client_id)
        return named == self.segment

    def dropped(self, client_id: str) -> set[str]:
        """Item ids not to offer the client (held back, or bought since training)."""
        return {*self.held(client_id), *self.bought(client_id)}

    def held(self, client_id: str) -> Collection[str]:
        """Item ids the client declined (in the cool-down) or postponed."""
        return _read(self.held_back)(client_id)

    def bought(self, client_id: str) -> Collection[str]:
        """Item ids the client bought since the bundle was trained."""
        return _read(self.bought_since)(client_id)


class Picked(NamedTuple):
    """One client kept: its row, score, and the target positions left out for it."""

    row: int
    score: float
    dropped: frozenset[int]


@dataclass(frozen=True)
class _Walk:
    scores: sp.csr_matrix
    subset: np.ndarray
    ids: np.ndarray
    targets: list[str]
    """Item id at each target position."""
    rules: Exclusions

    def visit(self, row: int, total: float) -> Picked | None:
        """The client at ``row`` with the targets it may not be offered taken out."""
        client = str(self.ids[row])
        if not self.rules.keeps(client):
            return None
        dropped = self.rules.dropped(client)
        if not dropped:
            return Picked(row, total, frozenset())
        gone = frozenset(int(p) for p in self.subset if self.targets[p] in dropped)
        start, end = self.scores.indptr[row], self.scores.indptr[row + 1]
        cols, values = self.scores.indices[start:end], self.scores.data[start:end]
        mine = np.isin(cols, self.subset) & ~np.isin(cols, list(gone))
        score = float(values[mine].sum())
        return Picked(row, score, gone) if score > 0 else None


def pick(
    scores: sp.csr_matrix,
    subset: np.ndarray,
    ids: np.ndarray,
    targets: list[str],
    k: int,
    rules: Exclusions,
) -> list[Picked]:
    """The ``k`` best clients (rows of ``scores``, ids ``ids``) on the targets at
    ``subset`` (positions; item ids ``targets`` by position), after ``rules``."""
    order, totals = ranking(scores, subset)
    walk = _Walk(scores, subset, ids, targets, rules)
    kept: list[Picked] = []
    block = 2 * k + 64
    for start in range(0, order.size, block):
        part = slice(start, start + block)
        seen = zip(order[part].tolist(), totals[part].tolist(), strict=True)
        kept += [p for p in (walk.visit(row, total) for row, total in seen) if p is not None]
        kept = sorted(kept, key=lambda p: (-p.score, p.row))[:k]
        after = start + block
        if len(kept) == k and (after >= order.size or kept[-1].score >= totals[after]):
            break
    return kept
