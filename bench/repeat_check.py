"""The served blend against the next-basket baselines where bought items may come back
(issue 24), with 95 % intervals, on the validation and the test period of one cut-off.

    .venv/bin/python bench/repeat_check.py [EVENTS] [--cutoff 2010-09-09] --include-seen

Per period: NDCG@10 of ``ppop``, ``tifuknn``, the hybrid with its defaults, and the
hybrid whose re-purchase probability is refitted on the last weeks of the period's own
train part (as long as the validation period); each hybrid's paired difference with
``tifuknn``. Tunes nothing. The refitted row reads nothing after its period's cut-off:
at another cut-off than the one the defaults were fitted for (2010-09-09), it shows
what the defaults owe to the weeks they were fitted on.
"""

from __future__ import annotations

import numpy as np
from _shared import shared_splits
from tune_blend import Fitted, cutoff

from recsys.confidence import Bootstrap
from recsys.evaluation import evaluate_model
from recsys.matrix import model_matrix
from recsys.metrics import PerClient
from recsys.models import PPopScorer, TIFUKNNScorer
from recsys.ranking import BlendConfig
from recsys.ranking.evaluate import evaluate_blends

METRIC = "ndcg@10"


def baselines(fitted: Fitted) -> dict[str, PerClient]:
    """Per-client metrics of ``ppop`` and ``tifuknn`` (the paper's defaults)."""
    task, values = fitted.task, dict[str, PerClient]()
    for model in (PPopScorer(), TIFUKNNScorer()):
        settings = model.config.matrix_settings()
        matrix = model_matrix(
            fitted.split.train, task.config, task.train, model.config.weighting,
            fitted.repeats, settings,
        )  # fmt: skip
        evaluate_model(model, task, 10, values.setdefault(model.name, {}), matrix)
    return values


def hybrids(fitted: Fitted) -> dict[str, PerClient]:
    """Per-client metrics of the default hybrid and of the one with its re-purchase
    probability refitted on the train part's last weeks."""
    default = BlendConfig()
    windows = {"recent_days": default.rebuy.recent_days, "season_days": default.rebuy.season_days}
    blends = {
        "hybrid": default,
        "hybrid, refitted": default.model_copy(update={"rebuy": fitted.rebuy(**windows)}),
    }
    values: dict[str, PerClient] = {}
    task = fitted.task
    evaluate_blends(task, fitted.models, fitted.rules, blends, 10, values, fitted.repeats)
    return values


def report(label: str, values: dict[str, PerClient]) -> None:
    """Each row's NDCG@10 with its interval; each hybrid's paired difference."""
    base = values["tifuknn"][METRIC]
    boot = Bootstrap(len(base))
    print(f"{label}: {len(base)} clients")
    for name, metrics in values.items():
        column = metrics[METRIC]
        low, high = boot.interval(column)
        line = f"  {name:18s} {METRIC} {column.mean():.4f} [{low:.4f}, {high:.4f}]"
        if name.startswith("hybrid"):
            d = boot.difference(column, base)
            ratio = column.mean() / max(base.mean(), np.mean(values["ppop"][METRIC]))
            line += f"  {ratio:.3f} × best baseline; − tifuknn {d.mean:+.4f} "
            line += f"[{d.low:+.4f}, {d.high:+.4f}]"
        print(line, flush=True)


def main() -> None:
    splits = shared_splits(__doc__ or "")
    period = cutoff(splits.test) - cutoff(splits.validation)
    for label, split in (("validation", splits.validation), ("test", splits.test)):
        fitted = Fitted.on(split, include_seen=True, period=period)
        values = {**baselines(fitted), **hybrids(fitted)}
        report(f"{label} (cut-off {cutoff(split):%Y-%m-%d})", values)


if __name__ == "__main__":
    main()
