"""Timestamps with a time zone import as UTC instants, whatever the file type: a
Parquet column in Europe/Paris time reads like the same instants written as text
with their offsets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recsys.data import read_events

#: 10:00 in Paris in winter (UTC+1) and in summer (UTC+2).
PARIS = ["2010-12-01 10:00:00", "2010-07-01 10:00:00"]
UTC_INSTANTS = [pd.Timestamp("2010-12-01 09:00:00"), pd.Timestamp("2010-07-01 08:00:00")]


def _events(stamps: pd.Series | list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"client_id": ["c1", "c2"], "item_id": ["i1", "i2"], "order_id": ["o1", "o2"]}
    ).assign(timestamp=stamps)


def test_a_zoned_parquet_column_imports_as_utc(tmp_path: Path) -> None:
    path = tmp_path / "paris.parquet"
    zoned = pd.Series(pd.to_datetime(PARIS)).dt.tz_localize("Europe/Paris")
    _events(zoned).to_parquet(path)
    assert read_events(path)["timestamp"].tolist() == UTC_INSTANTS


def test_zoned_parquet_and_text_with_offsets_agree(tmp_path: Path) -> None:
    parquet, text = tmp_path / "paris.parquet", tmp_path / "paris.csv"
    zoned = pd.Series(pd.to_datetime(PARIS)).dt.tz_localize("Europe/Paris")
    _events(zoned).to_parquet(parquet)
    _events([s.isoformat() for s in zoned]).to_csv(text, index=False)  # "…+01:00"
    from_text = read_events(text)["timestamp"].tolist()
    assert from_text == UTC_INSTANTS
    assert read_events(parquet)["timestamp"].tolist() == from_text
