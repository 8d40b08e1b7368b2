"""EASE's time term chosen across the protocols the README reports: maximin on validation.

    .venv/bin/python bench/tune_protocols.py [EVENTS] [--cutoff 2010-09-09]

One default serves three questions: what a client buys next that is new to it (the time
split), what it buys next with re-purchases counted (``--include-seen``), and which items
complete its history (the random split). EASE's time terms pull them apart: recency-weighted
targets with a short half-life help the first and cost the third most. Every point (Steck's
EASE, the forward term, the targets' half-life) scores the default hybrid's NDCG@10 on three
validation splits drawn from the lines that are train data in both protocols the defaults
are reported on: before the cut-off, and not in the README's random split's test part
(``--split random --test-fraction 0.25 --seed 42``):

- ``time``: new items, on the validation period before the cut-off (``bench/_shared.py``);
- ``seen``: the same period with re-purchases counted; the re-purchase probability fitted
  on the weeks before it (as ``bench/tune_blend.py --include-seen`` does: its default
  coefficients were fitted on this period);
- ``random``: a random quarter of each client's items (seed 7).

Each score is divided by its protocol's best; the point whose least ratio is largest wins
(maximin: the default that loses least on any protocol). Only the winner is then scored on
the three test protocols, once. Every point is an MLflow run (``grid=protocols``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from _shared import Splits, shared_splits
from tune_blend import cutoff

from recsys.evaluation import make_task
from recsys.matrix import MatrixConfig
from recsys.ranking.rebuy import Rebuy, fit_on_events
from recsys.split import Split, split_by_time, split_random_per_client
from training import jobs, tracking
from training.settings import TrainingSettings

LAMBDA = 400.0  # EASE's λ from bench/tune.py's grid
POINTS: list[dict[str, float]] = [
    {},  # Steck's EASE
    {"forward_weight": 0.15},
    {"forward_weight": 0.25},
    *({"target_half_life_days": h} for h in (60.0, 120.0, 180.0, 240.0, 365.0, 500.0, 730.0)),
]
#: (name, excludes bought items) of each protocol, in the order printed.
PROTOCOLS = (("time", True), ("seen", False), ("random", True))


def main() -> None:
    splits = shared_splits(__doc__ or "")
    reported = split_random_per_client(_events(splits), 0.25, seed=42)
    cut = cutoff(splits.test)
    common = split_by_time(reported.train, cut).train  # train data in both test protocols
    timed = split_by_time(common, cutoff(splits.validation))
    validation = {"time": timed, "seen": timed}
    validation["random"] = split_random_per_client(common, 0.25, seed=7)
    rebuy = _rebuy_before(timed, cut - cutoff(splits.validation))
    table = [
        [_scored(p, validation[n], ex, "protocols", rebuy) for n, ex in PROTOCOLS] for p in POINTS
    ]
    best = [max(column) for column in zip(*table, strict=True)]
    worst = [min(s / b for s, b in zip(row, best, strict=True)) for row in table]
    for point, row, least in zip(POINTS, table, worst, strict=True):
        print(f"{_name(point):18} {'  '.join(f'{s:.4f}' for s in row)}  least {least:.3f}")
    winner = POINTS[worst.index(max(worst))]
    tests = {"time": splits.test, "seen": splits.test, "random": reported}
    scores = [_scored(winner, tests[n], ex, "protocols-test") for n, ex in PROTOCOLS]
    print(
        f"winner {_name(winner)}: test "
        + ", ".join(f"{n} {s:.4f}" for (n, _), s in zip(PROTOCOLS, scores, strict=True))
    )


def _events(splits: Splits) -> pd.DataFrame:
    """Every event: the time split's two parts together."""
    return pd.concat([splits.test.train, splits.test.test], ignore_index=True)


def _rebuy_before(split: Split, period: pd.Timedelta) -> Rebuy:
    """The re-purchase probability fitted on the train part's last ``period``."""
    task = make_task(split, MatrixConfig(), exclude_seen=False)
    end = cutoff(split)
    dates = (str((end - period).normalize()), str(end))
    return fit_on_events(split.train, task.train.clients, task.train.items, dates, Rebuy())


def _scored(
    point: dict[str, float], split: Split, exclude_seen: bool, grid: str, rebuy: Rebuy | None = None
) -> float:
    """The default hybrid's NDCG@10 with EASE set to ``point`` (and the re-purchase
    probability ``rebuy``, else the default), logged to MLflow."""
    ease = {"regularization": LAMBDA, "forward_weight": 0.0, "target_half_life_days": 0.0}
    tree: dict[str, dict[str, Any]] = {"ease": {**ease, **point}}
    models, blends = jobs.choose_models(["hybrid"], tree), jobs.choose_blends(["hybrid"], tree)
    if rebuy is not None:
        blends = {"hybrid": blends["hybrid"].model_copy(update={"rebuy": rebuy})}
    config, rules = jobs.matrix_config(tree), jobs.rules_config(tree)
    report = jobs.evaluate(split, models, 10, config, exclude_seen, blends, rules)
    kind = f"{split.description['kind']}{'' if exclude_seen else '-seen'}"
    tags = {"models": "hybrid", "grid": grid, "split": kind}
    with tracking.tracked_run("tune", TrainingSettings(), tree, tags):
        tracking.log_metrics(report["models"])
    return float(report["models"]["hybrid"]["ndcg@10"])


def _name(point: dict[str, float]) -> str:
    if not point:
        return "Steck"
    ((key, value),) = point.items()
    return f"forward {value:g}" if key == "forward_weight" else f"half-life {value:g} d"


if __name__ == "__main__":
    main()
