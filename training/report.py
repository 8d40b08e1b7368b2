"""The evaluation report as text: one aligned row per model, the paired comparison,
and the verdict of the best collaborative-filtering model against popularity."""

from __future__ import annotations

from typing import Any

from recsys.models import MODELS

__all__ = ["as_table", "comparison", "repeat_explore", "served", "verdict"]


_COLUMNS = {
    "precision": "prec",
    "recall": "recall",
    "map": "map",
    "ndcg": "ndcg",
    "hit_rate": "hit",
    "coverage": "cov",
    "mean_popularity_rank": "poprank",
}


def as_table(report: dict[str, Any], k: int) -> str:
    """The evaluation report as an aligned text table, one row per model, then what it
    says: the best collaborative-filtering model against popularity."""
    header = "".join(f"{f'{c}@{k}':>12}" for c in _COLUMNS.values())
    rows = [f"{'model':<16}{header}{f'ndcg@{k} 95% CI':>20}"]
    for name, metrics in report["models"].items():
        cells = [f"{metrics[f'{c}@{k}']:>12.4f}" for c in _COLUMNS]
        low, high = metrics.get(f"ndcg@{k}_ci", (float("nan"), float("nan")))
        rows.append(f"{name:<16}" + "".join(cells) + f"{f'{low:.4f}–{high:.4f}':>20}")
    rows += repeat_explore(report, k)
    return "\n".join([*rows, *comparison(report, k), *verdict(report, k), *served(report, k)])


#: The repeat/explore columns (:mod:`recsys.metrics`): metric (``{k}`` filled) → header.
_PARTS = {
    "repeat_ratio@{k}": "rep@{k}",
    "truth_repeat_ratio": "truth_rep",
    "ndcg_repeat@{k}": "ndcg_rep@{k}",
    "ndcg_explore@{k}": "ndcg_exp@{k}",
    "recall_repeat@{k}": "rec_rep@{k}",
    "recall_explore@{k}": "rec_exp@{k}",
}


def repeat_explore(report: dict[str, Any], k: int) -> list[str]:
    """With bought items allowed: a second table of how each list splits between repeat
    and explore items, and its NDCG on each part of the truth with intervals, for model
    and blend rows alike; "–" where a row has no such figures."""
    models = report["models"]
    if not any("truth_repeat_ratio" in m for m in models.values()):
        return []
    keys = [key.format(k=k) for key in _PARTS]
    header = "".join(f"{h.format(k=k):>12}" for h in _PARTS.values())
    ci = "".join(f"{f'{p}@{k} 95% CI':>20}" for p in ("ndcg_rep", "ndcg_exp"))
    lines = ["", "repeat (bought before the cut-off) / explore (new to the client):"]
    lines.append(f"{'model':<16}{header}{ci}")
    for name, metrics in models.items():
        cells = "".join(f"{_cell(metrics.get(key)):>12}" for key in keys)
        spans = "".join(f"{_span(metrics.get(f'{key}_ci')):>20}" for key in keys[2:4])
        lines.append(f"{name:<16}{cells}{spans}")
    return lines


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _span(interval: list[float] | None) -> str:
    return "–" if interval is None else f"{interval[0]:.4f}–{interval[1]:.4f}"


def comparison(report: dict[str, Any], k: int) -> list[str]:
    """The ``--compare`` lines: NDCG and recall differences with intervals and p-values."""
    pair = report.get("compare")
    if not pair:
        return []
    lines = [""]
    for metric in (f"ndcg@{k}", f"recall@{k}", f"ndcg_repeat@{k}", f"ndcg_explore@{k}"):
        if metric not in pair:  # the repeat/explore parts: only where bought items count
            continue
        d = pair[metric]
        low, high = d["ci"]
        lines.append(
            f"{pair['a']} − {pair['b']} {metric}: {d['difference']:+.4f} "
            f"(95% CI {low:+.4f} to {high:+.4f}, p = {d['p_value']:.3f})"
        )
    return lines


#: Collaborative-filtering models, compared with popularity in :func:`verdict`.
CF_MODELS = tuple(name for name, scorer in MODELS.items() if scorer.personal)
#: Below this NDCG ratio to popularity, the verdict says why and what to run instead.
EXPECTED_LIFT = 1.3


def verdict(report: dict[str, Any], k: int) -> list[str]:
    """One line on the best CF model against popularity (NDCG@k); when CF does not
    clearly win, why that happens on small data and what to run instead."""
    models, key = report["models"], f"ndcg@{k}"
    cf = [n for n in CF_MODELS if n in models]
    if "popular" not in models or not cf:
        return []
    best = max(cf, key=lambda n: models[n][key])
    ours, base = models[best][key], models["popular"][key]
    ratio = ours / base if base > 0 else float("inf")
    line = f"best CF model: {best}, NDCG@{k} {ours:.4f} = {ratio:.2f} × popularity ({base:.4f})"
    if ratio >= EXPECTED_LIFT:
        return ["", line]
    clients = report.get("data", {}).get("evaluated_clients", "?")
    return [
        "",
        line,
        f"CF is under {EXPECTED_LIFT} × popularity here: with {clients} evaluated clients the "
        "train part holds too few shared tastes to learn from. Evaluate on more history "
        "(the whole file, or an earlier --cutoff) to see what CF does.",
    ]


def served(report: dict[str, Any], k: int) -> list[str]:
    """What the service serves (the ``hybrid`` blend) against the best single row: when
    a single model scores higher, say so plainly and why the blend still serves."""
    models, key = report["models"], f"ndcg@{k}"
    singles = [n for n in models if n != "hybrid"]
    if "hybrid" not in models or not singles:
        return []
    best = max(singles, key=lambda n: models[n][key])
    ours, theirs = models["hybrid"][key], models[best][key]
    if ours >= theirs:
        return [
            f"served: hybrid, NDCG@{k} {ours:.4f}, the best row here (next: {best}, {theirs:.4f})"
        ]
    cover, their_cover = models["hybrid"][f"coverage@{k}"], models[best][f"coverage@{k}"]
    wider = (
        f"covers {cover:.0%} of the catalogue in its lists ({best}: {their_cover:.0%}), "
        if cover > their_cover
        else ""
    )
    return [
        f"served: hybrid, NDCG@{k} {ours:.4f}, {theirs - ours:.4f} below {best} ({theirs:.4f}). "
        f"The blend serves all the same: it {wider}gives every item a reason a person can say "
        "(rules, analyst rules, re-purchases, similar clients) and serves clients no model "
        "knows; the default weights were chosen on validation periods of Online Retail II "
        "(docs/explanation/evaluation.md, Tuning). To serve other weights, set "
        "RECSYS_BLEND_WEIGHTS (e.g. '{\"ease\": 1}' serves EASE alone).",
    ]
