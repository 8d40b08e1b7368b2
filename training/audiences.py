"""``recsys evaluate --audiences``: item audiences measured on the same split.

The serving models are fitted on the train part as ``recsys train`` fits them (their
``--set`` overrides applied), the served blend is read by item on the train part's
last day, and :func:`recsys.audience.evaluate_audiences` compares each audience with
the item's buyers in the test part.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from recsys.audience import evaluate_audiences
from recsys.data import LoadedEvents
from recsys.ranking import HybridRecommender
from recsys.split import Split
from training import jobs

__all__ = ["audience_lines", "audiences_on"]


def audiences_on(
    loaded: LoadedEvents, split: Split, overrides: dict[str, dict[str, Any]], k: int, items: int
) -> dict[str, Any]:
    """``{"audiences": rows, "audiences_data": facts}`` for the report (rows:
    :data:`recsys.audience.evaluate.ROWS`, each ``precision@k`` and ``recall@k`` with
    their ``_ci``)."""
    started = time.perf_counter()
    models = jobs.serving_models(None, overrides)
    train = replace(loaded, events=split.train)
    bundle = jobs.train(train, models, jobs.matrix_config(overrides), jobs.rules_config(overrides))
    blend = jobs.choose_blends(["hybrid"], overrides)["hybrid"]
    recommender = HybridRecommender(bundle, bundle.rules, None, blend)
    as_of = bundle.repeats.as_of if bundle.repeats is not None else 0.0
    day = date(1970, 1, 1) + timedelta(days=int(as_of))  # the train part's last day
    found = evaluate_audiences(recommender, split.test, k, items, day)
    facts = {**found.facts, "day": day.isoformat()}
    return {
        "audiences": found.rows,
        "audiences_data": {**facts, "seconds": time.perf_counter() - started},
    }


def audience_lines(report: dict[str, Any]) -> list[str]:
    """The audience rows as text, under the models' table."""
    facts = report["audiences_data"]
    k = facts["k"]
    lines = [
        f"audiences of the {facts['items']} items most bought after the cut-off, k = {k}"
        f" ({facts['left_out_share']:.0%} of their buyers left out as not due):"
    ]
    for name, row in report["audiences"].items():
        p, r = row[f"precision@{k}"], row[f"recall@{k}"]
        (pl, ph), (rl, rh) = row[f"precision@{k}_ci"], row[f"recall@{k}_ci"]
        lines.append(
            f"  {name:<12} precision@{k} {p:.4f} [{pl:.4f}, {ph:.4f}]"
            f"  recall@{k} {r:.4f} [{rl:.4f}, {rh:.4f}]"
        )
    return lines
