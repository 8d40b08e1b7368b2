"""What changed between two bundles: clients, items, rules, and the lists they serve.

Lists are compared on a deterministic sample of the clients both bundles know: each
client's top-10 from the served blend (default weights, no analyst rules, the same
day for both), as item ids. A list *changed* when the ordered top-10 differs; the
rank-biased overlap (Webber, Moffat and Zobel 2010, extrapolated to the lists' depth,
persistence p = 0.9) says how far: 1 for the same list, 0 for disjoint ones, and
weighs the top ranks most. Rules are matched by antecedent → consequent (item ids);
one present in both *changed* when its confidence moved more than ``tolerance``, or
its lift more than ``tolerance`` of itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from recsys.bundle import Bundle
from recsys.ranking import BlendConfig, HybridRecommender, RequestOptions

__all__ = ["DiffConfig", "diff_bundles", "list_changes", "rank_biased_overlap", "rule_changes"]

RuleKey = tuple[tuple[str, ...], str]


@dataclass(frozen=True)
class DiffConfig:
    """How the comparison is made."""

    sample: int = 500
    k: int = 10
    persistence: float = 0.9
    tolerance: float = 1e-3
    seed: int = 0
    top: int = 5


def diff_bundles(a: Bundle, b: Bundle, config: DiffConfig | None = None) -> dict[str, Any]:
    """Everything ``b`` changed from ``a`` (added = in ``b`` only)."""
    config = config or DiffConfig()
    return {
        "a": a.version,
        "b": b.version,
        "clients": _added_removed(a.data.clients.ids, b.data.clients.ids),
        "items": _added_removed(a.data.items.ids, b.data.items.ids),
        "rules": rule_changes(rule_table(a), rule_table(b), config),
        **list_changes(a, b, config),
    }


def _added_removed(a: np.ndarray, b: np.ndarray) -> dict[str, int]:
    return {
        "added": int(np.setdiff1d(b, a).size),
        "removed": int(np.setdiff1d(a, b).size),
        "a": int(a.size),
        "b": int(b.size),
    }


def rule_table(bundle: Bundle) -> dict[RuleKey, tuple[float, float]]:
    """(antecedent ids sorted, consequent id) → (confidence, lift) of each rule."""
    rules, ids = bundle.rules, bundle.data.items.ids
    if rules is None:
        return {}
    table = {}
    for rule in range(len(rules)):
        antecedent = tuple(sorted(str(i) for i in ids[rules.antecedent(rule)]))
        key = (antecedent, str(ids[rules.consequent[rule]]))
        table[key] = (float(rules.metrics["confidence"][rule]), float(rules.metrics["lift"][rule]))
    return table


def rule_changes(
    a: dict[RuleKey, tuple[float, float]],
    b: dict[RuleKey, tuple[float, float]],
    config: DiffConfig,
) -> dict[str, Any]:
    """Counts of rules added, removed and changed, and the top added and removed by lift."""
    added, removed = b.keys() - a.keys(), a.keys() - b.keys()
    changed = [key for key in a.keys() & b.keys() if _moved(a[key], b[key], config.tolerance)]
    return {
        "added": len(added),
        "removed": len(removed),
        "changed": len(changed),
        "a": len(a),
        "b": len(b),
        "top_added": _top(added, b, config.top),
        "top_removed": _top(removed, a, config.top),
    }


def _moved(old: tuple[float, float], new: tuple[float, float], tolerance: float) -> bool:
    confidence = abs(new[0] - old[0]) > tolerance
    return confidence or abs(new[1] - old[1]) > tolerance * max(abs(old[1]), 1.0)


def _top(keys: set[RuleKey], table: dict[RuleKey, tuple[float, float]], n: int) -> list[Any]:
    """The ``n`` rules of ``keys`` with the highest lift (ties: by ids), readable."""
    ranked = sorted(keys, key=lambda key: (-table[key][1], key))[:n]
    return [
        {
            "antecedent": list(k[0]),
            "consequent": k[1],
            "confidence": table[k][0],
            "lift": table[k][1],
        }
        for k in ranked
    ]


def rank_biased_overlap(a: list[str], b: list[str], p: float = 0.9) -> float:
    """RBO of two rankings cut at the same depth, extrapolated (the paper's eq. 32):
    ``X_k/k · p^k + (1 − p)/p · Σ_d X_d/d · p^d``, X_d the overlap of the top d."""
    depth = max(len(a), len(b))
    if depth == 0:
        return 1.0
    seen_a: set[str] = set()
    seen_b: set[str] = set()
    total, overlap = 0.0, 0
    for d in range(1, depth + 1):
        x, y = (a[d - 1] if d <= len(a) else None), (b[d - 1] if d <= len(b) else None)
        overlap += (x is not None and x in seen_b) + (y is not None and y in seen_a)
        overlap += x is not None and x == y
        seen_a.update([x] if x is not None else [])
        seen_b.update([y] if y is not None else [])
        total += overlap / d * p**d
    return overlap / depth * p**depth + (1 - p) / p * total


def list_changes(a: Bundle, b: Bundle, config: DiffConfig) -> dict[str, Any]:
    """Share of sampled clients whose top-k changed, the mean RBO, each side's coverage."""
    common = np.intersect1d(a.data.clients.ids, b.data.clients.ids)
    rng = np.random.default_rng(config.seed)
    chosen = np.sort(rng.choice(common, size=min(config.sample, common.size), replace=False))
    day = _day(b)
    lists_a, lists_b = _lists(a, chosen, config.k, day), _lists(b, chosen, config.k, day)
    changed = [x != y for x, y in zip(lists_a, lists_b, strict=True)]
    overlaps = [
        rank_biased_overlap(x, y, config.persistence) for x, y in zip(lists_a, lists_b, strict=True)
    ]
    return {
        "sampled_clients": int(chosen.size),
        "lists_changed_share": float(np.mean(changed)) if changed else 0.0,
        "rank_biased_overlap": float(np.mean(overlaps)) if overlaps else 1.0,
        "coverage": {"a": _coverage(lists_a, a), "b": _coverage(lists_b, b)},
    }


def _day(bundle: Bundle) -> date | None:
    """The day re-purchases are scored on: the end of ``bundle``'s data (both lists
    are ranked as of the same day, whatever the clock says)."""
    repeats = bundle.repeats
    return None if repeats is None else date(1970, 1, 1) + timedelta(days=int(repeats.as_of))


def _lists(bundle: Bundle, clients: np.ndarray, k: int, day: date | None) -> list[list[str]]:
    """Each client's top-``k`` item ids from ``bundle``'s served blend."""
    if clients.size == 0:
        return []
    recommender = HybridRecommender(bundle, bundle.rules, None, BlendConfig())
    rows = bundle.data.clients.index(clients)
    ranked = recommender.rank_clients(rows, k, RequestOptions(day=day or date.today()))
    ids = bundle.data.items.ids
    return [[str(ids[c]) for c in row if c >= 0] for row in ranked.items]


def _coverage(lists: list[list[str]], bundle: Bundle) -> float:
    """Distinct items in the sampled lists, as a share of the bundle's items."""
    return len({i for row in lists for i in row}) / max(len(bundle.data.items), 1)
