"""Client features against an independent pandas computation, point in time, online store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import redis
import redis.asyncio as aioredis
from typer.testing import CliRunner

from feature_store import FEATURES, SEGMENT_RULES, OnlineStore, build_features, rfm_segment
from recsys.data import read_events
from serving.profiles import LiveProfiles
from training.cli import app

AS_OF = pd.Timestamp("2010-06-01")
SERVICE = r"(?i)(POST|DOT|M|D|S|B|C2|CRUK|BANK CHARGES|AMAZONFEE|ADJUST\d*|TEST.*|gift_.*)"


@pytest.fixture(scope="module")
def raw(sample_data: Path) -> pd.DataFrame:
    return read_events(sample_data, "online-retail")


@pytest.fixture(scope="module")
def table(raw: pd.DataFrame) -> pd.DataFrame:
    return build_features(raw, AS_OF)


def expected_for(raw_strings: pd.DataFrame, client: str) -> dict[str, object]:
    """Straight from the file's strings: the definitions in feature_store/definitions.py."""
    rows = raw_strings[raw_strings["Customer ID"].str.replace(r"\.0$", "", regex=True) == client]
    rows = rows.drop_duplicates()
    stamp = pd.to_datetime(rows["InvoiceDate"])
    rows = rows[(stamp < AS_OF).to_numpy()]
    rows = rows[~rows["StockCode"].str.strip().str.fullmatch(SERVICE)]
    rows = rows[rows["Price"].astype(float) > 0]
    qty, price = rows["Quantity"].astype(float), rows["Price"].astype(float)
    value = qty * price
    back = rows["Invoice"].str.startswith("C") | (qty <= 0)
    bought = rows[~back]
    when = pd.to_datetime(bought["InvoiceDate"])
    orders = bought["Invoice"].nunique()
    first, last = when.min(), when.max()
    per_item = bought.assign(q=bought["Quantity"].astype(float)).groupby("StockCode")["q"].sum()
    top_item = sorted(per_item.items(), key=lambda kv: (-kv[1], kv[0].strip()))[0][0].strip()
    per_country = bought["Country"].value_counts()
    top_country = sorted(per_country.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    rhythm = (last - first).total_seconds() / 86400 / (orders - 1) if orders > 1 else None
    recency = (AS_OF - last).total_seconds() / 86400
    overdue = recency > max(2 * rhythm, 30) if rhythm is not None else recency > 180
    due = last + pd.Timedelta(days=rhythm if rhythm is not None else 30)
    return {
        "favourite_item": top_item,
        "favourite_country": top_country,
        "churn_risk": overdue,
        "next_contact": max(due, AS_OF).date(),
        "frequency": orders,
        "monetary": value.sum(),
        "average_check": value[~back].sum() / orders,
        "recency_days": (AS_OF - last).total_seconds() / 86400,
        "tenure_days": (AS_OF - first).total_seconds() / 86400,
        "avg_days_between_orders": (last - first).total_seconds() / 86400 / (orders - 1)
        if orders > 1
        else np.nan,
        "return_rate": abs(value[back].sum()) / value[~back].sum(),
    }


def test_features_match_pandas_for_sampled_clients(
    table: pd.DataFrame, sample_raw: pd.DataFrame
) -> None:
    sample = table.sample(25, random_state=3).index
    for client in sample:
        for name, value in expected_for(sample_raw, client).items():
            got = table.loc[client, name]
            if isinstance(value, float) and np.isnan(value):
                assert np.isnan(got), (client, name)
            elif isinstance(value, str | bool | np.bool_) or name == "next_contact":
                assert got == value, (client, name)
            else:
                assert got == pytest.approx(value, rel=1e-9), (client, name)


def test_rfm_scores_are_quintiles_and_segments_follow_the_table(table: pd.DataFrame) -> None:
    for score in ("r_score", "f_score", "m_score"):
        counts = table[score].value_counts()
        assert set(counts.index) == {1, 2, 3, 4, 5}
        assert counts.max() - counts.min() <= 1  # ranks split into equal fifths
    assert (table.groupby("r_score")["recency_days"].max().diff().dropna() < 0).all()
    for (r, f, m), segment in (
        table.groupby(["r_score", "f_score", "m_score"])["segment"].first().items()
    ):
        first = next(
            name
            for name, rr, ff, mm in SEGMENT_RULES
            if rr[0] <= r <= rr[1] and ff[0] <= f <= ff[1] and mm[0] <= m <= mm[1]
        )
        assert segment == first
    assert list(table.columns) == [f.name for f in FEATURES]


def test_segment_rules_cover_every_score() -> None:
    grid = pd.MultiIndex.from_product([range(1, 6)] * 3).to_frame(index=False)
    named = rfm_segment(grid[0], grid[1], grid[2])
    assert (named != "").all()
    assert set(named) == {r[0] for r in SEGMENT_RULES}


def test_point_in_time_no_leakage(raw: pd.DataFrame, table: pd.DataFrame) -> None:
    future = raw[raw["timestamp"] >= AS_OF]
    changed = future.assign(quantity=future["quantity"] * 100)
    altered = pd.concat([raw[raw["timestamp"] < AS_OF], changed], ignore_index=True)
    pd.testing.assert_frame_equal(build_features(altered, AS_OF), table)
    assert (table["recency_days"] > 0).all()
    later = build_features(raw, "2010-12-10")
    assert len(later) > len(table)  # new clients appear only once they bought


def test_online_store_round_trip_memory_and_redis(table: pd.DataFrame, redis_url: str) -> None:
    # A database of its own: other tests' services share the session's Redis, and
    # features left in theirs would give them segments.
    own = redis_url.rsplit("/", 1)[0] + "/12"
    redis.Redis.from_url(own).flushdb()
    client = str(table.index[0])
    try:
        for store in (OnlineStore(None), OnlineStore(own)):
            assert store.materialise(table.head(50), "v1") == 50
            got = store.get(client)
            assert got is not None
            assert got["segment"] == table.loc[client, "segment"]
            assert got["frequency"] == table.loc[client, "frequency"]
            assert store.get("nobody") is None
        # The service's reads on the event loop: the same row, a manager assigned on the
        # screen included, and None for an unknown client.
        OnlineStore(own).assign(client, "Ann Lee")
        live = asyncio.run(_live_reads(own, [client, "nobody"]))
        assert live[0] is not None and live[0]["manager"] == "Ann Lee"
        assert live[0]["segment"] == table.loc[client, "segment"]
        assert live[0]["frequency"] == table.loc[client, "frequency"]
        assert live[1] is None
    finally:
        redis.Redis.from_url(own).flushdb()


async def _live_reads(url: str, clients: list[str]) -> list[dict[str, Any] | None]:
    client = aioredis.from_url(url)
    try:
        reader = LiveProfiles(client)
        return [await reader.get(c) for c in clients]
    finally:
        await client.aclose()


def test_features_cli(sample_data: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["features", "list"])
    assert listed.exit_code == 0 and "recency_days" in listed.output
    out = tmp_path / "features.parquet"
    args = ["features", "build", "--events", str(sample_data), "--format", "online-retail"]
    result = runner.invoke(app, [*args, "--as-of", "2009-12-08", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out)) > 0
    bad = runner.invoke(app, [*args, "--as-of", "someday", "--out", str(out)])
    assert bad.exit_code == 4 and "as_of" in bad.output
