"""Reasons a sales manager can say aloud, one per contributing source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recsys.models import Scorer
from recsys.rules.cross_sell import CrossSellRules
from recsys.rules.index import RuleIndex

__all__ = ["Reason", "ago", "because_you_bought", "cf_reason", "popular_reason", "rule_reason"]


@dataclass(frozen=True)
class Reason:
    """Why an item is on the list: its source, a sentence, and the evidence."""

    source: str
    text: str
    evidence: dict[str, Any] = field(default_factory=dict)


def ago(days: int) -> str:
    """How long ago, as a person says it: "today", "yesterday", "9 days ago", "3 weeks
    ago", "5 months ago", "2 years ago" (days up to 2 weeks, weeks up to 2 months)."""
    days = max(0, days)
    if days < 2:
        return ("today", "yesterday")[days]
    for unit, size, below in (("day", 1, 14), ("week", 7, 61), ("month", 30.44, 730)):
        if days < below:
            n = round(days / size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    n = round(days / 365.25)
    return f"{n} years ago"


def because_you_bought(
    model: Scorer, items: np.ndarray, history: np.ndarray, top: int = 3
) -> dict[int, list[int]]:
    """For each of ``items``, the client's purchases most similar to it under ``model``.

    One block of similarities (history × items) per request, not one lookup per item.
    """
    items = np.asarray(items, dtype=np.int64)
    if history.size == 0 or items.size == 0:
        return {int(i): [] for i in items}
    block = model.similarity_block(history, items)
    if block is None:
        return {int(i): [] for i in items}
    order = np.argsort(-block, axis=0, kind="stable")[:top]
    nearest = np.where(np.take_along_axis(block, order, 0) > 0, history[order], -1)
    return {
        item: [h for h in column if h >= 0]
        for item, column in zip(items.tolist(), nearest.T.tolist(), strict=True)
    }


def cf_reason(
    name: str,
    ids: Sequence[str],
    labels: Sequence[str],
    basis: list[int],
    related: bool = False,
    later: bool = False,
) -> Reason:
    """ "Clients like this one bought it", naming the nearest purchases.

    ``labels`` are the items' titles, or their ids where a title is missing; ``later``:
    the model learnt what clients bought after those items (:attr:`Scorer.later`).
    """
    names = ", ".join([labels[i] for i in basis])
    if later and names:
        text = f"Clients who bought {names} went on to buy it"
    elif related:
        text = f"Bought by the same clients as {names}" if names else "Bought by the same clients"
    else:
        text = "Clients like this one bought it" + (f"; it goes with {names}" if names else "")
    key = "similar_to" if related else "because_you_bought"
    return Reason(name, text, {"model": name, key: [ids[i] for i in basis]})


def rule_reason(
    index: RuleIndex, rule: int, item: int, ids: Sequence[str], labels: Sequence[str]
) -> Reason:
    """Association ``rule`` (the best fired one pointing to ``item``) said aloud."""
    antecedent = index.antecedent(rule).tolist()
    m = {name: float(values[rule]) for name, values in index.metrics.items()}
    left = " and ".join(labels[a] for a in antecedent)
    return Reason(
        "rules",
        f"Clients who buy {left} buy {labels[item]}: "
        f"confidence {m['confidence']:.0%}, lift {m['lift']:.1f}",
        {"rule": f"{'|'.join(sorted(ids[a] for a in antecedent))}→{ids[item]}", **m},
    )


def analyst_reason(rules: CrossSellRules, fired: np.ndarray, item_id: str) -> Reason | None:
    """The first applying analyst rule (by priority) that offers ``item_id``."""
    offering = [int(r) for r in fired if item_id in rules.rules[r].offer]
    if not offering:
        return None
    rule = rules.rules[max(offering, key=lambda r: rules.rules[r].priority)]
    evidence = {"rule_id": rule.id, "priority": rule.priority, "version": rules.version}
    return Reason("analyst", f"Marketing rule: {rule.reason}", evidence)


def popular_reason(buyers: float, segment: tuple[str, int] | None = None) -> Reason:
    """A popularity fallback, with how many clients (of the segment) bought the item."""
    if segment is not None:
        name, count = segment
        text = f"Popular with {name} clients: bought by {count:,} of them"
        return Reason(
            "popular", text, {"buyers": int(buyers), "segment": name, "segment_buyers": count}
        )
    return Reason("popular", f"Popular: bought by {int(buyers):,} clients", {"buyers": int(buyers)})
