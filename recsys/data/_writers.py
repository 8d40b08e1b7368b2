"""Write an events table to CSV (plain or gzip) or Parquet, chosen by suffix."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from recsys.errors import ConfigError


def write_table(table: pa.Table, path: str | Path) -> None:
    """Write ``table`` to ``path``: ``.parquet``, ``.csv`` or ``.csv.gz``."""
    path = Path(path)
    name = path.name.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith((".parquet", ".pq")):
        # Microseconds: every engine reads them (Spark refuses nanosecond timestamps).
        pq.write_table(table, path, coerce_timestamps="us", allow_truncated_timestamps=True)
    elif name.endswith((".csv", ".csv.gz")):
        plain = pa.table({n: _plain(table[n]) for n in table.column_names})
        compression = "gzip" if name.endswith(".gz") else None
        with (
            pa.CompressedOutputStream(str(path), "gzip")
            if compression
            else pa.OSFile(str(path), "wb") as sink
        ):
            pacsv.write_csv(plain, sink)
    else:
        raise ConfigError(f"output: unknown file type {path.name!r}; use .parquet, .csv or .csv.gz")


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        return pc.cast(column, column.type.value_type)
    if pa.types.is_timestamp(column.type):
        return pc.strftime(column, format="%Y-%m-%d %H:%M:%S")
    return column
