"""Association rules in a form that fires for many baskets at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._io import UNREADABLE
from recsys._sparse import SCORE_DTYPE, SMALL, compact_row_sums, contains, gather_rows
from recsys.errors import ModelError

__all__ = ["RuleIndex"]

_METRICS = ("support", "confidence", "lift", "leverage")


class RuleIndex:
    """Single-consequent rules A → c as sparse matrices.

    ``antecedents`` is rules × items (1 where the item is in A); a rule fires for
    a basket holding all of A. Scores sum the confidences of the fired rules per
    consequent; the evidence shown is the fired rule with the best confidence.
    """

    def __init__(
        self, antecedents: sp.csr_matrix, consequent: np.ndarray, metrics: dict[str, np.ndarray]
    ):
        self.antecedents = antecedents.tocsr().astype(np.float32)
        self.consequent = np.asarray(consequent, dtype=np.int64)
        self.metrics = {name: np.asarray(metrics[name], dtype=np.float64) for name in _METRICS}
        self.sizes = np.diff(self.antecedents.indptr)
        # Items a rule needs held, one compare per rule (an empty rule never fires).
        # int64 first: ``sizes`` is int32 (indptr's), where the filler would wrap to -1.
        self._needed = np.where(self.sizes > 0, self.sizes.astype(np.int64), np.iinfo(np.int64).max)
        # Built once: items × rules for firing, rules × items for scoring.
        self._items_rules = self.antecedents.T.tocsr()
        n_items = self.antecedents.shape[1]
        self._consequents = sp.csr_matrix(
            (self.metrics["confidence"], (np.arange(len(self.consequent)), self.consequent)),
            shape=(len(self.consequent), n_items),
        )
        self._one_each = self._consequents.nnz == len(self.consequent)  # zeros kept

    @classmethod
    def from_rules(cls, rules: pd.DataFrame, n_items: int) -> RuleIndex:
        """Keep the rules of :func:`recsys.rules.mine_rules` with one consequent."""
        single = rules[rules["consequents"].map(len) == 1]
        lengths = single["antecedents"].map(len).to_numpy()
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        indices = np.fromiter((i for a in single["antecedents"] for i in a), dtype=np.int64)
        matrix = sp.csr_matrix(
            (np.ones(len(indices), np.float32), indices, indptr), shape=(len(single), n_items)
        )
        consequent = single["consequents"].map(lambda c: c[0]).to_numpy()
        return cls(matrix, consequent, {m: single[m].to_numpy() for m in _METRICS})

    def __len__(self) -> int:
        return len(self.consequent)

    def fired(self, baskets: sp.csr_matrix) -> sp.csr_matrix:
        """Baskets × rules: 1 where the whole antecedent is in the basket."""
        held = ((baskets > 0).astype(np.float32) @ self._items_rules).tocsr()
        held.data = (held.data >= self.sizes[held.indices]).astype(np.float32)
        held.eliminate_zeros()
        return held

    def scores(self, baskets: sp.csr_matrix) -> sp.csr_matrix:
        """Baskets × items: summed confidence of the fired rules per consequent."""
        return self.scores_of(self.fired(baskets))

    def scores_of(self, fired: sp.csr_matrix) -> sp.csr_matrix:
        """Baskets × items from an already computed :meth:`fired` matrix."""
        return (fired @ self._consequents).tocsr()

    def fired_by(self, items: np.ndarray) -> np.ndarray:
        """Ids of the rules one basket (item columns, unique) fires: :meth:`fired`, one row."""
        hits = gather_rows(self._items_rules, items)[0]
        if len(self) <= SMALL:
            return np.flatnonzero(np.bincount(hits, minlength=len(self)) >= self._needed)
        # Compact counts (not one per rule): a large catalogue may have many rules.
        rules, counts = np.unique(hits, return_counts=True)
        return rules[(counts >= self.sizes[rules]) & (self.sizes[rules] > 0)].astype(np.int64)

    def scores_by(self, fired: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One basket's fired rules' consequents (sorted) and summed confidences:
        :meth:`scores_of` for one row, compact (no catalogue-long vector)."""
        n_items = self._consequents.shape[1]
        if not self._one_each or n_items > SMALL:
            return compact_row_sums(self._consequents, fired)
        # One entry per rule: its row is (consequent, confidence), no row gathering.
        columns, values = self.consequent[fired], self.metrics["confidence"][fired]
        found = np.flatnonzero(np.bincount(columns, minlength=n_items))
        return found, np.bincount(columns, values, n_items)[found].astype(SCORE_DTYPE)

    def antecedent(self, rule: int) -> np.ndarray:
        """Item columns of one rule's antecedent."""
        a = self.antecedents
        return a.indices[a.indptr[rule] : a.indptr[rule + 1]]

    def best_rules(self, fired: np.ndarray, items: np.ndarray) -> dict[int, int]:
        """For each of ``items`` some rule points to: the highest-confidence rule among
        ``fired`` (rule ids) with it as consequent; equal confidence → lower rule id."""
        fired = np.asarray(fired, dtype=np.int64)
        fired = fired[contains(np.sort(items), self.consequent[fired])]
        consequent = self.consequent[fired]
        order = np.lexsort((-self.metrics["confidence"][fired], consequent))
        ranked, consequent = fired[order], consequent[order]
        # The first of each consequent (np.r_ costs more than the search here).
        first = np.concatenate(([True], consequent[1:] != consequent[:-1]))[: ranked.size]
        return dict(zip(consequent[first].tolist(), ranked[first].tolist(), strict=True))

    def save(self, path: Path) -> None:
        """Write as one ``.npz`` (no pickle)."""
        a = self.antecedents
        arrays: dict[str, Any] = {
            "indptr": a.indptr,
            "indices": a.indices,
            "n_items": np.array(a.shape[1]),
            "consequent": self.consequent,
            **self.metrics,
        }
        np.savez(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> RuleIndex:
        """Read what :meth:`save` wrote."""
        try:
            with np.load(path, allow_pickle=False) as z:
                n = len(z["consequent"])
                data = np.ones(len(z["indices"]), np.float32)
                matrix = sp.csr_matrix(
                    (data, z["indices"], z["indptr"]), shape=(n, int(z["n_items"]))
                )
                return cls(matrix, z["consequent"], {m: z[m] for m in _METRICS})
        except UNREADABLE as exc:
            raise ModelError(f"{path}: cannot load rules ({exc})") from None
