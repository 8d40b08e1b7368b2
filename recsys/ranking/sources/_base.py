"""The contract of a candidate source, and the two shapes of a request it answers.

A source proposes up to ``n`` items per request with its own scores, and says
why it proposed the items that were shown. It answers a :class:`Batch` (many
requests as sparse rows: evaluation, precompute) and a :class:`Query` (one
request as sorted item columns: serving, where building sparse matrices costs
more than the arithmetic). Both methods live side by side in one class, and a
test holds them to the same answer; neither allocates a catalogue-long vector.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import scipy.sparse as sp

from recsys._sparse import found_in, row_keys, top_per_row
from recsys.models import top_candidates
from recsys.ranking.blend import Blended, Candidates
from recsys.ranking.explain import Reason
from recsys.ranking.options import RequestOptions

__all__ = ["NONE", "Batch", "Query", "Shown", "Source", "day_of", "sparse_top", "top_of"]

NONE = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Query:
    """One request: the client's row (``-1`` unknown) and item columns (sorted, unique).

    ``fired_rules`` and ``fired_analyst`` (rule ids) are filled in by the ranking
    core before the sources run: the reasons need them too.
    """

    row: int
    history: np.ndarray
    basket: np.ndarray
    options: RequestOptions
    fired_rules: np.ndarray | None = None
    fired_analyst: np.ndarray = field(default_factory=lambda: NONE)
    recent: np.ndarray = field(default_factory=lambda: NONE)
    """Items bought since the bundle was trained (in ``history`` too): the repeat
    index has not seen them; they count as one more purchase day on the request's day."""
    everything: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        union = np.union1d(self.history, self.basket) if self.basket.size else self.history
        object.__setattr__(self, "everything", union)

    @property
    def seen(self) -> np.ndarray | None:
        """Items the sources may not propose: history, when the options exclude it."""
        return self.history if self.options.exclude_purchased else None

    @property
    def cold(self) -> bool:
        """Neither a past nor a basket: only popularity and analyst rules speak."""
        return self.row < 0 and self.everything.size == 0

    @property
    def day(self) -> date:
        """The day repeats and analyst rules are read on (see :func:`day_of`)."""
        return day_of(self.options)


@dataclass(frozen=True)
class Batch:
    """Many requests as sparse rows (binary CSR, one row per request)."""

    rows: np.ndarray
    history: sp.csr_matrix
    everything: sp.csr_matrix
    options: RequestOptions
    fired_rules: sp.csr_matrix | None = None
    recent: sp.csr_matrix | None = None
    """Rows × items bought since the bundle was trained (0/1; in ``history`` too)."""

    @property
    def seen(self) -> sp.csr_matrix | None:
        """Rows × items the sources may not propose (history, when excluded)."""
        return self.history if self.options.exclude_purchased else None

    @property
    def cold(self) -> np.ndarray:
        """Per row: neither a past nor a basket."""
        return (self.rows < 0) & (np.diff(self.everything.indptr) == 0)

    @property
    def day(self) -> date:
        """The day repeats and analyst rules are read on (see :func:`day_of`)."""
        return day_of(self.options)


def day_of(options: RequestOptions) -> date:
    """The request's day, which the ranking core's clock fills in before any source
    runs: a source never reads a clock of its own (one clock for every "today")."""
    if options.day is None:
        raise ValueError("the request has no day: the ranking core's clock sets it")
    return options.day


@dataclass(frozen=True)
class Shown:
    """What one ranked request showed, for the sources' reasons."""

    items: np.ndarray
    """The listed items a source is asked to explain (those it has a share in)."""
    blended: Blended
    query: Query
    related: bool = False


class Source(ABC):
    """A candidate source of the blend (one class per source, one file each)."""

    #: The key of the source in the blend weights and in the reasons.
    name: str

    @abstractmethod
    def batch(self, batch: Batch, n: int) -> Candidates:
        """Top ``n`` candidates per row, rows × n (``-1`` / ``nan`` padded)."""

    @abstractmethod
    def one(self, query: Query, n: int) -> Candidates:
        """Top ``n`` candidates of one request, compact (only real ones, best first)."""

    @abstractmethod
    def reasons(self, shown: Shown) -> dict[int, Reason]:
        """This source's reason for each shown item it can explain."""

    def relabel(self) -> None:  # noqa: B027 (most sources keep no sentences)
        """Item titles changed (the catalogue): forget sentences built from old ones."""

    def related(self, query: Query, n: int) -> Candidates | None:
        """Candidates "bought together with" the one item in ``query`` (its basket);
        ``None``: the source has nothing item-to-item to say (popularity, analyst)."""
        return None


def top_of(
    items: np.ndarray, scores: np.ndarray, n: int, seen: np.ndarray | None, positive: bool
) -> Candidates:
    """:func:`~recsys.models.top_candidates`; with ``positive``, only positive scores."""
    if positive:
        keep = scores > 0
        items, scores = items[keep], scores[keep]
    return top_candidates(items, scores, n, seen)


def sparse_top(scores: sp.csr_matrix, seen: sp.csr_matrix | None, n: int) -> Candidates:
    """Per row, the top ``n`` positive entries of sparse ``scores`` outside ``seen``."""
    scores = scores.tocsr()
    scores.sum_duplicates()
    n_rows, n_cols = scores.shape
    keys = row_keys(scores.indptr, scores.indices, n_cols)
    ok = scores.data > 0
    if seen is not None:
        seen = seen.tocsr()
        ok &= ~found_in(keys, row_keys(seen.indptr, seen.indices, n_cols))
    items, values, _ = top_per_row(keys[ok], scores.data[ok].astype(np.float64), n_rows, n_cols, n)
    return items, values
