"""Blend candidate lists from several sources into one ranked list (batched).

Each source proposes up to N items per request with its own scores. Scores are
min-max normalised per source and request (the best candidate of a source gets
1, its worst 0; a lone candidate 1), multiplied by the source's weight and summed
per item. Items no source proposed are never listed; blocked items (already
bought, excluded, out of stock, outside the category) are removed; pinned items
(analyst rules marked ``pinned``) are lifted above everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recsys._sparse import top_per_row

__all__ = [
    "MAX_K",
    "PIN_BOOST",
    "BlendConfig",
    "Blended",
    "Blocking",
    "Candidates",
    "blend",
    "normalise",
]

#: The largest k any entry point returns.
MAX_K = 100
#: Score added to pinned items so they rank above every blended score.
PIN_BOOST = 1_000.0

Candidates = tuple[np.ndarray, np.ndarray]


class BlendConfig(BaseModel):
    """Weights and sizes of the blend."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    weights: dict[str, float] = Field(
        # Tuned on Online Retail II with bench/tune_blend.py (README, "Evaluation"): the
        # best NDCG@10 that keeps an uncached list within the serving target (ALS 0.5 and
        # RP3beta 0.5 on top widen coverage, 0.272 → 0.305, at twice the cost per list).
        # Popularity tops lists up and serves cold clients; association rules give
        # reasons a manager can say aloud.
        default_factory=lambda: {
            "ease": 1.0,
            "rules": 0.1,
            "analyst": 1.0,
            "popular": 0.1,
        }
    )
    """Weight per source; a source missing here, or with weight 0, is not used."""
    candidates: int = Field(default=50, ge=1, le=1000)
    """Candidates each source proposes per request."""


@dataclass(frozen=True)
class Blended:
    """Top-k items, blended scores, and each source's share of every score."""

    items: np.ndarray
    scores: np.ndarray
    parts: dict[str, np.ndarray]


@dataclass(frozen=True)
class Blocking:
    """What may not be offered, as sparse keys (``row × n_items + item``): never a
    rows × catalogue mask. ``categories`` is read at the candidates only."""

    keys: np.ndarray
    """Sorted keys blocked in their own row (the basket; history when excluded)."""
    columns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Items blocked in every row (excluded, out of stock)."""
    category: str | None = None
    """Only items of this category may be offered."""
    categories: np.ndarray | None = None
    """Each item's category (needed with :attr:`category`)."""

    def blocked(self, keys: np.ndarray, items: np.ndarray) -> np.ndarray:
        """True at the candidate ``keys`` (with their ``items``) that may not be offered."""
        out = np.isin(keys, self.keys)
        if self.columns.size:
            out |= np.isin(items, self.columns)
        if self.category is not None and self.categories is not None:
            out |= self.categories[items] != self.category
        return out


def normalise(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Row-wise min-max of valid entries to [0, 1] (a flat row: 1); invalid entries 0."""
    low = np.where(valid, scores, np.inf).min(axis=1, keepdims=True)
    span = np.where(valid, scores, -np.inf).max(axis=1, keepdims=True) - low
    out = np.ones(scores.shape, dtype=np.float64)
    np.divide(scores - low, span, out=out, where=valid & (span > 0))
    out[~valid] = 0.0
    return out


def blend(
    sources: dict[str, Candidates],
    weights: dict[str, float],
    n_items: int,
    k: int,
    blocked: Blocking | None = None,
    pinned: np.ndarray | None = None,
) -> Blended:
    """Blend ``sources`` (name → items, scores per row) into the top ``k`` per row.

    ``pinned`` are sorted ``row × n_items + item`` keys lifted above the rest. The
    batched evaluation and a single request (a batch of one) share this function.
    """
    n_rows = next(iter(sources.values()))[0].shape[0] if sources else 0
    offsets = np.arange(n_rows, dtype=np.int64)[:, None] * n_items
    shares: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, (items, scores) in sources.items():
        weight = weights.get(name, 0.0)
        valid = (items >= 0) & np.isfinite(scores)
        if weight <= 0 or not valid.any():
            continue
        # Sparse (row, item) keys: a source lists an item at most once per row.
        keys = (offsets + items)[valid]
        values = weight * normalise(scores.astype(np.float64), valid)[valid] + 1e-9
        order = np.argsort(keys)
        shares[name] = (keys[order], values[order])
    keys, total = _sum_by_key(list(shares.values()))
    keep = total > 0
    if blocked is not None:
        keep &= ~blocked.blocked(keys, keys % n_items)
    if pinned is not None and pinned.size:
        total = np.where(np.isin(keys, pinned), total + PIN_BOOST, total)
    ranked, values = top_per_row(keys[keep], total[keep], n_rows, n_items, min(k, MAX_K))
    asked = offsets + ranked
    parts = {n: _lookup(keys, v, asked, ranked >= 0) for n, (keys, v) in shares.items()}
    return Blended(ranked, values, parts)


def _sum_by_key(shares: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Unique keys over all sources and the sum of their shares."""
    if not shares:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    keys = np.concatenate([k for k, _ in shares])
    unique, inverse = np.unique(keys, return_inverse=True)
    values = np.concatenate([v for _, v in shares])
    return unique, np.bincount(inverse, values, len(unique))


def _lookup(keys: np.ndarray, values: np.ndarray, asked: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``values`` at ``asked`` keys (``keys`` sorted); 0 where absent or not ``ok``."""
    at = np.minimum(np.searchsorted(keys, asked), len(keys) - 1)
    return np.where(ok & (keys[at] == asked), values[at], 0.0)
