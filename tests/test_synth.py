"""Synthetic events: schema, determinism, power-law shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys.data import read_events, write_table
from recsys.synth import SynthConfig, synthesize


def test_synth_is_canonical_and_deterministic(tmp_path: Path) -> None:
    config = SynthConfig(clients=300, items=200, events=5_000, seed=4)
    table = synthesize(config)
    assert table.num_rows == 5_000
    assert table.equals(synthesize(config))
    assert not table.equals(synthesize(config.model_copy(update={"seed": 5})))
    for name in ("s.parquet", "s.csv.gz"):
        write_table(table, tmp_path / name)
        events = read_events(tmp_path / name)
        assert len(events) == 5_000
        assert events["client_id"].nunique() <= 300 and events["item_id"].nunique() <= 200


def test_synth_popularity_is_skewed_and_orders_realistic() -> None:
    table = synthesize(SynthConfig(clients=2_000, items=1_000, events=100_000, seed=0))
    items = np.asarray(table["item_id"].combine_chunks().indices)
    counts = np.sort(np.bincount(items, minlength=1_000))[::-1]
    assert counts[:10].sum() > 0.1 * counts.sum()  # top 1% of items: >10% of lines
    orders = np.bincount(np.asarray(table["order_id"].combine_chunks().indices))
    assert 4.0 < orders.mean() < 6.0 and orders.min() >= 1
    stamps = table["timestamp"].to_numpy()
    assert (stamps.max() - stamps.min()) > np.timedelta64(300, "D")
