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

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from recsys.privacy import client_hash

__all__ = ["CLEANING_STEPS", "CleaningConfig", "CleaningStep", "clean_events"]

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

    @field_validator("non_product_patterns")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid pattern {pattern!r}: {exc}") from None
        return patterns


Mask = Callable[[pd.DataFrame, CleaningConfig], np.ndarray]


@dataclass(frozen=True)
class CleaningStep:
    """One cleaning rule: its name (the report key), what it removes, and its mask."""

    name: str
    description: str
    drops: Mask


def _deleted_clients(events: pd.DataFrame, config: CleaningConfig) -> np.ndarray:
    if not config.tombstones:
        return np.zeros(len(events), dtype=bool)
    gone = config.tombstones
    return _on_categories(events["client_id"], lambda s: s.map(lambda c: client_hash(c) in gone))


def _non_purchase(events: pd.DataFrame, _: CleaningConfig) -> np.ndarray:
    if "event_type" not in events.columns:
        return np.zeros(len(events), dtype=bool)
    kind = events["event_type"]
    return (kind.notna() & (kind.astype(str) != "purchase")).to_numpy()


def _duplicates(events: pd.DataFrame, _: CleaningConfig) -> np.ndarray:
    return events.duplicated(keep="first").to_numpy()


def _cancellations(events: pd.DataFrame, config: CleaningConfig) -> np.ndarray:
    return _on_categories(
        events["order_id"], lambda s: s.str.startswith(config.cancellation_prefix)
    )


def _non_positive_quantity(events: pd.DataFrame, _: CleaningConfig) -> np.ndarray:
    return (events["quantity"] <= 0).to_numpy()


def _non_product(events: pd.DataFrame, config: CleaningConfig) -> np.ndarray:
    pattern = "|".join(f"(?:{p})" for p in config.non_product_patterns)
    return _on_categories(
        events["item_id"], lambda s: s.str.fullmatch(pattern, case=False).fillna(False)
    )


def _non_positive_price(events: pd.DataFrame, _: CleaningConfig) -> np.ndarray:
    return (events["price"] <= 0).to_numpy()


def _on_categories(column: pd.Series, test: Callable[[pd.Series], pd.Series]) -> np.ndarray:
    """Evaluate a string test once per category, then broadcast by code (fast)."""
    if len(column.cat.categories) == 0:  # e.g. an event log without order ids
        return np.zeros(len(column), dtype=bool)
    hits = np.asarray(test(pd.Series(column.cat.categories, dtype=str)), dtype=bool)
    codes = column.cat.codes.to_numpy()
    return np.where(codes >= 0, hits[np.maximum(codes, 0)], False)


#: The steps, in the order they run.
CLEANING_STEPS: tuple[CleaningStep, ...] = (
    CleaningStep("deleted_clients", "clients deleted on request (tombstones)", _deleted_clients),
    CleaningStep("non_purchase", "views and add-to-cart events", _non_purchase),
    CleaningStep("duplicates", "exact duplicate lines", _duplicates),
    CleaningStep("cancellations", "cancelled orders (order id prefix)", _cancellations),
    CleaningStep(
        "non_positive_quantity", "returns and adjustments (quantity ≤ 0)", _non_positive_quantity
    ),
    CleaningStep(
        "non_product", "postage, fees, adjustments, tests (item id pattern)", _non_product
    ),
    CleaningStep("non_positive_price", "zero or negative unit price", _non_positive_price),
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
        hit = step.drops(events, config) & keep
        dropped[step.name] = int(hit.sum())
        keep &= ~hit
    return events.loc[keep].reset_index(drop=True), dropped
