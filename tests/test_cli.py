"""The ``recsys`` command: help, inspect against an independent count, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import SAMPLE, write_csv
from training.cli import app

runner = CliRunner()


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("data", "synth"):
        assert re.search(rf"│ {command}\s", result.output), command


def independent_counts(raw: pd.DataFrame) -> dict[str, object]:
    """The inspect figures, computed straight from the raw strings with pandas."""
    raw = raw.drop_duplicates()
    raw = raw.assign(StockCode=raw["StockCode"].str.strip())  # ids are whitespace-stripped
    qty, price = raw["Quantity"].astype(float), raw["Price"].astype(float)
    cancel = raw["Invoice"].str.startswith("C")
    codes = r"(?i)(POST|DOT|M|D|S|B|C2|CRUK|BANK CHARGES|AMAZONFEE|ADJUST\d*|TEST.*|gift_.*)"
    service = raw["StockCode"].str.fullmatch(codes)
    keep = ~cancel & (qty > 0) & ~service & (price > 0)
    kept = raw[keep]
    client = kept["Customer ID"].str.replace(r"\.0$", "", regex=True)
    known = kept[client != ""].assign(c=client[client != ""])
    pairs = known[["c", "StockCode"]].drop_duplicates()
    return {
        "rows_kept": len(kept),
        "clients": known["c"].nunique(),
        "items": kept["StockCode"].nunique(),
        "orders": kept["Invoice"].nunique(),
        "date_min": pd.Timestamp(kept["InvoiceDate"].min()).isoformat(),
        "date_max": pd.Timestamp(kept["InvoiceDate"].max()).isoformat(),
        "density": len(pairs) / (known["c"].nunique() * known["StockCode"].nunique()),
    }


def _inspect_matches_pandas(path: Path, raw: pd.DataFrame) -> dict[str, object]:
    args = ["data", "inspect", "--events", str(path), "--format", "online-retail", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    expected = independent_counts(raw)
    assert stats["rows_read"] == len(raw)
    assert stats["rows_read"] == stats["rows_kept"] + sum(stats["dropped"].values())
    assert stats["dropped"]["duplicates"] == int(raw.duplicated().sum())
    for key, value in expected.items():
        if key == "density":
            assert np.isclose(stats[key], value), key
        else:
            assert stats[key] == value, key
    return stats


def test_inspect_on_the_sample_matches_pandas(sample_data: Path, sample_raw: pd.DataFrame) -> None:
    _inspect_matches_pandas(sample_data, sample_raw)


def test_inspect_on_shared_data_matches_pandas(shared_data: Path, shared_raw: pd.DataFrame) -> None:
    """The full-size figures the README publishes."""
    stats = _inspect_matches_pandas(shared_data, shared_raw)
    assert stats["rows_read"] == 525_461 and stats["rows_kept"] == 502_430


def test_inspect_prints_a_readable_report() -> None:
    result = runner.invoke(
        app, ["data", "inspect", "--events", str(SAMPLE), "--format", "online-retail"]
    )
    assert result.exit_code == 0, result.output
    assert "rows read       106,849" in result.output
    assert "dropped cancellations" in result.output


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (
            "client_id,item_id,timestamp,quantity,price\nc,A,2024-01-01,1,1\n",
            ["row 0", "'order_id'", "missing column"],
        ),
        (
            "client_id,item_id,order_id,timestamp,quantity,price\nc,A,o,2024-13-45,1,1\n",
            ["row 1", "'timestamp'", "2024-13-45"],
        ),
        (
            "client_id,item_id,order_id,timestamp,quantity,price\nc,A,o,2024-01-01,1,€1\n",
            ["row 1", "'price'", "€1"],
        ),
    ],
)
def test_bad_input_exits_nonzero_naming_file_row_column(
    tmp_path: Path, text: str, needles: list[str]
) -> None:
    path = write_csv(tmp_path / "bad.csv", text)
    result = runner.invoke(app, ["data", "inspect", "--events", str(path)])
    assert result.exit_code == 3
    assert result.output.startswith("error: file " + str(path))
    for needle in needles:
        assert needle in result.output
    assert "Traceback" not in result.output


def test_empty_file_and_wrong_format_exit_nonzero(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = runner.invoke(app, ["data", "inspect", "--events", str(empty)])
    assert result.exit_code == 3 and "the file is empty" in result.output
    result = runner.invoke(
        app, ["data", "inspect", "--events", str(SAMPLE), "--format", "canonical"]
    )
    assert result.exit_code == 3 and "missing column" in result.output
    result = runner.invoke(app, ["data", "inspect", "--events", str(SAMPLE), "--format", "xls"])
    assert result.exit_code == 3 and "unknown format 'xls'" in result.output


def test_synth_writes_a_readable_file(tmp_path: Path) -> None:
    out = tmp_path / "s.parquet"
    args = ["synth", "--clients", "50", "--items", "30", "--events", "500", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    inspected = runner.invoke(app, ["data", "inspect", "--events", str(out), "--json"])
    assert json.loads(inspected.output)["rows_read"] == 500


def test_synth_rejects_bad_sizes_and_suffix(tmp_path: Path) -> None:
    result = runner.invoke(app, ["synth", "--clients", "0", "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 4 and "clients" in result.output
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "s.xlsx")])
    assert result.exit_code == 4 and "unknown file type" in result.output
