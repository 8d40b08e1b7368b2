"""Candidate depth of item audiences (``recsys.audience.blended.DEPTH``) on the shared data.

    .venv/bin/python bench/tune_audience_depth.py [EVENTS] [--cutoff 2010-09-09]

The served blend is fitted on the train part of the validation split inside the train
part (``_shared``) as ``recsys evaluate --audiences`` fits it, and the model audiences
of the 200 items most bought in the validation period are measured at k = 100 for each
depth of :data:`DEPTHS`, with the seconds of one scoring pass (every client, those
targets; the best of :data:`REPEATS`). The rule, fixed before any test figure: the
smallest depth whose validation precision@100 is within :data:`TOLERANCE` (relative) of
the best depth's. Only that depth is then refitted on the whole train part and scored
on the test period once (and, for the record, :data:`BASELINE` if it differs). Ratios
are against :data:`BASELINE` (500: served before the 1000 of an earlier run, and after
it), measured here.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import NamedTuple

import numpy as np
import pandas as pd
from _shared import shared_splits

from recsys.audience import evaluate_audiences, score_clients
from recsys.audience.evaluate import most_bought
from recsys.data import LoadedEvents
from recsys.data.loading import ImportReport
from recsys.ranking import HybridRecommender
from recsys.split import Split
from training import jobs

DEPTHS = (50, 100, 200, 500, 1000)
BASELINE = 500
K, ITEMS = 100, 200
TOLERANCE = 0.01
REPEATS = 3


class Row(NamedTuple):
    """One depth's model audiences: mean precision@k and recall@k over items, and
    the seconds of one scoring pass."""

    depth: int
    precision: float
    recall: float
    seconds: float


class Fitted(NamedTuple):
    """The served blend fitted on one split's train part, read on its last day."""

    recommender: HybridRecommender
    day: date
    test: pd.DataFrame

    @classmethod
    def on(cls, split: Split) -> Fitted:
        """Fit as ``recsys evaluate --audiences`` does (no overrides)."""
        started = time.perf_counter()
        n = len(split.train)
        loaded = LoadedEvents(split.train, ImportReport("split", "online-retail", n, n))
        models = jobs.serving_models(None, {})
        bundle = jobs.train(loaded, models, jobs.matrix_config({}), jobs.rules_config({}))
        blend = jobs.choose_blends(["hybrid"], {})["hybrid"]
        recommender = HybridRecommender(bundle, bundle.rules, None, blend)
        as_of = bundle.repeats.as_of if bundle.repeats is not None else 0.0
        day = date(1970, 1, 1) + timedelta(days=int(as_of))  # the train part's last day
        print(f"fitted up to {day} in {time.perf_counter() - started:.0f} s", flush=True)
        return cls(recommender, day, split.test)

    def row(self, depth: int) -> Row:
        """The model row of :func:`evaluate_audiences` at ``depth``, and the pass's time."""
        found = evaluate_audiences(self.recommender, self.test, K, ITEMS, self.day, depth)
        model = found.rows["model"]
        seconds = self.seconds(depth)
        return Row(depth, model[f"precision@{K}"], model[f"recall@{K}"], seconds)

    def seconds(self, depth: int) -> float:
        """The best of :data:`REPEATS` scoring passes over every client for the targets."""
        targets = np.sort(most_bought(self.recommender, self.test, ITEMS))
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            score_clients(self.recommender, targets, self.day, depth)
            times.append(time.perf_counter() - started)
        return min(times)


def choose(rows: list[Row]) -> Row:
    """The smallest depth within :data:`TOLERANCE` of the best precision."""
    best = max(r.precision for r in rows)
    return min((r for r in rows if r.precision >= (1 - TOLERANCE) * best), key=lambda r: r.depth)


def table(title: str, rows: list[Row]) -> None:
    """Print the rows with their ratios to the :data:`BASELINE` row, when measured."""
    base = next((r for r in rows if r.depth == BASELINE), None)
    print(f"\n{title}")
    print(f"{'depth':>6} {'prec@100':>9} {'rec@100':>8} {'pass s':>7}  vs {BASELINE}: p   r     s")
    for r in rows:
        line = f"{r.depth:>6} {r.precision:>9.4f} {r.recall:>8.4f} {r.seconds:>7.2f}"
        if base is not None:
            line += (
                f"  {r.precision / base.precision:>9.3f} {r.recall / base.recall:.3f}"
                f" {r.seconds / base.seconds:.2f}"
            )
        print(line, flush=True)


def main() -> None:
    splits = shared_splits(__doc__ or "")
    validation = Fitted.on(splits.validation)
    rows = [validation.row(depth) for depth in DEPTHS]
    table(f"validation, {ITEMS} items, k = {K}", rows)
    chosen = choose(rows)
    print(f"\nchosen: depth {chosen.depth} (smallest within {TOLERANCE:.0%} of the best)")
    test = Fitted.on(splits.test)  # the test period, once for the chosen depth
    depths = sorted({chosen.depth, BASELINE})
    table("test (reported once; the baseline for the record)", [test.row(d) for d in depths])


if __name__ == "__main__":
    main()
