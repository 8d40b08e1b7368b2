"""The client × item interaction matrix (scipy CSR), built without Python loops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight
from pydantic import BaseModel, ConfigDict, Field

from recsys.repeat import RepeatIndex, client_item_days
from recsys.vocab import IdMap

__all__ = [
    "InteractionMatrix",
    "MatrixConfig",
    "Weighting",
    "build_matrix",
    "model_matrix",
    "tifu_vectors",
    "weigh",
]

Weighting = Literal[
    "binary", "count", "log1p", "bm25", "first_days", "last_days", "purchase_days", "tifu"
]
#: Weightings read from the purchase days of the re-purchase index
#: (:meth:`recsys.repeat.RepeatIndex.day_matrix`), not from line counts.
DAYS = ("first_days", "last_days", "purchase_days")


class MatrixConfig(BaseModel):
    """How purchase lines become matrix values."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    weighting: Weighting = "binary"
    """``binary`` 1 per bought item; ``count`` purchase lines; ``log1p`` log(1 + count);
    ``bm25`` implicit's BM25 weighting of the counts; ``first_days`` / ``last_days``
    days from the pair's first / last purchase to the newest event, plus 1 (the order
    the forward model and EASE's targets learn from; not strengths: meant for those
    models' own weighting); ``purchase_days`` distinct purchase days, plus the last one
    as a fraction below 1 (P-Pop's order: :meth:`recsys.repeat.RepeatIndex.purchase_days`);
    ``tifu`` each client's TIFU-kNN vector of its baskets in time order
    (:func:`tifu_vectors`). The day weightings and ``tifu`` ignore ``half_life_days``."""
    half_life_days: float | None = Field(default=None, gt=0)
    """If set, each line counts ``0.5 ** (age_days / half_life_days)`` before weighting,
    age measured from the newest event (recent purchases weigh more)."""
    bm25_k1: float = Field(default=100.0, gt=0)
    """BM25 saturation parameter (implicit's default)."""
    bm25_b: float = Field(default=0.8, ge=0, le=1)
    """BM25 length normalisation (implicit's default)."""
    tifu_group_size: int = Field(default=7, ge=1)
    """``tifu``: baskets per group, m (the TIFU-kNN model sets it from its own config)."""
    tifu_within_decay: float = Field(default=0.9, gt=0, le=1)
    """``tifu``: decay r_b from a group's newest basket back to its oldest."""
    tifu_group_decay: float = Field(default=0.7, gt=0, le=1)
    """``tifu``: decay r_g from the newest group back to the oldest."""


@dataclass(frozen=True)
class InteractionMatrix:
    """A weighted client × item CSR matrix with the id maps of its rows and columns."""

    matrix: sp.csr_matrix
    clients: IdMap
    items: IdMap

    @property
    def shape(self) -> tuple[int, int]:
        """(clients, items)."""
        return (len(self.clients), len(self.items))


def build_matrix(
    events: pd.DataFrame,
    config: MatrixConfig | None = None,
    *,
    clients: IdMap | None = None,
    items: IdMap | None = None,
    now: pd.Timestamp | None = None,
) -> InteractionMatrix:
    """Build the matrix from canonical events.

    Lines without a client are left out. Given ``clients``/``items`` maps, events
    whose ids are not in them are left out (e.g. test events for unseen items).
    """
    config = config or MatrixConfig()
    known = events[events["client_id"].notna()]
    clients = clients if clients is not None else IdMap.from_values(known["client_id"])
    items = items if items is not None else IdMap.from_values(known["item_id"])
    rows, cols = clients.index(known["client_id"]), items.index(known["item_id"])
    inside = (rows >= 0) & (cols >= 0)
    shape = (len(clients), len(items))
    if config.weighting in DAYS:
        newest = None if now is None else float(np.datetime64(now, "D").astype(np.int64))
        days = RepeatIndex.fit(known, clients, items).day_matrix(config.weighting, newest)
        return InteractionMatrix(days, clients, items)
    if config.weighting == "tifu":
        vectors = tifu_vectors(client_item_days(known, clients, items), shape, config)
        return InteractionMatrix(vectors, clients, items)
    strength = _line_strength(known, config, now)
    counts = sp.csr_matrix(
        (strength[inside], (rows[inside], cols[inside])),
        shape=shape,
        dtype=np.float32,
    )
    counts.sum_duplicates()
    return InteractionMatrix(weigh(counts, config), clients, items)


def model_matrix(
    events: pd.DataFrame,
    shared: MatrixConfig,
    data: InteractionMatrix,
    weighting: str | None,
    repeats: RepeatIndex | None = None,
    settings: dict[str, Any] | None = None,
) -> sp.csr_matrix:
    """The matrix a model with its own ``weighting`` (and matrix ``settings``: the
    TIFU-kNN model's group size and decays) is fitted on: ``data``'s rows and columns,
    the shared config otherwise (half-life, BM25 parameters); ``data.matrix`` itself
    when the model asks for nothing else. The day weightings read ``repeats`` (the same
    events' re-purchase index) when given."""
    own = shared.model_copy(update={"weighting": weighting or shared.weighting, **(settings or {})})
    if own == shared:
        return data.matrix
    if own.weighting in DAYS and repeats is not None:
        return repeats.day_matrix(own.weighting)
    return build_matrix(events, own, clients=data.clients, items=data.items).matrix


def tifu_vectors(days: pd.DataFrame, shape: tuple[int, int], config: MatrixConfig) -> sp.csr_matrix:
    """Each client's TIFU-kNN vector (Hu et al., SIGIR 2020, section 4) from its
    (``row``, ``col``, ``day``) purchases (:func:`recsys.repeat.client_item_days`).

    A basket is a client's purchase day; its n baskets, oldest first, fall in groups
    of m = ``tifu_group_size`` from the oldest (the newest group holds the remainder),
    K = ⌈n / m⌉ groups. A group's vector is (1/m) Σⱼ r_b^(its baskets after j) · basketⱼ
    (binary baskets; the newest of the group weighs 1, and a short group counts its
    missing baskets as empty, as the paper's formula reads); the client's vector is
    (1/K) Σ_g r_g^(groups after g) · group_g (the newest group weighs 1)."""
    m = config.tifu_group_size
    by_client = days.groupby("row")["day"]
    # Position of each line's basket among its client's baskets, oldest 0.
    position = by_client.rank(method="dense").to_numpy(np.int64) - 1
    baskets = by_client.transform("nunique").to_numpy(np.int64)
    group, groups = position // m, (baskets - 1) // m + 1
    size = np.minimum(m, baskets - group * m)
    after_in_group = size - 1 - (position - group * m)
    weight = (
        np.power(config.tifu_within_decay, after_in_group)
        / m
        * np.power(config.tifu_group_decay, groups - 1 - group)
        / groups
    )
    rows, cols = days["row"].to_numpy(), days["col"].to_numpy()
    out = sp.csr_matrix((weight, (rows, cols)), shape=shape, dtype=np.float64)
    out.sum_duplicates()  # an item in several baskets: the sum of their weights
    return out.astype(np.float32)


def _line_strength(
    events: pd.DataFrame, config: MatrixConfig, now: pd.Timestamp | None
) -> np.ndarray:
    if config.half_life_days is None or events.empty:
        return np.ones(len(events), dtype=np.float32)
    stamps = events["timestamp"]
    reference = now if now is not None else stamps.max()
    age_days = (reference - stamps).dt.total_seconds().to_numpy() / 86_400.0
    return np.power(0.5, np.maximum(age_days, 0.0) / config.half_life_days).astype(np.float32)


def weigh(counts: sp.csr_matrix, config: MatrixConfig) -> sp.csr_matrix:
    """Apply the configured weighting to a matrix of (decayed) line counts (not the
    day weightings: counts do not carry days; :meth:`RepeatIndex.day_matrix`)."""
    if config.weighting in (*DAYS, "tifu"):
        raise ValueError(f"{config.weighting}: build it from the events or the purchase days")
    out = counts.copy().astype(np.float32)
    if config.weighting == "binary":
        out.data[:] = 1.0
    elif config.weighting == "log1p":
        out.data = np.log1p(out.data)
    elif config.weighting == "bm25":
        out = bm25_weight(out, K1=config.bm25_k1, B=config.bm25_b).tocsr().astype(np.float32)
    out.eliminate_zeros()
    return out
