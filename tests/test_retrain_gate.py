"""The retrain gate on hand-made evaluations, and each data check firing on a damaged
input built by hand (counts chosen so the expected outcome can be read off)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data import ImportReport, LoadedEvents
from training.retrain.backtest import Backtest, Scored
from training.retrain.checks import daily_rates, data_checks
from training.retrain.gate import GateConfig, backtest_checks, failures
from training.retrain.production import Production
from training.retrain.sources import Source, Sources

GATE = GateConfig()


def _scored(ndcg: float, coverage: float) -> Scored:
    return Scored(ndcg, coverage, np.zeros(1))


def _backtest(interval: tuple[float, float], coverage: float = 0.5) -> Backtest:
    """Candidate − production with the given 95 % interval; production's coverage 0.5."""
    middle = sum(interval) / 2
    return Backtest(
        _scored(0.2 + middle, coverage), _scored(0.2, 0.5), middle, interval, "", 100, False
    )


@pytest.mark.parametrize(
    ("interval", "passes"),
    [
        ((-0.02, 0.01), True),  # no evidence of a loss
        ((-0.02, -0.005), True),  # the upper bound exactly at the tolerance
        ((-0.02, -0.0051), False),  # surely worse by more than 0.005
        ((0.01, 0.03), True),  # better
    ],
)
def test_ndcg_gate_reads_the_upper_bound(interval: tuple[float, float], passes: bool) -> None:
    ndcg, _ = backtest_checks(_backtest(interval), GATE)
    assert ndcg.passed is passes


@pytest.mark.parametrize(("coverage", "passes"), [(0.45, True), (0.449, False), (0.6, True)])
def test_coverage_floor_is_a_share_of_production(coverage: float, passes: bool) -> None:
    _, floor = backtest_checks(_backtest((-0.01, 0.01), coverage), GATE)  # 0.9 × 0.5 = 0.45
    assert floor.passed is passes


def test_no_production_skips_the_comparison() -> None:
    alone = Backtest(_scored(0.2, 0.5), None, 0.0, (0.0, 0.0), "", 10, False)
    assert [c.passed for c in backtest_checks(alone, GATE)] == [None, None]
    assert failures(backtest_checks(alone, GATE)) == []


# ---------------------------------------------------------------- data checks


def _events(per_day: list[int], start: str = "2024-01-01") -> pd.DataFrame:
    """``per_day[d]`` events on day d, each its own client and item."""
    stamps = [
        pd.Timestamp(start) + pd.Timedelta(days=d, hours=1 + i % 20)
        for d, n in enumerate(per_day)
        for i in range(n)
    ]
    ids = [str(i) for i in range(len(stamps))]
    return pd.DataFrame({"client_id": ids, "item_id": ids, "timestamp": pd.to_datetime(stamps)})


def _sources(events: pd.DataFrame, dropped: dict[str, int] | None = None) -> Sources:
    dropped = dropped or {}
    report = ImportReport(
        "hand.csv", "canonical", len(events) + sum(dropped.values()), len(events), dropped
    )
    loaded = LoadedEvents(events, report)
    return Sources([Source("history", loaded)], loaded, None, None)


def _production(rows_kept: float | None, clients: int, items: int) -> Production:
    metrics = {} if rows_kept is None else {"data.rows_kept": rows_kept}
    manifest = {"clients": clients, "items": items, "metrics": metrics}
    return Production("1", Path("nowhere"), manifest, {})


def _check(sources: Sources, production: Production | None, name: str) -> bool | None:
    (found,) = [c for c in data_checks(sources, production, GATE) if c.name == name]
    return found.passed


STEADY = [10] * 35  # five weeks at 10 events a day


def test_a_steady_history_passes_every_check() -> None:
    sources = _sources(_events(STEADY))
    checks = data_checks(sources, _production(350, 350, 350), GATE)
    assert failures(checks) == []


def test_daily_rates_by_hand() -> None:
    # Four weeks at 10/day, then one at 4/day: newest 4.0, the four before 10.0 each.
    newest, before = daily_rates(_events([10] * 28 + [4] * 7)["timestamp"], 4)
    assert newest == pytest.approx(4.0) and before == pytest.approx([10.0] * 4)


@pytest.mark.parametrize(("newest", "passes"), [(4, False), (5, True), (12, True)])
def test_events_per_day_falling_below_half_fails(newest: int, passes: bool) -> None:
    sources = _sources(_events([10] * 28 + [newest] * 7))
    assert _check(sources, None, "events per day") is passes


def test_events_per_day_counts_known_clients_only() -> None:
    # The history has twice as many guest lines (the shop's export); the newest week,
    # from the service's log, has none: the same rate of client events passes (counting
    # every line, it would be 10/day against 30/day).
    history, newest = _events([10] * 28), _events([10] * 7, start="2024-01-29")
    guests = history.assign(client_id=None)
    sources = _sources(pd.concat([history, guests, guests, newest], ignore_index=True))
    assert _check(sources, None, "events per day") is True


def test_events_per_day_is_skipped_without_an_earlier_week() -> None:
    assert _check(_sources(_events([10] * 10)), None, "events per day") is None


@pytest.mark.parametrize(("before", "passes"), [(351, False), (350, True), (None, None)])
def test_fewer_rows_kept_than_production_fails(before: float | None, passes: bool | None) -> None:
    sources = _sources(_events(STEADY))  # 350 rows kept
    assert _check(sources, _production(before, 1, 1), "rows kept") is passes


@pytest.mark.parametrize(
    ("dropped", "passes"),
    [
        ({"duplicates": 350}, False),  # half of the 700 rows read: a duplicated file
        ({"duplicates": 349}, True),
        ({"cancellations": 400}, False),
        ({"non_purchase": 3000}, True),  # views in the service's log: expected
        ({"deleted_clients": 400}, True),  # deletions must go whatever their share
    ],
)
def test_a_cleaning_step_removing_half_fails(dropped: dict[str, int], passes: bool) -> None:
    sources = _sources(_events(STEADY), dropped)
    assert _check(sources, None, "cleaning: history") is passes


@pytest.mark.parametrize(
    ("clients", "items", "failed"),
    [(437, 437, []), (438, 437, ["clients"]), (437, 438, ["items"])],
)
def test_a_collapse_in_clients_or_items_fails(clients: int, items: int, failed: list) -> None:
    # 350 distinct of each; the floor is 0.8 × production's: 0.8 × 437 = 349.6 ≤ 350 < 350.4
    sources = _sources(_events(STEADY))
    checks = data_checks(sources, _production(None, clients, items), GATE)
    assert [c.name for c in checks if c.passed is False] == failed
