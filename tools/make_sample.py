"""Derive the bundled quick-start sample from the shared Online Retail II data.

A few thousand real rows, complete with the mess the importer must handle
(cancellations, lines without a client, postage codes), so a fresh machine
without ``../shared`` can run the demo. Run once; the output is committed.

    python tools/make_sample.py ../shared/data/online_retail_ii_2009_2010.csv.gz
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "recsys/data/sample/online_retail_sample.csv.gz"


def main(source: str, clients: int = 60, anonymous_invoices: int = 25, seed: int = 7) -> None:
    raw = pd.read_csv(source, dtype=str, keep_default_na=False)
    invoices = raw.groupby("Customer ID")["Invoice"].nunique()
    regular = invoices[(invoices >= 4) & (invoices <= 12) & (invoices.index != "")]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(regular.index.to_numpy(), size=clients, replace=False)
    anonymous = raw.loc[raw["Customer ID"] == "", "Invoice"].unique()
    picked = rng.choice(anonymous, size=anonymous_invoices, replace=False)
    keep = raw["Customer ID"].isin(chosen) | raw["Invoice"].isin(picked)
    raw.loc[keep].to_csv(OUT, index=False, compression="gzip")
    print(f"wrote {int(keep.sum())} rows to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
