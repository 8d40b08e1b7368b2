"""Reasons a sales manager can say aloud, one per contributing source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.models import ALSScorer, BPRScorer, ItemKNNScorer, Scorer
from recsys.rules.cross_sell import CrossSellRules
from recsys.rules.index import RuleIndex

__all__ = ["Reason", "because_you_bought", "cf_reason", "popular_reason", "rule_reason"]


@dataclass(frozen=True)
class Reason:
    """Why an item is on the list: its source, a sentence, and the evidence."""

    source: str
    text: str
    evidence: dict[str, Any] = field(default_factory=dict)


def because_you_bought(model: Scorer, item: int, history: np.ndarray, top: int = 3) -> list[int]:
    """The client's purchases most similar to ``item`` under ``model``."""
    if history.size == 0:
        return []
    if isinstance(model, ItemKNNScorer):
        weights = model.model.similarity.tocsr()[history][:, [item]].toarray().ravel()
    elif not isinstance(model, ALSScorer | BPRScorer):
        return []
    else:
        factors = np.asarray(model.model.item_factors, dtype=np.float64)
        unit = factors / np.maximum(np.linalg.norm(factors, axis=1, keepdims=True), 1e-12)
        weights = unit[history] @ unit[item]
    order = np.argsort(-weights, kind="stable")[:top]
    return [int(history[i]) for i in order if weights[i] > 0]


def cf_reason(
    name: str, ids: np.ndarray, titles: np.ndarray, basis: list[int], related: bool = False
) -> Reason:
    """ "Clients like this one bought it", naming the nearest purchases."""
    names = ", ".join(titles[i] or ids[i] for i in basis)
    if related:
        text = f"Bought by the same clients as {names}" if names else "Bought by the same clients"
    else:
        text = "Clients like this one bought it" + (f"; it goes with {names}" if names else "")
    key = "similar_to" if related else "because_you_bought"
    return Reason(name, text, {"model": name, key: [str(ids[i]) for i in basis]})


def rule_reason(
    index: RuleIndex, basket: sp.csr_matrix, item: int, ids: np.ndarray, titles: np.ndarray
) -> Reason | None:
    """The strongest fired association rule behind ``item``."""
    rule = index.best_rule(basket, item)
    if rule is None:
        return None
    antecedent = index.antecedents[rule].indices
    m = {name: float(values[rule]) for name, values in index.metrics.items()}
    left = " and ".join(titles[a] or ids[a] for a in antecedent)
    return Reason(
        "rules",
        f"Clients who buy {left} buy {titles[item] or ids[item]}: "
        f"confidence {m['confidence']:.0%}, lift {m['lift']:.1f}",
        {"rule": f"{'|'.join(sorted(ids[antecedent]))}→{ids[item]}", **m},
    )


def analyst_reason(rules: CrossSellRules, fired: list[int], item_id: str) -> Reason | None:
    """The first applying analyst rule (by priority) that offers ``item_id``."""
    offering = [r for r in fired if item_id in rules.rules[r].offer]
    if not offering:
        return None
    rule = rules.rules[max(offering, key=lambda r: rules.rules[r].priority)]
    evidence = {"rule_id": rule.id, "priority": rule.priority, "version": rules.version}
    return Reason("analyst", f"Marketing rule: {rule.reason}", evidence)


def popular_reason(buyers: float) -> Reason:
    """A popularity fallback, with how many clients bought the item."""
    return Reason("popular", f"Popular: bought by {int(buyers):,} clients", {"buyers": int(buyers)})
