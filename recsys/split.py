"""Train/test splits of an events table: by time, and per client at random."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Split", "split_by_fraction_of_time", "split_by_time", "split_random_per_client"]


@dataclass(frozen=True)
class Split:
    """Train and test events plus a description for reports and MLflow."""

    train: pd.DataFrame
    test: pd.DataFrame
    description: dict[str, object]


def split_by_time(events: pd.DataFrame, cutoff: pd.Timestamp | str) -> Split:
    """Train on events strictly before ``cutoff``, test on the rest."""
    cut = pd.Timestamp(cutoff)
    before = (events["timestamp"] < cut).to_numpy()
    return Split(
        events.loc[before].reset_index(drop=True),
        events.loc[~before].reset_index(drop=True),
        {"kind": "time", "cutoff": cut.isoformat()},
    )


def split_by_fraction_of_time(events: pd.DataFrame, test_fraction: float) -> Split:
    """Time split whose test part covers the last ``test_fraction`` of the time span."""
    _check_fraction(test_fraction)
    start, end = events["timestamp"].min(), events["timestamp"].max()
    split = split_by_time(events, start + (end - start) * (1.0 - test_fraction))
    return Split(split.train, split.test, {**split.description, "test_fraction": test_fraction})


def split_random_per_client(events: pd.DataFrame, test_fraction: float, seed: int = 42) -> Split:
    """Hold out ``test_fraction`` of each client's distinct items, at random.

    Every event of a held-out (client, item) pair goes to test, so the same item
    never sits on both sides for one client. Clients with one item, and lines
    without a client, stay in train.
    """
    _check_fraction(test_fraction)
    known = events["client_id"].notna().to_numpy()
    pairs = events.loc[known, ["client_id", "item_id"]].drop_duplicates()
    rng = np.random.default_rng(seed)
    key = rng.random(len(pairs))
    rank = (
        pd.Series(key, index=pairs.index)
        .groupby(pairs["client_id"], observed=True)
        .rank(method="first")
    )
    size = pairs.groupby("client_id", observed=True)["item_id"].transform("size")
    take = np.ceil(size.to_numpy() * test_fraction)
    held = pairs.loc[(rank.to_numpy() <= take) & (size.to_numpy() >= 2)]
    in_test = _pair_mask(events, held)
    description = {"kind": "random", "test_fraction": test_fraction, "seed": seed}
    return Split(
        events.loc[~in_test].reset_index(drop=True),
        events.loc[in_test].reset_index(drop=True),
        description,
    )


def _pair_mask(events: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
    keys = pd.MultiIndex.from_frame(pairs.astype(str))
    probe = pd.MultiIndex.from_arrays(
        [events["client_id"].astype(str), events["item_id"].astype(str)]
    )
    return np.asarray(probe.isin(keys)) & events["client_id"].notna().to_numpy()


def _check_fraction(fraction: float) -> None:
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {fraction}")
