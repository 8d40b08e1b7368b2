"""Splits: no leakage across the cut-off, reproducible random hold-out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data import load_events
from recsys.split import split_by_fraction_of_time, split_by_time, split_random_per_client


@pytest.fixture(scope="module")
def slice_events(sample_data: Path) -> pd.DataFrame:
    return load_events(sample_data, "online-retail").events


def test_time_split_has_no_leakage(slice_events: pd.DataFrame) -> None:
    cut = pd.Timestamp("2009-12-06")
    split = split_by_time(slice_events, cut)
    assert (split.train["timestamp"] < cut).all()
    assert (split.test["timestamp"] >= cut).all()
    assert len(split.train) + len(split.test) == len(slice_events)
    assert len(split.train) == int((slice_events["timestamp"] < cut).sum())
    assert len(split.train) > 0 and len(split.test) > 0


def test_fraction_of_time_places_the_cutoff(slice_events: pd.DataFrame) -> None:
    split = split_by_fraction_of_time(slice_events, 0.25)
    start, end = slice_events["timestamp"].min(), slice_events["timestamp"].max()
    cutoff = pd.Timestamp(split.description["cutoff"])  # type: ignore[arg-type]
    assert abs((end - cutoff) / (end - start) - 0.25) < 1e-6
    assert split.train["timestamp"].max() < cutoff <= split.test["timestamp"].min()


def pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    known = frame[frame["client_id"].notna()]
    return set(zip(known["client_id"].astype(str), known["item_id"].astype(str), strict=True))


def test_random_split_holds_out_a_fraction_of_each_clients_items(
    slice_events: pd.DataFrame,
) -> None:
    split = split_random_per_client(slice_events, 0.25, seed=3)
    train, test = pairs(split.train), pairs(split.test)
    assert not train & test  # a held-out pair has every event in test
    assert len(split.train) + len(split.test) == len(slice_events)
    # Brute force per client: ceil(25% of distinct items) held out when it has 2+.
    everything: dict[str, set[str]] = {}
    for client, item in train | test:
        everything.setdefault(client, set()).add(item)
    held: dict[str, int] = {}
    for client, _ in test:
        held[client] = held.get(client, 0) + 1
    for client, items in everything.items():
        want = int(np.ceil(len(items) * 0.25)) if len(items) >= 2 else 0
        assert held.get(client, 0) == want, client


def test_random_split_is_reproducible(slice_events: pd.DataFrame) -> None:
    a = split_random_per_client(slice_events, 0.2, seed=1)
    b = split_random_per_client(slice_events, 0.2, seed=1)
    c = split_random_per_client(slice_events, 0.2, seed=2)
    assert pairs(a.test) == pairs(b.test) != pairs(c.test)


def test_bad_fraction_is_refused(slice_events: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_random_per_client(slice_events, 1.5)
