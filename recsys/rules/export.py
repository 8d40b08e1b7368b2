"""Rules as a table of external ids, written to CSV or Parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys.errors import ConfigError
from recsys.rules.mining import METRICS
from recsys.vocab import IdMap

__all__ = ["RULE_COLUMNS", "rules_table", "write_rules"]

RULE_COLUMNS = ["antecedents", "consequents", *METRICS]


def _joined(sets: pd.Series, items: IdMap) -> list[str]:
    ids = items.ids
    return ["|".join(sorted(ids[np.asarray(s)].tolist())) for s in sets]


def rules_table(rules: pd.DataFrame, items: IdMap) -> pd.DataFrame:
    """Replace column indices by ``|``-joined, sorted item ids."""
    table = rules.copy()
    table["antecedents"] = _joined(rules["antecedents"], items)
    table["consequents"] = _joined(rules["consequents"], items)
    return table[RULE_COLUMNS]


def write_rules(table: pd.DataFrame, path: Path) -> None:
    """Write to ``.csv`` or ``.parquet`` (chosen by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        table.to_csv(path, index=False)
    elif path.suffix.lower() in (".parquet", ".pq"):
        table.to_parquet(path, index=False)
    else:
        raise ConfigError(f"out: unknown file type {path.name!r}; use .csv or .parquet")
