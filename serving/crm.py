"""What the CRM screen shows of an offer's reasons: one sentence per distinct reason,
the sources that gave it, and its evidence in words a manager reads (item titles,
"confidence 100 %, lift 20.9"), never a Python dict.

The JSON API keeps one reason per source with machine-readable evidence; this is
only the screen's reading of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from recsys.ranking import HybridRecommender, RankedItem

__all__ = ["ReasonLine", "item_label", "reason_lines", "source_names"]

#: How the screen names the sources that are not models (models carry a ``label``).
SOURCE_NAMES = {"rules": "association rules", "analyst": "marketing rule", "popular": "popularity"}

Label = Callable[[str], str]


@dataclass
class ReasonLine:
    """One sentence on the screen, the sources that gave it, and its evidence."""

    text: str
    sources: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


def item_label(recommender: HybridRecommender) -> Label:
    """Item id → "TITLE (id)", or the id alone when the catalogue has no title."""

    def label(item_id: str) -> str:
        column = recommender.bundle.data.items.lookup(item_id)
        title = recommender.title_list[column] if column is not None else ""
        return f"{title} ({item_id})" if title else item_id

    return label


def source_names(recommender: HybridRecommender) -> dict[str, str]:
    """Source name → how the screen says it: each model's label, then the others."""
    models = {name: model.label or name for name, model in recommender.cf.items()}
    return {**models, **SOURCE_NAMES}


def reason_lines(item: RankedItem, label: Label, names: dict[str, str]) -> list[ReasonLine]:
    """The item's reasons, merged where several sources say the same sentence."""
    lines: dict[str, ReasonLine] = {}
    for reason in item.reasons:
        line = lines.setdefault(reason.text, ReasonLine(reason.text))
        line.sources.append(names.get(reason.source, reason.source))
        line.details += [d for d in _evidence(reason.evidence, label) if d not in line.details]
    return list(lines.values())


def _evidence(evidence: dict[str, Any], label: Label) -> list[str]:
    """Each known evidence field in words; the order is the order of importance."""
    words = []
    for key, ids in (("because_you_bought", "Nearest purchases"), ("similar_to", "Similar to")):
        if evidence.get(key):
            words.append(f"{ids}: " + "; ".join(label(i) for i in evidence[key]))
    if "rule" in evidence:
        words += _rule(evidence, label)
    if "rule_id" in evidence:
        words.append(
            f"Marketing rule {evidence['rule_id']}, priority {evidence['priority']}"
            f" (rules version {evidence['version']})"
        )
    if "buyers" in evidence:
        words.append(f"Bought by {evidence['buyers']:,} clients")
    if "segment" in evidence:
        words.append(f"Bought by {evidence['segment_buyers']:,} {evidence['segment']} clients")
    return words


def _rule(m: dict[str, Any], label: Label) -> list[str]:
    left, _, right = str(m["rule"]).partition("→")
    return [
        " and ".join(label(i) for i in left.split("|")) + " → " + label(right),
        f"confidence {m['confidence']:.0%}, lift {m['lift']:.1f}, "
        f"support {m['support']:.2%} of baskets, leverage {m['leverage']:.4f}",
    ]
