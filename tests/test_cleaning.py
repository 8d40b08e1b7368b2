"""Cleaning steps: each counts what it drops, once, under the first reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from recsys.data import CleaningConfig, clean_events, read_events
from tests.conftest import write_csv

# Row by row, the reason each line goes (worked out by hand):
#  1 keep · 2 duplicate of 1 · 3 cancellation (C prefix, negative qty)
#  4 return without C prefix · 5 POST · 6 zero price · 7 keep (no client)
#  8 keep · 9 "m" manual (case-insensitive) · 10 TEST001 · 11 gift_0001_10 · 12 keep
TABLE = """
client_id,item_id,order_id,timestamp,quantity,price
c1,A,o1,2024-01-01,1,1.0
c1,A,o1,2024-01-01,1,1.0
c1,A,C9,2024-01-02,-1,1.0
c2,K,o2,2024-01-03,-3,2.0
c2,POST,o2,2024-01-03,1,18.0
c2,K,o2,2024-01-03,1,0.0
,K,o3,2024-01-04,2,2.0
c2,E,o2,2024-01-03,1,5.0
c3,m,o4,2024-01-05,1,3.0
c3,TEST001,o4,2024-01-05,1,3.0
c3,gift_0001_10,o4,2024-01-05,1,10.0
c3,D2,o4,2024-01-05,1,3.0
"""


@pytest.fixture
def raw(tmp_path: Path):  # type: ignore[no-untyped-def]
    return read_events(write_csv(tmp_path / "t.csv", TABLE))


def test_every_step_counts_its_rows(raw) -> None:  # type: ignore[no-untyped-def]
    kept, dropped = clean_events(raw)
    assert dropped == {
        "deleted_clients": 0,
        "non_purchase": 0,
        "duplicates": 1,
        "cancellations": 1,
        "non_positive_quantity": 1,
        "non_product": 4,
        "non_positive_price": 1,
    }
    assert len(kept) == 4 and len(kept) + sum(dropped.values()) == len(raw)
    assert sorted(kept["item_id"].astype(str)) == ["A", "D2", "E", "K"]


def test_steps_can_be_switched_off(raw) -> None:  # type: ignore[no-untyped-def]
    config = CleaningConfig(duplicates=False, non_product=False)
    kept, dropped = clean_events(raw, config)
    assert "duplicates" not in dropped and "non_product" not in dropped
    assert len(kept) == 12 - 3


def test_patterns_and_prefix_are_configurable(raw) -> None:  # type: ignore[no-untyped-def]
    config = CleaningConfig(non_product_patterns=("D\\d",), cancellation_prefix="o4")
    _, dropped = clean_events(raw, config)
    # o4 holds m, TEST001, gift_0001_10 and D2: all four go as "cancellations" now.
    assert dropped["cancellations"] == 4
    assert dropped["non_product"] == 0
    assert dropped["non_positive_quantity"] == 2


def test_bad_config_names_the_field() -> None:
    with pytest.raises(ValidationError, match="non_product_patterns"):
        CleaningConfig(non_product_patterns=("(",))
    with pytest.raises(ValidationError, match="unknown_step"):
        CleaningConfig(unknown_step=True)  # type: ignore[call-arg]
