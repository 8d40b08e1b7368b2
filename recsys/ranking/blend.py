"""Blend candidate lists from several sources into one ranked list (batched).

Each source proposes up to N items per request with its own scores. Scores are
min-max normalised per source and request (the best candidate of a source gets
1, its worst 0; a lone candidate 1), multiplied by the source's weight and summed
per item. Items no source proposed are never listed; blocked items (already
bought, excluded, out of stock, outside the category) are removed; pinned items
(analyst rules marked ``pinned``) are lifted above everything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recsys.models import top_k

__all__ = ["MAX_K", "BlendConfig", "Blended", "Candidates", "blend", "normalise"]

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
    blocked: np.ndarray | None = None,
    pinned: np.ndarray | None = None,
) -> Blended:
    """Blend ``sources`` (name → items, scores per row) into the top ``k`` per row."""
    n_rows = next(iter(sources.values()))[0].shape[0] if sources else 0
    total = np.zeros((n_rows, n_items), dtype=np.float64)
    flat = total.reshape(-1)
    shares: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    offsets = np.arange(n_rows)[:, None] * n_items
    for name, (items, scores) in sources.items():
        weight = weights.get(name, 0.0)
        valid = (items >= 0) & np.isfinite(scores)
        if weight <= 0 or not valid.any():
            continue
        # Sparse (row, item) keys: a source lists an item at most once per row.
        keys = (offsets + items)[valid]
        values = weight * normalise(scores, valid)[valid] + 1e-9
        flat[keys] += values
        order = np.argsort(keys)
        shares[name] = (keys[order], values[order])
    total[total <= 0] = -np.inf
    if blocked is not None:
        total[blocked] = -np.inf
    if pinned is not None:
        total = np.where(pinned & np.isfinite(total), total + PIN_BOOST, total)
    ranked, values = top_k(total, min(k, MAX_K))
    asked = offsets + ranked
    parts = {n: _lookup(keys, v, asked, ranked >= 0) for n, (keys, v) in shares.items()}
    return Blended(ranked, values, parts)


def _lookup(keys: np.ndarray, values: np.ndarray, asked: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``values`` at ``asked`` keys (``keys`` sorted); 0 where absent or not ``ok``."""
    at = np.minimum(np.searchsorted(keys, asked), len(keys) - 1)
    return np.where(ok & (keys[at] == asked), values[at], 0.0)
