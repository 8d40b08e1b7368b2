"""The served model as ``/v1/model`` and the ``/ui/model`` page show it: its age, what
``recsys retrain`` decided about it, and the recent decisions.

``recsys retrain`` writes ``retrain.json`` beside each bundle's ``manifest.json``
(promoted bundles beside the served ones, rejected and dry-run candidates under
``<bundles>/candidates/<version>/``): the gate's decision, reasons and checks, and, when
written, the backtest, the diff from production, the production version and the
decision's time. Every part is read defensively: a bundle ``recsys train`` made has no
such file, an older file lacks parts, and a malformed part is left out, never a 500.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serving.crm import Label, item_label
from serving.drift import age_seconds
from serving.state import Loaded

__all__ = [
    "CANDIDATES",
    "SIDECAR",
    "decisions",
    "human_age",
    "page_context",
    "read_record",
    "retrain_view",
]

SIDECAR = "retrain.json"
CANDIDATES = "candidates"
#: Most recent decisions the page lists.
HISTORY = 10
_OLDEST = datetime.min.replace(tzinfo=UTC)


def read_record(directory: Path) -> dict[str, Any] | None:
    """The ``retrain.json`` beside a bundle; ``None`` when absent or not a JSON object."""
    try:
        found = json.loads((directory / SIDECAR).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return _finite(found) if isinstance(found, dict) else None


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` (JSON answers cannot hold them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def retrain_view(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """The gate's decision, reasons and checks, the backtest and the diff of a record;
    ``None`` without a record."""
    if record is None:
        return None
    gate = _mapping(record.get("gate"))
    return {
        "decision": _text(gate.get("decision")),
        "reasons": [str(r) for r in _sequence(gate.get("reasons"))],
        "checks": [_check(c) for c in _sequence(gate.get("checks")) if isinstance(c, dict)],
        "backtest": _mapping(record.get("backtest")) or None,
        "diff": _mapping(record.get("diff")) or None,
        "production": _text(record.get("production")),
        "decided_at": _text(record.get("decided_at")),
    }


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    """A string field as text; a ``{"label"|"version": …}`` object as that; else ``None``."""
    if isinstance(value, dict):
        value = value.get("label", value.get("version"))
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _check(check: dict[str, Any]) -> dict[str, str]:
    return {key: str(check.get(key, "")) for key in ("name", "status", "detail")}


def human_age(seconds: float) -> str:
    """ "3 days 4 h", "5 h 12 min", "42 min" or "30 s" (a future time: "0 s")."""
    s = max(int(seconds), 0)
    days, hours, minutes = s // 86400, s % 86400 // 3600, s % 3600 // 60
    if days:
        return f"{days} day{'s' if days > 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{s} s"


def page_context(current: Loaded, now: float) -> dict[str, Any]:
    """Everything ``/ui/model`` shows of the served bundle (reads files: off the loop)."""
    bundle, label = current.bundle, item_label(current.recommender)
    retrain = retrain_view(read_record(current.source))
    age = age_seconds(bundle.created_at, now)
    return {
        "model": {"version": bundle.version, "created_at": bundle.created_at},
        "age": human_age(age),
        "origin": current.origin,
        "retrain": retrain,
        "backtest": backtest_rows((retrain or {}).get("backtest")),
        "diff": diff_view((retrain or {}).get("diff"), label),
        "history": decisions(current.source),
    }


def backtest_rows(backtest: dict[str, Any] | None) -> dict[str, Any] | None:
    """Candidate and production figures, and the paired difference with its interval."""
    if not backtest:
        return None
    sides = {side: _mapping(backtest.get(side)) for side in ("candidate", "production")}
    sides = {side: figures for side, figures in sides.items() if figures}  # no production yet
    difference = _mapping(backtest.get("difference"))
    interval = _sequence(difference.get("ci95"))
    return {
        "sides": {name: (s.get("ndcg@10"), s.get("coverage@10")) for name, s in sides.items()},
        "difference": difference.get("ndcg@10"),
        "ci95": interval if len(interval) == 2 else None,
    }


def diff_view(diff: dict[str, Any] | None, label: Label) -> dict[str, Any] | None:
    """The diff's counts as rows, its top rules in words, and the list figures."""
    if not diff:
        return None
    rules = _mapping(diff.get("rules"))
    kinds = {"clients": diff.get("clients"), "items": diff.get("items"), "rules": rules}
    return {
        "against": _text(diff.get("a")),
        "counts": {kind: _mapping(found) for kind, found in kinds.items()},
        "top_added": _top_rules(rules.get("top_added"), label),
        "top_removed": _top_rules(rules.get("top_removed"), label),
        "lists_changed_share": diff.get("lists_changed_share"),
        "rank_biased_overlap": diff.get("rank_biased_overlap"),
        "sampled_clients": diff.get("sampled_clients"),
        "coverage": _mapping(diff.get("coverage")),
    }


def _top_rules(rules: Any, label: Label) -> list[dict[str, Any]]:
    """Rules as "A and B → C" with confidence and lift, highest lift first."""
    found = [r for r in _sequence(rules) if isinstance(r, dict)]
    found.sort(key=lambda r: -r["lift"] if isinstance(r.get("lift"), int | float) else math.inf)
    return [_rule_line(rule, label) for rule in found]


def _rule_line(rule: dict[str, Any], label: Label) -> dict[str, Any]:
    left = " and ".join(label(str(i)) for i in _sequence(rule.get("antecedent")))
    text = f"{left} → {label(str(rule.get('consequent', '')))}"
    return {"text": text, "confidence": rule.get("confidence"), "lift": rule.get("lift")}


def decisions(served: Path, limit: int = HISTORY) -> list[dict[str, Any]]:
    """The bundles beside the served one and under ``candidates/``, newest first (by
    ``created_at``), each with its decision and reasons; the served one is marked."""
    here = served.resolve()
    found = [_decision(path, path.resolve() == here) for path in _bundle_dirs(served)]
    entries = [entry for entry in found if entry is not None]
    entries.sort(key=lambda entry: (entry["at"], entry["version"]), reverse=True)
    return entries[:limit]


def _bundle_dirs(served: Path) -> list[Path]:
    """Every bundle directory (one with a manifest) of the served bundle's folder and
    of its ``candidates/`` (hidden work directories left out)."""
    home = served.parent.parent if served.parent.name == CANDIDATES else served.parent
    manifests = [*home.glob("*/manifest.json"), *(home / CANDIDATES).glob("*/manifest.json")]
    return [m.parent for m in manifests if not m.parent.name.startswith(".")]


def _decision(directory: Path, served: bool) -> dict[str, Any] | None:
    """One row of the recent decisions; ``None`` for an unreadable manifest."""
    manifest = _mapping(_json(directory / "manifest.json"))
    if not manifest:
        return None
    view = retrain_view(read_record(directory)) or {"decision": None, "reasons": []}
    created = _text(manifest.get("created_at")) or ""
    version = _text(manifest.get("version")) or directory.name
    return {
        "version": version,
        "created_at": created,
        "at": _moment(created),
        "decision": view["decision"],
        "reasons": view["reasons"],
        "candidate": directory.parent.name == CANDIDATES,
        "served": served,
    }


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _moment(text: str) -> datetime:
    """An ISO time as an aware datetime (UTC when it names no zone); unreadable: oldest."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return _OLDEST
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
