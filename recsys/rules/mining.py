"""Exact frequent itemsets and association rules from sparse baskets.

Itemsets grow level by level as a prefix tree: each frequent (k-1)-itemset is
extended by every item after its last one, and all extensions are counted at
once by one sparse product ``incidence.T @ baskets``. No dense basket × item
matrix is ever built. Supports are exact counts; every frequent itemset's
prefix is frequent (anti-monotonicity), so nothing is missed. Results match
mlxtend's ``fpgrowth`` + ``association_rules`` (a test compares them).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from recsys.errors import ConfigError
from recsys.rules.baskets import Baskets

__all__ = [
    "METRICS",
    "Itemsets",
    "RulesConfig",
    "frequent_itemsets",
    "min_count",
    "mine_rules",
    "rules_from_itemsets",
]


class RulesConfig(BaseModel):
    """Thresholds of the rule miner."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    min_support: float = Field(default=0.01, gt=0, le=1)
    """Minimum share of baskets that hold antecedent and consequent together."""
    min_confidence: float = Field(default=0.2, ge=0, le=1)
    """Minimum P(consequent | antecedent)."""
    min_leverage: float | None = Field(default=None, ge=-0.25, le=0.25)
    """Minimum support(A∪C) − support(A)·support(C); unfiltered when unset."""
    min_lift: float | None = Field(default=None, ge=0)
    """Minimum confidence / support(C); unfiltered when unset."""
    max_len: int | None = Field(default=None, ge=2)
    """Largest itemset (antecedent + consequent); unbounded when unset."""
    max_itemsets: int = Field(default=2_000_000, ge=1)
    """Stop with an error, instead of exhausting memory, past this many itemsets."""


@dataclass(frozen=True)
class Itemsets:
    """Frequent itemsets of one size: sorted item columns per row, and basket counts."""

    items: np.ndarray  # (n, k) int64, each row ascending
    counts: np.ndarray  # (n,) int64


def frequent_itemsets(
    baskets: Baskets, min_support: float, max_len: int | None, max_itemsets: int = 2_000_000
) -> list[Itemsets]:
    """All itemsets whose support reaches ``min_support``, by size (index 0 = singletons).

    Raises :class:`ConfigError` when more than ``max_itemsets`` would be kept.
    """
    matrix = baskets.matrix.tocsc().astype(np.float32)
    least = min_count(min_support, baskets.count)
    singles = np.flatnonzero(np.asarray(matrix.sum(axis=0)).ravel() >= least)
    base = matrix[:, singles]  # only frequent items can be in frequent itemsets
    counts = np.asarray(base.sum(axis=0)).ravel().astype(np.int64)
    levels = [Itemsets(singles[:, None].astype(np.int64), counts)]
    incidence, local = base, np.arange(len(singles))[:, None]
    while len(local) and (max_len is None or local.shape[1] < max_len):
        local, counts, incidence = _extend(incidence, base, local, least)
        if sum(len(level.counts) for level in levels) + len(local) > max_itemsets:
            raise ConfigError(
                f"min_support: {min_support} leaves more than {max_itemsets:,} frequent "
                f"itemsets (size {local.shape[1]} and growing); raise min_support or set max_len"
            )
        if len(local):
            levels.append(Itemsets(singles[local], counts))
    return levels


def _extend(
    incidence: sp.csc_matrix, base: sp.csc_matrix, local: np.ndarray, min_count: int
) -> tuple[np.ndarray, np.ndarray, sp.csc_matrix]:
    """Count every itemset + one later item at once; keep the frequent ones."""
    together = (incidence.T @ base).tocoo()
    keep = (together.col > local[together.row, -1]) & (together.data >= min_count)
    parent, item = together.row[keep], together.col[keep]
    order = np.lexsort((item, parent))
    parent, item = parent[order], item[order]
    grown = np.column_stack([local[parent], item]).astype(np.int64)
    next_incidence = incidence[:, parent].multiply(base[:, item]).tocsc()
    return grown, together.data[keep][order].astype(np.int64), next_incidence


def _support_lookup(levels: list[Itemsets], n_baskets: int) -> dict[int, pd.Series]:
    """Per size, support indexed by the itemset's columns (a MultiIndex)."""
    return {
        level.items.shape[1]: pd.Series(
            level.counts / n_baskets,
            index=pd.MultiIndex.from_arrays(list(level.items.T)),
        )
        for level in levels
    }


def mine_rules(baskets: Baskets, config: RulesConfig) -> pd.DataFrame:
    """Rules A → C with every metric, filtered by the config's thresholds.

    Columns: ``antecedents``, ``consequents`` (tuples of item column indices),
    ``support, confidence, lift, leverage, conviction, antecedent_support,
    consequent_support``. Sorted by confidence, then lift, descending.
    """
    levels = frequent_itemsets(baskets, config.min_support, config.max_len, config.max_itemsets)
    return rules_from_itemsets(levels, baskets.count, config)


def min_count(min_support: float, baskets: int) -> int:
    """The fewest baskets an itemset must be in: ⌈support × baskets⌉, robust to the
    float error of the product (0.005 × 20,000 is 100.00000000000001, not 101)."""
    return int(np.ceil(min_support * baskets - 1e-9))


def rules_from_itemsets(
    levels: list[Itemsets], n_baskets: int, config: RulesConfig
) -> pd.DataFrame:
    """Every rule of the frequent ``levels`` (index 0 = singletons, rows ascending) with
    its metrics, filtered and sorted as :func:`mine_rules` says; the itemsets may come
    from any counter (this miner, Spark's FPGrowth)."""
    lookup = _support_lookup(levels, n_baskets)
    frames = [_rules_of(level, lookup, n_baskets) for level in levels[1:]]
    columns = ["antecedents", "consequents", *METRICS]
    rules = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return (
        _filter(rules, config)
        .sort_values(["confidence", "lift", "support"], ascending=False, kind="stable")
        .reset_index(drop=True)
    )


METRICS = [
    "support",
    "confidence",
    "lift",
    "leverage",
    "conviction",
    "antecedent_support",
    "consequent_support",
]


def _rules_of(level: Itemsets, lookup: dict[int, pd.Series], n: int) -> pd.DataFrame:
    """Every split of every itemset of one size into antecedent → consequent."""
    size = level.items.shape[1]
    parts = []
    for take in range(1, size):
        for positions in itertools.combinations(range(size), take):
            rest = [p for p in range(size) if p not in positions]
            parts.append(_split(level, list(positions), rest, lookup, n))
    return pd.concat(parts, ignore_index=True)


def _split(
    level: Itemsets, ant: list[int], cons: list[int], lookup: dict[int, pd.Series], n: int
) -> pd.DataFrame:
    a_items, c_items = level.items[:, ant], level.items[:, cons]
    support = level.counts / n
    a_support = _lookup(lookup[len(ant)], a_items)
    c_support = _lookup(lookup[len(cons)], c_items)
    confidence = support / a_support
    with np.errstate(divide="ignore"):
        conviction = np.where(confidence >= 1.0, np.inf, (1 - c_support) / (1 - confidence))
    return pd.DataFrame(
        {
            "antecedents": list(map(tuple, a_items.tolist())),
            "consequents": list(map(tuple, c_items.tolist())),
            "support": support,
            "confidence": confidence,
            "lift": confidence / c_support,
            "leverage": support - a_support * c_support,
            "conviction": conviction,
            "antecedent_support": a_support,
            "consequent_support": c_support,
        }
    )


def _lookup(table: pd.Series, items: np.ndarray) -> np.ndarray:
    positions = table.index.get_indexer(pd.MultiIndex.from_arrays(list(items.T)))
    return table.to_numpy()[positions]


def _filter(rules: pd.DataFrame, config: RulesConfig) -> pd.DataFrame:
    keep = rules["confidence"] >= config.min_confidence - 1e-12
    if config.min_leverage is not None:
        keep &= rules["leverage"] >= config.min_leverage - 1e-12
    if config.min_lift is not None:
        keep &= rules["lift"] >= config.min_lift - 1e-12
    return rules.loc[keep]
