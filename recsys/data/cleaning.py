"""Named, configurable cleaning steps, each counting the rows it removes.

Steps run in a fixed order on the rows the earlier steps kept, so every removed
row is counted once, under the first reason that applies. Lines without a client
are *kept*: baskets and popularity use them; the client × item matrix leaves
them out (see :mod:`recsys.matrix`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from recsys.privacy import client_hash

__all__ = [
    "CLEANING_STEPS",
    "OPERATIONS",
    "CleaningConfig",
    "CleaningStep",
    "Predicate",
    "clean_events",
]

#: Stock codes that are postage, fees, adjustments or tests in the Online Retail
#: data; full-match, case-insensitive regular expressions.
DEFAULT_NON_PRODUCT_PATTERNS: tuple[str, ...] = (
    "POST",
    "DOT",
    "M",
    "D",
    "S",
    "B",
    "C2",
    "CRUK",
    "BANK CHARGES",
    "AMAZONFEE",
    r"ADJUST\d*",
    r"TEST.*",
    r"gift_.*",
)


class CleaningConfig(BaseModel):
    """Which cleaning steps run, and their parameters."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    non_purchase: bool = True
    """Drop events that are not purchases (views, add-to-cart) when ``event_type`` is given."""
    duplicates: bool = True
    """Drop exact duplicate lines (every column equal), keeping the first."""
    cancellations: bool = True
    """Drop lines whose order id starts with ``cancellation_prefix``."""
    cancellation_prefix: str = Field(default="C", min_length=1)
    """Order-id prefix that marks a cancellation (``C`` in Online Retail)."""
    non_positive_quantity: bool = True
    """Drop returns and adjustments: quantity ≤ 0 on lines that are not cancellations."""
    non_product: bool = True
    """Drop lines whose item id matches one of ``non_product_patterns``."""
    non_product_patterns: tuple[str, ...] = DEFAULT_NON_PRODUCT_PATTERNS
    """Full-match, case-insensitive regular expressions for non-product item ids."""
    non_positive_price: bool = True
    """Drop lines with a unit price ≤ 0 (free samples, bad-debt write-offs)."""
    deleted_clients: bool = True
    """Drop every line of a deleted client (see ``tombstones``)."""
    tombstones: frozenset[str] = frozenset()
    """SHA-256 of the ids of deleted clients (:mod:`recsys.privacy`); their lines never
    reach a model, a rule or a feature."""

    @property
    def non_product_pattern(self) -> str:
        """``non_product_patterns`` as one expression (the ``non_product`` step's argument)."""
        return "|".join(f"(?:{p})" for p in self.non_product_patterns)

    @field_validator("non_product_patterns")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid pattern {pattern!r}: {exc}") from None
        return patterns


@dataclass(frozen=True)
class Predicate:
    """Which rows a step removes, written as data so that each engine expresses it once:
    pandas here (:data:`PANDAS`), Spark SQL in ``training.spark`` (a test checks that
    both engines know every operation).

    ``op`` is one of :data:`OPERATIONS`; ``column`` the canonical column it reads;
    ``setting`` the :class:`CleaningConfig` field (or property) holding its argument,
    or ``value`` a constant. A step whose column the input lacks removes nothing.
    """

    op: str
    column: str = ""
    setting: str = ""
    value: str = ""

    def argument(self, config: CleaningConfig) -> Any:
        """The operation's argument: the setting's value, or the constant."""
        return getattr(config, self.setting) if self.setting else self.value


@dataclass(frozen=True)
class CleaningStep:
    """One cleaning rule: its name (the report key), what it removes, and its predicate."""

    name: str
    description: str
    drops: Predicate

    def mask(self, events: pd.DataFrame, config: CleaningConfig) -> np.ndarray:
        """The rows of ``events`` this step removes (pandas)."""
        column = self.drops.column
        if column and column not in events.columns:
            return np.zeros(len(events), dtype=bool)
        return PANDAS[self.drops.op](events, column, self.drops.argument(config))


PandasOp = Callable[[pd.DataFrame, str, Any], np.ndarray]


def _hash_in(events: pd.DataFrame, column: str, gone: frozenset[str]) -> np.ndarray:
    if not gone:
        return np.zeros(len(events), dtype=bool)
    return _on_categories(events[column], lambda s: s.map(lambda c: client_hash(c) in gone))


def _differs(events: pd.DataFrame, column: str, value: str) -> np.ndarray:
    kind = events[column]
    return (kind.notna() & (kind.astype(str) != value)).to_numpy()


def _duplicate(events: pd.DataFrame, _: str, __: Any) -> np.ndarray:
    return events.duplicated(keep="first").to_numpy()


def _starts_with(events: pd.DataFrame, column: str, prefix: str) -> np.ndarray:
    return _on_categories(events[column], lambda s: s.str.startswith(prefix))


def _not_positive(events: pd.DataFrame, column: str, _: Any) -> np.ndarray:
    return (events[column] <= 0).to_numpy()


def _full_match(events: pd.DataFrame, column: str, pattern: str) -> np.ndarray:
    return _on_categories(
        events[column], lambda s: s.str.fullmatch(pattern, case=False).fillna(False)
    )


def _on_categories(column: pd.Series, test: Callable[[pd.Series], pd.Series]) -> np.ndarray:
    """Evaluate a string test once per category, then broadcast by code (fast)."""
    if len(column.cat.categories) == 0:  # e.g. an event log without order ids
        return np.zeros(len(column), dtype=bool)
    hits = np.asarray(test(pd.Series(column.cat.categories, dtype=str)), dtype=bool)
    codes = column.cat.codes.to_numpy()
    return np.where(codes >= 0, hits[np.maximum(codes, 0)], False)


#: The operations a step may use, expressed for pandas. ``hash_in``: the SHA-256 of the
#: value is listed; ``differs``: set and not the value; ``duplicate``: an earlier row
#: equal in every column; ``not_positive``: ≤ 0 (a missing number is kept);
#: ``full_match``: the whole value matches the expression, ignoring case.
PANDAS: dict[str, PandasOp] = {
    "hash_in": _hash_in,
    "differs": _differs,
    "duplicate": _duplicate,
    "starts_with": _starts_with,
    "not_positive": _not_positive,
    "full_match": _full_match,
}
OPERATIONS: frozenset[str] = frozenset(PANDAS)

#: The steps, in the order they run.
CLEANING_STEPS: tuple[CleaningStep, ...] = (
    CleaningStep(
        "deleted_clients",
        "clients deleted on request (tombstones)",
        Predicate("hash_in", "client_id", setting="tombstones"),
    ),
    CleaningStep(
        "non_purchase",
        "views and add-to-cart events",
        Predicate("differs", "event_type", value="purchase"),
    ),
    CleaningStep("duplicates", "exact duplicate lines", Predicate("duplicate")),
    CleaningStep(
        "cancellations",
        "cancelled orders (order id prefix)",
        Predicate("starts_with", "order_id", setting="cancellation_prefix"),
    ),
    CleaningStep(
        "non_positive_quantity",
        "returns and adjustments (quantity ≤ 0)",
        Predicate("not_positive", "quantity"),
    ),
    CleaningStep(
        "non_product",
        "postage, fees, adjustments, tests (item id pattern)",
        Predicate("full_match", "item_id", setting="non_product_pattern"),
    ),
    CleaningStep(
        "non_positive_price", "zero or negative unit price", Predicate("not_positive", "price")
    ),
)


def clean_events(
    events: pd.DataFrame, config: CleaningConfig | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply every enabled step; return the kept rows and the count dropped per step."""
    config = config or CleaningConfig()
    keep = np.ones(len(events), dtype=bool)
    dropped: dict[str, int] = {}
    for step in CLEANING_STEPS:
        if not getattr(config, step.name):
            continue
        hit = step.mask(events, config) & keep
        dropped[step.name] = int(hit.sum())
        keep &= ~hit
    return events.loc[keep].reset_index(drop=True), dropped
