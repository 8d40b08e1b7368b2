"""Blend candidate lists from several sources into one ranked list (batched).

Each source proposes up to N items per request with its own scores. Scores are
min-max normalised per source and request (the best candidate of a source gets
1, its worst 0; a lone candidate 1), multiplied by the source's weight and summed
per item. Items no source proposed are never listed; blocked items (already
bought, excluded, unavailable, outside the request's filters) are removed; pinned items
(analyst rules marked ``pinned``) are lifted above everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recsys._sparse import SMALL, contains, found_in, top_per_row
from recsys.ranking.rebuy import Rebuy

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
        # Chosen with bench/tune_blend.py on the validation period inside the train part
        # (docs/explanation/evaluation.md, "Tuning"), among blends that keep popularity
        # (cold clients, lists topped up) and no more sources than an uncached list's
        # serving target allows;
        # association rules give reasons a manager can say aloud. Re-purchases (repeat)
        # speak only where bought items may be offered again (exclude_purchased=false,
        # next-best offers): 3.0 with the re-purchase probability's windows 14 / 56 d
        # (--include-seen, validation 0.4545 with EASE's 240-day targets and the units
        # bought; 2.0 0.4526, 4.0 0.4540, 6.0 0.4532).
        default_factory=lambda: {
            "ease": 1.0,
            "rules": 0.1,
            "analyst": 1.0,
            "repeat": 3.0,
            "popular": 0.1,
        }
    )
    """Weight per source; a source missing here, or with weight 0, is not used."""
    candidates: int = Field(default=50, ge=1, le=1000)
    """Candidates each source proposes per request."""
    rebuy: Rebuy = Field(default_factory=Rebuy)
    """How the repeat source scores bought items where they may be offered again."""


@dataclass(frozen=True)
class Blended:
    """Top-k items, blended scores, and each source's share of every score."""

    items: np.ndarray
    scores: np.ndarray
    parts: dict[str, np.ndarray]

    def row(self, i: int) -> Blended:
        """Row ``i``, as a batch of one."""
        parts = {name: part[i : i + 1] for name, part in self.parts.items()}
        return Blended(self.items[i : i + 1], self.scores[i : i + 1], parts)


@dataclass(frozen=True)
class Blocking:
    """What may not be offered, as sparse keys (``row × n_items + item``): never a
    rows × catalogue mask. ``allowed`` is asked at the candidates only."""

    keys: np.ndarray
    """Sorted keys blocked in their own row (the basket; history when excluded)."""
    columns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Sorted items blocked in every row (excluded, unavailable)."""
    allowed: Callable[[np.ndarray], np.ndarray] | None = None
    """Mask of the candidate items a request's filters (category, price, tags) keep."""

    def blocked(self, keys: np.ndarray, items: np.ndarray) -> np.ndarray:
        """True at the candidate ``keys`` (sorted, with their ``items``) that may not be
        offered."""
        out = found_in(keys, self.keys)
        if self.columns.size:
            out |= contains(self.columns, items)
        if self.allowed is not None:
            out |= ~self.allowed(items)
        return out


def normalise(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Row-wise min-max of valid entries to [0, 1] (a flat row: 1); invalid entries 0."""
    if scores.shape[0] == 1 and valid.all():  # one request's compact candidates
        low, high = scores.min(), scores.max()
        if high > low:
            return (scores - low) / (high - low)
        return np.ones(scores.shape)
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
    names, keys, shares = _shares(sources, weights, n_rows, n_items)
    total = shares.sum(axis=0)
    keep = total > 0
    if blocked is not None:
        keep &= ~blocked.blocked(keys, keys if n_rows == 1 else keys % n_items)
    if pinned is not None and pinned.size:
        total[found_in(keys, pinned)] += PIN_BOOST
    live = np.flatnonzero(keep)
    ranked, values, at = top_per_row(keys[live], total[live], n_rows, n_items, min(k, MAX_K))
    listed = np.where(at >= 0, live[np.maximum(at, 0)], -1) if live.size else at
    if not names:
        return Blended(ranked, values, {})
    # Every source's shares of the listed keys in one gather (not one per source).
    taken = np.where(listed >= 0, shares[:, np.maximum(listed, 0)], 0.0)
    return Blended(ranked, values, dict(zip(names, taken, strict=True)))


def _shares(
    sources: dict[str, Candidates], weights: dict[str, float], n_rows: int, n_items: int
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The weighted, normalised share of each source in each (row, item) key: source
    names, sorted unique keys, and a sources × keys table (0 where a source is silent)."""
    offsets = np.arange(n_rows, dtype=np.int64)[:, None] * n_items
    names, keys, values = [], [], []
    for name, (items, scores) in sources.items():
        weight = weights.get(name, 0.0)
        if weight <= 0 or items.size == 0:
            continue
        if n_rows == 1 and _compact(items, scores):  # one request: fewer numpy calls
            names.append(name)
            keys.append(items[0].astype(np.int64, copy=False))
            values.append(weight * _spread(scores[0].astype(np.float64)) + 1e-9)
            continue
        valid = (items >= 0) & np.isfinite(scores)
        if not valid.any():
            continue
        names.append(name)
        share = weight * normalise(scores.astype(np.float64), valid) + 1e-9
        if valid.all():  # one request's compact candidates: no masking needed
            keys.append((offsets + items).ravel())
            values.append(share.ravel())
        else:  # a source lists an item once per row
            keys.append((offsets + items)[valid])
            values.append(share[valid])
    if not names:
        return names, np.zeros(0, dtype=np.int64), np.zeros((0, 0))
    unique, inverse = _union(np.concatenate(keys), n_rows * n_items)
    table = np.zeros((len(names), len(unique)))
    source = np.repeat(np.arange(len(names)), [len(k) for k in keys])
    table[source, inverse] = np.concatenate(values)
    return names, unique, table


def _compact(items: np.ndarray, scores: np.ndarray) -> bool:
    """Whether one row's candidates are all real (what :meth:`Source.one` returns)."""
    return bool(items.min() >= 0 and np.isfinite(scores).all())


def _spread(scores: np.ndarray) -> np.ndarray:
    """:func:`normalise` of one row's compact candidates (the same arithmetic)."""
    low, high = scores.min(), scores.max()
    return (scores - low) / (high - low) if high > low else np.ones(scores.shape)


def _union(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)``; over a small key space by marking
    (a request's few hundred keys: cheaper than the sort ``np.unique`` makes)."""
    if n_keys > SMALL:
        return np.unique(keys, return_inverse=True)
    marked = np.zeros(n_keys, dtype=bool)
    marked[keys] = True
    unique = np.flatnonzero(marked)
    return unique, np.searchsorted(unique, keys)
