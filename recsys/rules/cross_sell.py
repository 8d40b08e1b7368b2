"""Analyst cross-sell rules: "who bought X is offered Y", kept in a versioned file.

File format (YAML or JSON)::

    version: "2026-11-01"
    rules:
      - id: lights-to-bulbs
        if_bought: {items: ["85048"], categories: []}
        offer: ["79323P", "79323W"]
        reason: "Clients with fairy lights need spare bulbs"
        priority: 10            # higher first
        valid_from: 2026-11-01  # optional, inclusive
        valid_to: 2026-12-31    # optional, inclusive
        segments: []            # optional: only clients of these segments
        countries: []           # optional: only clients from these countries
        pinned: false           # optional: always on top of the blended list
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from recsys._fields import JsonDate, JsonInt
from recsys.errors import ConfigError
from recsys.vocab import IdMap

__all__ = ["CrossSellRule", "CrossSellRules", "Trigger", "load_cross_sell", "save_cross_sell"]


class Trigger(BaseModel):
    """What the client must have bought (any of) for the rule to fire."""

    model_config = ConfigDict(
        extra="forbid",
        use_attribute_docstrings=True,
        frozen=True,
        # The rule's validator needs one item or category: say so in the JSON schema too.
        json_schema_extra={
            "anyOf": [
                {"required": ["items"], "properties": {"items": {"minItems": 1}}},
                {"required": ["categories"], "properties": {"categories": {"minItems": 1}}},
            ]
        },
    )

    items: tuple[str, ...] = ()
    """Item ids; any one fires the rule."""
    categories: tuple[str, ...] = ()
    """Item categories; any item of one fires the rule."""


class CrossSellRule(BaseModel):
    """One marketing rule."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    id: str = Field(min_length=1)
    """Unique, stable identifier shown as evidence."""
    if_bought: Trigger
    """The trigger."""
    offer: tuple[str, ...] = Field(min_length=1)
    """Items offered when the rule fires, best first."""
    reason: str = Field(min_length=1)
    """The sentence a sales manager can say aloud."""
    priority: JsonInt = 0
    """Higher priority rules rank first among analyst offers."""
    valid_from: JsonDate | None = None
    """First day the rule applies (inclusive)."""
    valid_to: JsonDate | None = None
    """Last day the rule applies (inclusive)."""
    segments: tuple[str, ...] = ()
    """Only clients in one of these segments; all when empty."""
    countries: tuple[str, ...] = ()
    """Only clients from one of these countries; all when empty."""
    pinned: bool = Field(default=False, strict=True)
    """Place this rule's offers at the top of the blended list."""

    @model_validator(mode="after")
    def _consistent(self) -> CrossSellRule:
        if not self.if_bought.items and not self.if_bought.categories:
            raise ValueError("if_bought needs at least one item or category")
        if self.valid_from and self.valid_to and self.valid_from > self.valid_to:
            raise ValueError("valid_from is after valid_to")
        return self

    def valid_on(self, day: date) -> bool:
        """Whether ``day`` lies in the validity window."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )

    def applies(self, day: date, segment: str | None = None, country: str | None = None) -> bool:
        """Whether the rule applies on ``day`` to a client of ``segment``/``country``."""
        return (
            self.valid_on(day)
            and (not self.segments or segment in self.segments)
            and (not self.countries or country in self.countries)
        )


class CrossSellRules(BaseModel):
    """A versioned set of rules with unique ids."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    rules: tuple[CrossSellRule, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> CrossSellRules:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} appears twice")
            seen.add(rule.id)
        return self

    def triggers(self, items: IdMap, categories: dict[str, str] | None = None) -> sp.csr_matrix:
        """Items × rules: 1 where buying the item fires the rule."""
        categories = categories or {}
        rows, cols = [], []
        for r, rule in enumerate(self.rules):
            by_item = items.index(list(rule.if_bought.items))
            wanted = set(rule.if_bought.categories)
            by_category = [items.lookup(i) for i, c in categories.items() if c in wanted]
            hits = {int(i) for i in by_item if i >= 0} | {i for i in by_category if i is not None}
            rows += sorted(hits)
            cols += [r] * len(hits)
        data = np.ones(len(rows), dtype=np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(items), len(self.rules)))


def load_cross_sell(path: str | Path) -> CrossSellRules:
    """Read and validate a rules file; errors name the rule and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read rules file ({exc})") from None
    try:
        return CrossSellRules.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            f"{path}: " + "; ".join(_describe(e, raw) for e in exc.errors())
        ) from None


def save_cross_sell(rules: CrossSellRules, path: str | Path) -> None:
    """Write ``rules`` where :func:`load_cross_sell` reads them (JSON for ``.json``,
    else YAML), atomically: a reader sees the old file or the new one, never half."""
    path = Path(path)
    raw = rules.model_dump(mode="json")
    text = json.dumps(raw, indent=2) if path.suffix.lower() == ".json" else yaml.safe_dump(raw)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write rules file ({exc})") from None


def _describe(error: ErrorDetails, raw: object) -> str:
    loc = list(error["loc"])
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = raw.get("rules") if isinstance(raw, dict) else None
        rule = rules[loc[1]] if isinstance(rules, list) and len(rules) > loc[1] else None
        name = rule.get("id") if isinstance(rule, dict) else None
        label = f"rule {name!r}" if name else f"rule #{loc[1] + 1}"
        field = ".".join(map(str, loc[2:])) or "rule"
        return f"{label}, field {field}: {error['msg']}"
    return f"field {'.'.join(map(str, loc)) or 'file'}: {error['msg']}"
