"""Event import: formats, parsing, and clean errors for bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data import read_events
from recsys.errors import ParseError, SchemaError
from tests.conftest import write_csv

CANONICAL = """
client_id,item_id,order_id,timestamp,quantity,price
c1,A,o1,2024-01-01 10:00:00,2,1.5
c1,B,o1,2024-01-01 10:00:00,1,3.0
,A,o2,2024-01-02 11:00:00,1,1.5
"""


def test_canonical_csv_reads_every_column(tmp_path: Path) -> None:
    events = read_events(write_csv(tmp_path / "e.csv", CANONICAL))
    assert list(events.columns) == [
        "client_id",
        "item_id",
        "order_id",
        "timestamp",
        "quantity",
        "price",
    ]
    assert events["client_id"].tolist()[:2] == ["c1", "c1"]
    assert pd.isna(events["client_id"].iloc[2])
    assert events["quantity"].tolist() == [2.0, 1.0, 1.0]
    assert events["timestamp"].iloc[2] == pd.Timestamp("2024-01-02 11:00:00")


def test_gzip_and_parquet_give_the_same_table(tmp_path: Path) -> None:
    plain = read_events(write_csv(tmp_path / "e.csv", CANONICAL))
    gz = tmp_path / "e.csv.gz"
    gz.write_bytes(gzip.compress((tmp_path / "e.csv").read_bytes()))
    pq = tmp_path / "e.parquet"
    plain.to_parquet(pq)
    for other in (read_events(gz), read_events(pq)):
        pd.testing.assert_frame_equal(
            other.astype({c: str for c in ("client_id", "item_id", "order_id")}),
            plain.astype({c: str for c in ("client_id", "item_id", "order_id")}),
        )


@pytest.mark.parametrize(
    ("header", "date"),
    [
        (
            "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country",
            "2010-12-01 08:26:00",
        ),
        (
            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
            "12/1/2010 8:26",
        ),
    ],
)
def test_online_retail_both_spellings(tmp_path: Path, header: str, date: str) -> None:
    text = f"{header}\n536365,85123A,WHITE HEART,6,{date},2.55,17850.0,United Kingdom\n"
    events = read_events(write_csv(tmp_path / "or.csv", text), "online-retail")
    row = events.iloc[0]
    assert (row["client_id"], row["item_id"], row["order_id"]) == ("17850", "85123A", "536365")
    assert row["timestamp"] == pd.Timestamp("2010-12-01 08:26:00")
    assert (row["quantity"], row["price"], row["title"]) == (6.0, 2.55, "WHITE HEART")


def test_float_client_ids_collapse_onto_integer_spelling(tmp_path: Path) -> None:
    text = (
        "Invoice,StockCode,Quantity,InvoiceDate,Price,Customer ID\n"
        "1,A,1,2010-01-01 00:00:00,1,13085.0\n"
        "2,A,1,2010-01-02 00:00:00,1,13085\n"
    )
    events = read_events(write_csv(tmp_path / "f.csv", text), "online-retail")
    assert events["client_id"].tolist() == ["13085", "13085"]
    assert events["client_id"].nunique() == 1


# Bad input: every case names the file, the 1-based data row and the column.
BAD_CASES = {
    "missing column": (
        "client_id,item_id,timestamp,quantity,price\nc1,A,2024-01-01,1,1\n",
        SchemaError,
        0,
        "order_id",
    ),
    "unparsable date": (
        "client_id,item_id,order_id,timestamp,quantity,price\n"
        "c1,A,o1,2024-01-01,1,1\nc1,B,o1,yesterday,1,1\n",
        ParseError,
        2,
        "timestamp",
    ),
    "date out of range (found by the fuzzer)": (
        "client_id,item_id,order_id,timestamp,quantity,price\n"
        "c1,A,o1,2024-01-01,1,1\nc1,A,o1,9999-01-01,1,1\n",
        ParseError,
        2,
        "timestamp",
    ),
    "unparsable number": (
        "client_id,item_id,order_id,timestamp,quantity,price\n"
        "c1,A,o1,2024-01-01,1,1\nc1,A,o1,2024-01-01,1,1\nc1,B,o1,2024-01-01,two,1\n",
        ParseError,
        3,
        "quantity",
    ),
    "infinite price": (
        "client_id,item_id,order_id,timestamp,quantity,price\nc1,A,o1,2024-01-01,1,inf\n",
        ParseError,
        1,
        "price",
    ),
    "empty required value": (
        "client_id,item_id,order_id,timestamp,quantity,price\nc1,,o1,2024-01-01,1,1\n",
        ParseError,
        1,
        "item_id",
    ),
    "blank line in the middle": (
        "client_id,item_id,order_id,timestamp,quantity,price\nc1,A,o1,2024-01-01,1,1\n\n"
        "c1,B,o1,2024-01-01,1,1\n",
        ParseError,
        2,
        "item_id",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_names_file_row_column(tmp_path: Path, case: str) -> None:
    text, error, row, column = BAD_CASES[case]
    path = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(error) as caught:
        read_events(path)
    assert (caught.value.file, caught.value.row, caught.value.column) == (str(path), row, column)
    assert str(path) in str(caught.value) and f"row {row}" in str(caught.value)


def test_extra_fields_in_a_row_name_the_row(tmp_path: Path) -> None:
    text = (
        "client_id,item_id,order_id,timestamp,quantity,price\n"
        "c1,A,o1,2024-01-01,1,1\nc1,A,o1,2024-01-01,1,1,EXTRA,FIELDS\n"
    )
    with pytest.raises(ParseError) as caught:
        read_events(write_csv(tmp_path / "x.csv", text))
    assert caught.value.row == 2


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("empty.csv", b"", "empty"),
        ("header.csv", b"client_id,item_id,order_id,timestamp,quantity,price\n", "no data rows"),
        ("binary.csv", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\xfa", "not a readable"),
        ("bad.parquet", b"this is not parquet", "not a readable Parquet"),
        ("events.json", b"{}", "unknown file type"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes, needle: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SchemaError, match=needle) as caught:
        read_events(path)
    assert caught.value.file == str(path)


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", CANONICAL)
    with pytest.raises(SchemaError, match="unknown format 'excel'"):
        read_events(path, "excel")
    with pytest.raises(SchemaError, match="no such file"):
        read_events(tmp_path / "nope.csv")


def test_service_event_log_reads_back(tmp_path: Path) -> None:
    from recsys.data import load_events

    log = tmp_path / "events.jsonl"
    log.write_text(
        '{"type":"purchase","client_id":"c1","item_id":"A","order_id":null,'
        '"timestamp":"2024-05-01T10:00:00+00:00","quantity":2.0,"price":null}\n'
        '{"type":"view","client_id":"c1","item_id":"B","order_id":null,'
        '"timestamp":"2024-05-01T10:01:00+00:00","quantity":1.0,"price":null}\n'
        '{"type":"purchase","client_id":"c2","item_id":"A","order_id":"o9",'
        '"timestamp":"2024-05-02T10:00:00+00:00","quantity":1.0,"price":3.5}\n'
    )
    loaded = load_events(log, "events-log")
    assert loaded.report.rows_read == 3 and loaded.report.dropped["non_purchase"] == 1
    events = loaded.events
    assert events["client_id"].tolist() == ["c1", "c2"]
    assert np.isnan(events["price"].iloc[0]) and events["price"].iloc[1] == 3.5
    assert events["timestamp"].iloc[1] == pd.Timestamp("2024-05-02 10:00:00")


def test_broken_event_log_line_is_named(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text(
        '{"client_id":"c1","item_id":"A","timestamp":"2024-05-01","quantity":1}\n{oops\n'
    )
    with pytest.raises(ParseError) as caught:
        read_events(log, "events-log")
    assert caught.value.row == 2 and str(log) in str(caught.value)


def test_titles_collapse_repeated_spaces(sample_data: Path, sample_raw: pd.DataFrame) -> None:
    doubled = sample_raw["Description"][sample_raw["Description"].str.contains("  ")]
    assert len(doubled) > 0  # the real data has them ("LUNCH BAG  BLACK SKULL.")
    events = read_events(sample_data, "online-retail")
    titles = events["title"].dropna().astype(str)
    assert not titles.str.contains("  ").any()
    expected = {" ".join(t.split()) for t in doubled}
    assert expected <= set(titles)
