"""A campaign's effect report: per-client figures, pooled and Welch intervals, CUPED, DiD, SRM,
checked against answers worked out by hand or computed independently."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from recsys.campaigns.effect import METRICS, NO_VALUE, campaign_effect, client_metrics
from recsys.data import load_events
from recsys.feedback import report
from recsys.stats import cuped, mean_difference, srm_p, two_proportions, wilson

Z = 1.959963984540054
START = pd.Timestamp("2026-03-10", tz="UTC")
END = pd.Timestamp("2026-03-20", tz="UTC")  # 10 days: the pre period starts 2026-02-28
PRE = pd.Timestamp("2026-02-28", tz="UTC")
POST_DAY = pd.Timestamp("2026-03-12 10:00", tz="UTC")
PRE_DAY = pd.Timestamp("2026-03-03 10:00", tz="UTC")

MEMBERS = pd.DataFrame(
    [
        ("t1", "treatment", "email", "A", ["X"]),
        ("t2", "treatment", "email", "A", ["Y"]),
        ("t3", "treatment", "sms", "B", ["X"]),
        ("h1", "holdout", "email", "A", ["X"]),
        ("h2", "holdout", "sms", None, ["Y"]),
        ("h3", "holdout", "sms", "B", ["Z"]),
    ],
    columns=["client_id", "group", "channel", "segment", "offers"],
)


def _events(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Canonical events: categorical ids (client may be None), UTC times."""
    frame = pd.DataFrame(
        rows, columns=["client_id", "item_id", "order_id", "timestamp", "quantity", "price"]
    )
    for column in ("client_id", "item_id", "order_id"):
        frame[column] = frame[column].astype("category")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame.astype({"quantity": float, "price": float})


#: client, item, order, time, quantity, price
HAND = _events(
    [
        # post period
        ("t1", "X", "o1", POST_DAY, 2, 5.0),  # 10
        ("t1", "Y", "o1", POST_DAY, 1, 10.0),  # + 10 = order o1: 20
        ("t1", "Z", "o2", POST_DAY, 1, 10.0),  # t1: 30 in 2 orders, bought X (offered)
        ("t2", "X", "o3", POST_DAY, 1, 12.0),  # t2: 12, offered Y only
        ("t2", "X", "r1", POST_DAY, -1, 12.0),  # a return: ignored
        ("h1", "X", "o4", POST_DAY, 1, 6.0),  # h1: 6, offered X
        ("h3", "Z", "o5", POST_DAY, 3, 2.0),  # h3: 6, offered Z
        (None, "X", "o6", POST_DAY, 5, 100.0),  # no client: ignored
        ("stranger", "X", "o7", POST_DAY, 5, 100.0),  # not a member
        ("t3", "X", "o8", END, 1, 50.0),  # at the end: in neither period
        # pre period
        ("t1", "X", "p1", PRE_DAY, 1, 10.0),
        ("t3", "Y", "p2", PRE_DAY, 2, 4.0),
        ("h1", "Z", "p3", PRE_DAY, 1, 4.0),
        ("h2", "Y", "p4", PRE_DAY, 1, 2.0),
        ("h3", "Z", "p5", PRE - pd.Timedelta(seconds=1), 1, 50.0),  # before the pre period
    ]
)


@pytest.fixture(scope="module")
def hand() -> dict[str, Any]:
    return campaign_effect(MEMBERS, HAND, START, END, holdout_share=10)


def test_client_metrics_by_hand() -> None:
    table = client_metrics(MEMBERS, HAND, START, END)
    assert table.index.tolist() == ["t1", "t2", "t3", "h1", "h2", "h3"]
    assert table["revenue"].tolist() == [30.0, 12.0, 0.0, 6.0, 0.0, 6.0]
    assert table["orders"].tolist() == [2, 1, 0, 1, 0, 1]
    assert table["bought"].tolist() == [1, 1, 0, 1, 0, 1]
    assert table["bought_offered"].tolist() == [1, 0, 0, 1, 0, 1]
    assert table["average_check"].tolist()[:2] == [15.0, 12.0]
    assert table["average_check"].isna().tolist() == [False, False, True, False, True, False]
    assert table["pre_revenue"].tolist() == [10.0, 0.0, 8.0, 4.0, 2.0, 0.0]
    assert table["pre_orders"].tolist() == [1, 0, 1, 1, 1, 0]
    assert table["pre_bought_offered"].tolist() == [1, 0, 0, 0, 1, 0]
    assert table["group"].tolist() == ["treatment"] * 3 + ["holdout"] * 3
    assert table["channel"].tolist() == ["email", "email", "sms", "email", "sms", "sms"]


def test_revenue_difference_by_hand(hand: dict[str, Any]) -> None:
    revenue = hand["metrics"]["revenue_per_client"]
    # treatment 30, 12, 0: mean 14, squared deviations 256 + 4 + 196 = 456, var 228
    # holdout 6, 0, 6: mean 4, squared deviations 4 + 16 + 4 = 24, var 12
    assert revenue["treatment"] == pytest.approx(14.0)
    assert revenue["holdout"] == pytest.approx(4.0)
    assert revenue["difference"] == pytest.approx(10.0)
    # pooled variance (2 × 228 + 2 × 12) / 4 = 120; se = sqrt(120 (1/3 + 1/3)) = sqrt(80)
    se = math.sqrt(120 / 3 + 120 / 3)
    assert revenue["ci95"] == pytest.approx([10 - Z * se, 10 + Z * se])
    # relative 10 / 4; ratio 3.5: se = sqrt(120/3 + 3.5² × 120/3) / 4 = sqrt(530) / 4
    assert revenue["relative"] == pytest.approx(2.5)
    se_relative = math.sqrt(40 + 3.5**2 * 40) / 4
    assert se_relative == pytest.approx(math.sqrt(530) / 4)
    assert revenue["relative_ci95"] == pytest.approx([2.5 - Z * se_relative, 2.5 + Z * se_relative])
    # pre revenue: treatment 10, 0, 8 (mean 6); holdout 4, 2, 0 (mean 2)
    assert revenue["did"] == pytest.approx((14 - 6) - (4 - 2))


def test_other_metrics_by_hand(hand: dict[str, Any]) -> None:
    metrics = hand["metrics"]
    assert set(metrics) == set(METRICS)
    buyers = metrics["buyers_share"]
    assert (buyers["treatment"], buyers["holdout"]) == pytest.approx((2 / 3, 2 / 3))
    assert buyers["difference"] == pytest.approx(0.0)
    offered = metrics["offered_item_buyers_share"]
    assert offered["difference"] == pytest.approx(1 / 3 - 2 / 3)
    assert offered["did"] == pytest.approx((1 / 3 - 1 / 3) - (2 / 3 - 1 / 3))
    orders = metrics["orders_per_client"]
    assert orders["difference"] == pytest.approx(1 - 2 / 3)
    # average check over the clients with a post order: t1 15, t2 12 | h1 6, h3 6;
    # pre: t1 10, h1 4, t2 and h3 none → the mean of those, 7
    check = metrics["average_check"]
    assert (check["treatment"], check["holdout"]) == pytest.approx((13.5, 6.0))
    se = math.sqrt(4.5 / 2 + 0 / 2)  # var(15, 12) = 4.5; var(6, 6) = 0
    assert check["ci95"] == pytest.approx([7.5 - Z * se, 7.5 + Z * se])
    assert check["did"] == pytest.approx((13.5 - (10 + 7) / 2) - (6 - (4 + 7) / 2))


def test_average_check_covariate_fills_missing_with_the_mean() -> None:
    events = _events(
        [
            ("t1", "X", "a", POST_DAY, 1, 20.0),
            ("t1", "X", "b", PRE_DAY, 1, 10.0),
            ("t2", "X", "c", POST_DAY, 1, 30.0),  # no pre order: filled
            ("h1", "X", "d", POST_DAY, 1, 8.0),
            ("h1", "X", "e", PRE_DAY, 1, 6.0),
            ("h3", "X", "f", POST_DAY, 1, 4.0),
            ("h3", "X", "g", PRE_DAY, 1, 2.0),
            ("h2", "X", "h", PRE_DAY, 1, 100.0),  # no post order: not counted
        ]
    )
    check = campaign_effect(MEMBERS, events, START, END, 50)["metrics"]["average_check"]
    # post 20, 30 | 8, 4; pre 10, (10 + 6 + 2) / 3 = 6 | 6, 2
    assert check["did"] == pytest.approx((25 - 8) - (6 - 4))
    y, x = np.array([20.0, 30, 8, 4]), np.array([10.0, 6, 6, 2])
    theta = np.cov(x, y)[0, 1] / x.var(ddof=1)
    assert check["cuped_difference"] == pytest.approx((25 - theta * 2) - (6 - theta * -2))
    no_past = campaign_effect(MEMBERS, events[events["timestamp"] >= START], START, END, 50)
    check = no_past["metrics"]["average_check"]  # pre all missing: 0, θ = 0
    assert check["did"] == pytest.approx(19.0) == check["cuped_difference"]


def test_srm_against_scipy(hand: dict[str, Any]) -> None:
    expected = scipy_stats.chisquare([3, 3], [6 * 0.9, 6 * 0.1]).pvalue
    assert hand["clients"] == {"treatment": 3, "holdout": 3}
    assert hand["srm_p"] == pytest.approx(expected)
    assert hand["srm_mismatch"] is False  # p = 0.00109, just above 0.001
    skewed = campaign_effect(MEMBERS, HAND, START, END, holdout_share=2)
    assert skewed["srm_mismatch"] is True
    assert skewed["srm_p"] == pytest.approx(scipy_stats.chisquare([3, 3], [5.88, 0.12]).pvalue)
    balanced = campaign_effect(MEMBERS, HAND, START, END, holdout_share=50)
    assert balanced["srm_p"] == pytest.approx(1.0) and balanced["srm_mismatch"] is False
    assert srm_p([900, 100], [0.9, 0.1]) == pytest.approx(1.0)
    assert srm_p([0, 0], [0.9, 0.1]) is None
    assert srm_p([950, 50], [90, 10]) == pytest.approx(
        scipy_stats.chisquare([950, 50], [900, 100]).pvalue
    )


def test_window_is_reported(hand: dict[str, Any]) -> None:
    assert hand["window"] == {
        "start": "2026-03-10T00:00:00+00:00",
        "end": "2026-03-20T00:00:00+00:00",
        "pre_start": "2026-02-28T00:00:00+00:00",
    }


@pytest.mark.parametrize("aware", [True, False])
def test_window_edges(aware: bool) -> None:
    members = MEMBERS.iloc[:1]
    events = _events(
        [
            ("t1", "X", "at-start", START, 1, 1.0),
            ("t1", "X", "at-pre-start", PRE, 1, 10.0),
            ("t1", "X", "at-end", END, 1, 100.0),
            ("t1", "X", "before-pre", PRE - pd.Timedelta(microseconds=1), 1, 1000.0),
        ]
    )
    if not aware:  # as load_events gives them: naive, in UTC
        events["timestamp"] = events["timestamp"].dt.tz_localize(None)
    row = client_metrics(members, events, START, END).iloc[0]
    assert (row["revenue"], row["orders"]) == (1.0, 1)
    assert (row["pre_revenue"], row["pre_orders"]) == (10.0, 1)


def test_unclient_rows_returns_and_missing_prices() -> None:
    events = _events(
        [
            ("t1", "X", "o1", POST_DAY, 1, float("nan")),  # counts the order, no revenue
            ("t1", "Y", "o2", POST_DAY, 2, 3.0),
            ("t1", "Y", "o3", POST_DAY, -2, 3.0),  # a return
            (None, "X", "o4", POST_DAY, 1, 9.0),
        ]
    )
    row = client_metrics(MEMBERS.iloc[:1], events, START, END).iloc[0]
    assert (row["revenue"], row["orders"], row["average_check"]) == (6.0, 2, 3.0)
    assert (row["bought"], row["bought_offered"]) == (1, 1)
    only_return = events.iloc[2:]
    row = client_metrics(MEMBERS.iloc[:1], only_return, START, END).iloc[0]
    assert (row["revenue"], row["orders"], row["bought"]) == (0.0, 0, 0)


def test_buying_another_item_is_not_buying_the_offer() -> None:
    events = _events([("t2", "X", "o1", POST_DAY, 1, 5.0)])  # t2 was offered Y
    row = client_metrics(MEMBERS, events, START, END).loc["t2"]
    assert (row["bought"], row["bought_offered"]) == (1, 0)


def test_cuped_equals_a_regression() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(10, 3, 500)
    y = 2 + 0.8 * x + rng.normal(0, 1, 500)
    (_, slope), *_ = np.linalg.lstsq(np.column_stack([np.ones_like(x), x]), y, rcond=None)
    adjusted, theta = cuped(y, x)
    assert theta == pytest.approx(slope)
    treated = rng.random(500) < 0.5
    for part in (treated, ~treated):
        assert adjusted[part].mean() == pytest.approx(
            y[part].mean() - slope * (x[part].mean() - x.mean())
        )
    same, zero = cuped(y, np.full(500, 0.1))
    assert zero == 0.0 and np.array_equal(same, y)


def test_cuped_narrows_the_interval_when_the_past_predicts() -> None:
    rng = np.random.default_rng(11)
    n = 400
    clients = [f"c{i}" for i in range(n)]
    group = np.where(rng.random(n) < 0.5, "treatment", "holdout")
    before = rng.gamma(2.0, 50.0, n)
    after = before + rng.normal(0, 10, n) + np.where(group == "treatment", 5.0, 0.0)
    members = pd.DataFrame(
        {
            "client_id": clients,
            "group": group,
            "channel": "email",
            "segment": "A",
            "offers": pd.Series([["X"]] * n, dtype=object),
        }
    )
    events = _events(
        [(c, "X", f"pre-{c}", PRE_DAY, 1, b) for c, b in zip(clients, before, strict=True)]
        + [(c, "X", f"post-{c}", POST_DAY, 1, a) for c, a in zip(clients, after, strict=True)]
    )
    revenue = campaign_effect(members, events, START, END, 50)["metrics"]["revenue_per_client"]
    plain = revenue["ci95"][1] - revenue["ci95"][0]
    reduced = revenue["cuped_ci95"][1] - revenue["cuped_ci95"][0]
    assert reduced < plain / 3
    treated = group == "treatment"
    theta = np.cov(before, after)[0, 1] / before.var(ddof=1)
    expected = (after[treated].mean() - theta * before[treated].mean()) - (
        after[~treated].mean() - theta * before[~treated].mean()
    )
    assert revenue["cuped_difference"] == pytest.approx(expected)
    assert revenue["cuped_ci95"][0] < 5.0 < revenue["cuped_ci95"][1]


def _plain(value: Any) -> bool:
    """Only dict (str keys), list, str, int, float, bool, None: no numpy types."""
    if isinstance(value, dict):
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return type(value) in (str, int, float, bool, type(None))


def test_json_ready(hand: dict[str, Any]) -> None:
    assert _plain(hand)
    assert orjson.loads(orjson.dumps(hand)) == hand


def test_subgroups_and_one_client_groups(hand: dict[str, Any]) -> None:
    channels, segments = hand["by"]["channel"], hand["by"]["segment"]
    assert set(channels) == {"email", "sms"} and set(segments) == {"A", "B", NO_VALUE}
    assert channels["sms"]["clients"] == {"treatment": 1, "holdout": 2}
    sms = channels["sms"]["metrics"]["revenue_per_client"]
    assert (sms["treatment"], sms["holdout"], sms["difference"]) == (0.0, 3.0, -3.0)
    assert sms["ci95"] is None and sms["cuped_ci95"] is None and sms["relative_ci95"] is None
    alone = segments[NO_VALUE]
    assert alone["clients"] == {"treatment": 0, "holdout": 1}
    for figures in alone["metrics"].values():
        assert figures["treatment"] is None and figures["difference"] is None
        assert figures["ci95"] is None and figures["did"] is None
    email = channels["email"]["metrics"]["revenue_per_client"]  # 30, 12 | 6
    assert email["difference"] == pytest.approx(15.0) and email["ci95"] is None


def test_an_empty_group_gives_no_intervals() -> None:
    treated = MEMBERS.assign(group="treatment")
    found = campaign_effect(treated, HAND, START, END, holdout_share=10)
    assert found["clients"] == {"treatment": 6, "holdout": 0}
    assert found["srm_p"] == pytest.approx(scipy_stats.chisquare([6, 0], [5.4, 0.6]).pvalue)
    for figures in found["metrics"].values():
        assert figures["holdout"] is None and figures["ci95"] is None
        assert figures["difference"] is None and figures["relative"] is None
    assert _plain(found)
    with pytest.raises(ValueError, match="unknown groups"):
        campaign_effect(MEMBERS.assign(group="control"), HAND, START, END, 10)


def test_mean_difference_edges() -> None:
    assert set(mean_difference(np.array([1.0]), np.array([1.0, 2.0])).values()) == {None}
    found = mean_difference(np.array([1.0, 3.0]), np.array([-1.0, 1.0]))
    assert found["difference"] == pytest.approx(2.0) and found["relative"] is None
    se = math.sqrt(2 / 2 + 2 / 2)
    assert found["ci95"] == pytest.approx([2 - Z * se, 2 + Z * se])
    assert found["p_value"] == pytest.approx(2 * scipy_stats.norm.sf(2 / se))


def test_the_report_keeps_its_statistics() -> None:
    assert report.wilson is wilson and report.two_proportions is two_proportions
    assert {"wilson", "two_proportions"} <= set(report.__all__)


def test_real_events_as_loaded(sample_data: Path) -> None:
    events = load_events(sample_data, fmt="online-retail").events
    start, end = pd.Timestamp("2010-09-01", tz="UTC"), pd.Timestamp("2010-10-01", tz="UTC")
    clients = events["client_id"].dropna().astype(str).unique()[:40].tolist()
    members = pd.DataFrame(
        {
            "client_id": clients,
            "group": ["holdout" if i % 4 == 0 else "treatment" for i in range(40)],
            "channel": "email",
            "segment": None,
            "offers": [[str(events["item_id"].iloc[0])]] * 40,
        }
    )
    table = client_metrics(members, events, start, end)
    moment = events["timestamp"]  # naive, UTC
    post = (moment >= start.tz_localize(None)) & (moment < end.tz_localize(None))
    for client in clients[:10]:  # independently, one client at a time
        mine = events[post & (events["client_id"] == client) & (events["quantity"] > 0)]
        revenue = float((mine["quantity"] * mine["price"].fillna(0)).sum())
        assert table.loc[client, "revenue"] == pytest.approx(revenue), client
        assert table.loc[client, "orders"] == mine["order_id"].nunique(), client
    found = campaign_effect(members, events, start, end, holdout_share=25)
    assert found["clients"] == {"treatment": 30, "holdout": 10}
    assert _plain(found) and set(found["by"]["segment"]) == {NO_VALUE}


def test_pooled_and_welch_intervals_by_hand() -> None:
    from recsys.stats import mean_difference

    # t: mean 4, squared deviations 9 + 4 + 1 + 0 + 36 = 50, var 12.5; h: mean 3, var 2
    t, h = np.array([1.0, 2, 3, 4, 10]), np.array([2.0, 4])
    welch = mean_difference(t, h)["ci95"]
    assert welch == pytest.approx([1 - Z * math.sqrt(12.5 / 5 + 2 / 2), 1 + Z * math.sqrt(3.5)])
    # pooled: (4 × 12.5 + 1 × 2) / 5 = 10.4; se = sqrt(10.4 × (1/5 + 1/2)) = sqrt(7.28)
    pooled = mean_difference(t, h, pooled=True)
    assert pooled["ci95"] == pytest.approx([1 - Z * math.sqrt(7.28), 1 + Z * math.sqrt(7.28)])
    # relative: 1 / 3, ratio 4 / 3: se = sqrt(10.4 / 5 + (4/3)² × 10.4 / 2) / 3
    se = math.sqrt(10.4 / 5 + (4 / 3) ** 2 * 10.4 / 2) / 3
    assert pooled["relative_ci95"] == pytest.approx([1 / 3 - Z * se, 1 / 3 + Z * se])


def test_lines_without_an_order_are_their_own_orders() -> None:
    members = pd.DataFrame({"client_id": ["a", "b"], "group": ["treatment", "holdout"],
                            "channel": "email", "segment": None,
                            "offers": [["X"], ["X"]]})  # fmt: skip
    events = pd.DataFrame({
        "client_id": ["a", "a", "a"], "item_id": ["X", "Y", "Z"], "order_id": [None, None, None],
        "timestamp": pd.to_datetime(["2011-01-02 10:00", "2011-01-03 10:00", "2011-01-03 10:00"]),
        "quantity": [1.0, 2.0, 1.0], "price": [2.0, 5.0, 4.0],
    })  # fmt: skip
    table = client_metrics(members, events, pd.Timestamp("2011-01-01"), pd.Timestamp("2011-01-10"))
    # two times: two orders, 2 + 10 + 4 = 16
    assert table.loc["a", "orders"] == 2 and table.loc["a", "revenue"] == 16.0
    assert table.loc["a", "average_check"] == 8.0


def test_the_minimum_detectable_effect_by_hand() -> None:
    # Post-period revenue only (no pre period: CUPED's θ is 0, its interval the plain one):
    # treatment 30, 12, 0 and holdout 6, 0, 6, as in the hand case above: pooled variance
    # 120, se sqrt(80); 80 % power at 5 %: (1.959964 + 0.841621) × sqrt(80) = 25.058.
    rows = [("t1", "X", "o1", POST_DAY, 1, 30.0), ("t2", "Y", "o2", POST_DAY, 1, 12.0),
            ("h1", "X", "o4", POST_DAY, 1, 6.0), ("h3", "Z", "o5", POST_DAY, 1, 6.0)]  # fmt: skip
    found = campaign_effect(MEMBERS, _events(rows), START, END, holdout_share=10)
    revenue = found["metrics"]["revenue_per_client"]
    assert revenue["cuped_ci95"] == pytest.approx(revenue["ci95"])
    assert revenue["mde"] == pytest.approx(25.058, abs=1e-3)
