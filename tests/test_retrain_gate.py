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
from training.retrain.gate import Check, GateConfig, backtest_checks, failures
from training.retrain.production import Production
from training.retrain.sources import ACROSS_INPUTS, Source, Sources, join

GATE = GateConfig()
#: The end of the hand-made histories' last day (35 days from 2024-01-01): run time.
END = pd.Timestamp("2024-02-05")


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


def _production(rows_kept: float | None, clients: int, items: int, **recorded: float) -> Production:
    """Production's manifest; ``recorded``: more metrics (``deleted=``: its
    ``data.dropped.deleted_clients``, ``before=``: its ``data.rows_before_deletions``)."""
    metrics = {} if rows_kept is None else {"data.rows_kept": rows_kept}
    names = {"deleted": "data.dropped.deleted_clients", "before": "data.rows_before_deletions"}
    metrics.update({names[k]: v for k, v in recorded.items()})
    manifest = {"clients": clients, "items": items, "metrics": metrics}
    return Production("1", Path("nowhere"), manifest, {})


def _found(
    sources: Sources,
    production: Production | None,
    name: str,
    gate: GateConfig = GATE,
    as_of: pd.Timestamp = END,
) -> Check:
    (found,) = [c for c in data_checks(sources, production, gate, as_of) if c.name == name]
    return found


def _check(sources: Sources, production: Production | None, name: str) -> bool | None:
    return _found(sources, production, name).passed


STEADY = [10] * 35  # five weeks at 10 events a day


def test_a_steady_history_passes_every_check() -> None:
    sources = _sources(_events(STEADY))
    checks = data_checks(sources, _production(350, 350, 350), GATE, END)
    assert failures(checks) == []


def test_daily_rates_by_hand() -> None:
    # Four weeks at 10/day, then one at 4/day: newest 4.0, the four before 10.0 each.
    newest, before = daily_rates(_events([10] * 28 + [4] * 7)["timestamp"], 4, END)
    assert newest == pytest.approx(4.0) and before == pytest.approx([10.0] * 4)


@pytest.mark.parametrize(
    ("days_late", "newest", "passes"),
    [
        # Three days after the data's end: the 7 days before hold its last 4 days,
        # 40 events = 5.71/day against 10/day, 0.57 ≥ 0.5.
        (3, 40 / 7, True),
        # Four days after: its last 3 days, 30 events = 4.29/day, 0.43 < 0.5.
        (4, 30 / 7, False),
    ],
)
def test_the_newest_week_ends_at_the_run_time(days_late: int, newest: float, passes: bool) -> None:
    stamps = _events(STEADY)["timestamp"]
    as_of = END + pd.Timedelta(days=days_late)
    found, before = daily_rates(stamps, 4, as_of)
    # The four windows before are whole weeks of the steady history (from 2024-01-01).
    assert found == pytest.approx(newest) and before == pytest.approx([10.0] * 4)
    assert _found(_sources(_events(STEADY)), None, "events per day", as_of=as_of).passed is passes


def test_a_feed_that_stopped_fails_with_its_reason() -> None:
    # The newest event is on 2024-02-04 at 10:00 (day 34, hours 1..10); run 15 days later.
    check = _found(
        _sources(_events(STEADY)), None, "events per day", as_of=END + pd.Timedelta(days=15)
    )
    assert check.passed is False
    assert check.detail == (
        "no event of a known client in the 7 days before 2024-02-20 00:00 UTC (the newest "
        "is from 2024-02-04 10:00): the feed stopped, or --as-of is wrong"
    )


def test_a_feed_that_stopped_fails_even_without_an_earlier_week() -> None:
    check = _found(_sources(_events([10] * 10)), None, "events per day", as_of=END)
    assert check.passed is False and "feed stopped" in check.detail


def test_events_after_the_run_time_are_not_counted() -> None:
    # Run at 2024-01-29: the 7 days before are days 21..27 (10/day); days 28..34 later.
    check = _found(
        _sources(_events(STEADY)), None, "events per day", as_of=pd.Timestamp("2024-01-29")
    )
    assert check.passed is True
    assert check.detail.startswith("the 7 days before 2024-01-29 00:00 10.0/day = 1.00 ×")
    assert check.detail.endswith("; 70 events after --as-of not counted")


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
    events = _events([10] * 10)  # 2024-01-01 .. 2024-01-10, run at the end of it
    found = _found(_sources(events), None, "events per day", as_of=pd.Timestamp("2024-01-11"))
    assert found.passed is None


@pytest.mark.parametrize(("before", "passes"), [(351, False), (350, True), (None, None)])
def test_fewer_rows_kept_than_production_fails(before: float | None, passes: bool | None) -> None:
    # Production recorded rows kept only (a bundle from before deletions were counted).
    sources = _sources(_events(STEADY))  # 350 rows kept
    assert _check(sources, _production(before, 1, 1), "rows kept") is passes


@pytest.mark.parametrize(
    ("deleted", "passes"),
    [
        (60, True),  # 350 kept + 60 deleted = 410 ≥ production's 400: the history grew
        (50, True),  # 400 = 400
        (49, False),  # 399 < 400: rows were lost besides the deletions
    ],
)
def test_rows_of_deleted_clients_count_as_kept(deleted: int, passes: bool) -> None:
    # Production kept 380 of its 400 rows (20 of clients deleted then); since then more
    # clients were deleted: 350 kept now, fewer than 380, yet not a loss.
    sources = _sources(_events(STEADY), {"deleted_clients": deleted})
    production = _production(380, 1, 1, before=400)
    check = _found(sources, production, "rows kept")
    assert check.passed is passes
    assert check.detail.startswith(
        f"{350 + deleted:,} before deletions (350 kept + {deleted} of deleted clients) "
        "against production's 400"
    )


def test_rows_before_deletions_of_an_earlier_retrain_bundle_are_derived() -> None:
    # A bundle of the first retrain recorded rows kept and the deleted clients' rows,
    # not their sum: 380 + 20 = 400 all the same.
    sources = _sources(_events(STEADY), {"deleted_clients": 49})  # 399
    assert _check(sources, _production(380, 1, 1, deleted=20), "rows kept") is False
    sources = _sources(_events(STEADY), {"deleted_clients": 50})  # 400
    assert _check(sources, _production(380, 1, 1, deleted=20), "rows kept") is True


@pytest.mark.parametrize(("before", "passes"), [(700, True), (701, False)])
def test_a_rotation_passes_with_min_rows_ratio(before: float, passes: bool) -> None:
    # The history cut to its newest part on purpose: 350 rows against half of production's.
    gate = GateConfig(min_rows_ratio=0.5)  # floor 350 for 700, 350.5 for 701
    check = _found(
        _sources(_events(STEADY)), _production(1, 1, 1, before=before), "rows kept", gate
    )
    assert check.passed is passes
    assert f"floor {before / 2:,.0f} (0.5 × production's)" in check.detail
    assert (
        _check(_sources(_events(STEADY)), _production(1, 1, 1, before=before), "rows kept") is False
    )


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
    checks = data_checks(sources, _production(None, clients, items), GATE, END)
    assert [c.name for c in checks if c.passed is False] == failed


# ---------------------------------------------------------- across inputs


def _table(rows: list[tuple], extra: str, values: list[str]) -> pd.DataFrame:
    """(client, item, order, day, quantity, price) rows with one column of their own
    (``title`` for the shop's history, ``event_type`` for the service's log)."""
    frame = pd.DataFrame(
        rows, columns=["client_id", "item_id", "order_id", "day", "quantity", "price"]
    )
    frame["timestamp"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame.pop("day"), unit="D")
    for column in ("client_id", "item_id", "order_id"):
        frame[column] = frame[column].astype("category")
    frame[extra] = pd.Categorical(values)
    return frame


def _loaded(name: str, events: pd.DataFrame) -> Source:
    return Source(name, LoadedEvents(events, ImportReport(name, "hand", len(events), len(events))))


HISTORY = _table(
    [
        ("c1", "i1", "o1", 0, 1.0, 1.95),
        ("c1", "i2", "o1", 0, 2.0, 0.85),
        ("c2", "i1", "o2", 1, 1.0, np.nan),
        ("c3", "i3", "o3", 2, 1.0, 4.95),
    ],
    "title",
    ["one", "two", "one", "three"],
)


def test_rows_of_an_earlier_input_are_dropped_and_counted() -> None:
    log = _table(
        [
            ("c1", "i1", "o1", 0, 1.0, 1.9500000000000002),  # = history row 1 (read as JSON)
            ("c1", "i2", "o1", 0, 2.0, 0.85),  # = history row 2
            ("c2", "i1", "o2", 1, 1.0, np.nan),  # = history row 3 (no price on both)
            ("c3", "i3", "o3", 2, 3.0, 4.95),  # not history row 4: another quantity
        ],
        "event_type",
        ["purchase"] * 4,
    )
    parts, joined = join([_loaded("history", HISTORY), _loaded("log", log)])
    assert [p.duplicates_of for p in parts] == [{}, {"history": 3}]
    assert len(joined.events) == 5 and joined.report.rows_kept == 5
    assert joined.report.rows_read == 8 and joined.report.dropped == {ACROSS_INPUTS: 3}
    assert joined.events["quantity"].tolist() == [1.0, 2.0, 1.0, 1.0, 3.0]
    sources = Sources(parts, joined, None, None)
    check = _found(sources, None, "cleaning: log")
    assert check.passed is False
    assert check.detail == (
        "3 of its 4 rows kept (75%; limit 50%) are already in an earlier input "
        "(3 in history): dropped as duplicates_across_inputs"
    )
    assert _found(sources, None, "cleaning: history").passed is True


def test_a_few_rows_of_an_earlier_input_pass_and_are_still_dropped() -> None:
    log = _table(
        [("c1", "i1", "o1", 0, 1.0, 1.95), ("c4", "i1", "o4", 3, 1.0, 1.95)],
        "event_type",
        ["purchase"] * 2,
    )
    third = _table(
        [("c4", "i1", "o4", 3, 1.0, 1.95), ("c5", "i2", "o5", 3, 1.0, 1.96)],
        "event_type",
        ["purchase"] * 2,
    )
    parts, joined = join([_loaded("history", HISTORY), _loaded("log", log), _loaded("more", third)])
    # The third input's first row is the log's second (not the history's): counted there.
    assert [p.duplicates_of for p in parts] == [{}, {"history": 1}, {"log": 1}]
    assert len(joined.events) == 6 and joined.report.dropped == {ACROSS_INPUTS: 2}
    sources = Sources(parts, joined, None, None)
    # 1 of 2 is 50%: at the limit, a failure; with a limit of 0.6 it passes.
    assert _found(sources, None, "cleaning: log").passed is False
    check = _found(sources, None, "cleaning: log", GateConfig(heavy_step_share=0.6))
    assert check.passed is True and check.detail.endswith(
        "; 1 rows already in an earlier input dropped"
    )


def test_without_the_duplicates_step_nothing_is_dropped_across_inputs() -> None:
    parts, joined = join([_loaded("history", HISTORY), _loaded("again", HISTORY)], across=False)
    assert [p.duplicates_of for p in parts] == [{}, {}]
    assert len(joined.events) == 8 and ACROSS_INPUTS not in joined.report.dropped
