"""Hypothesis-generated CSV files: a clean import or an error naming file/row/column."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.data import load_events
from recsys.errors import DataError

HEADER = "client_id,item_id,order_id,timestamp,quantity,price"
GOOD_ROW = "c1,A,o1,2024-01-01 10:00:00,1,2.5"

cell = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", '"', '""', "\ufeff", "1e309", "-0", "NaN", "2024-02-30", "13085.0"]),
    st.text(alphabet='0123456789.,-" ', max_size=8),
    st.just("x" * 5000),
)
row = st.lists(cell, min_size=0, max_size=8).map(lambda cells: ",".join(cells))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.one_of(row, st.just(GOOD_ROW)), min_size=0, max_size=6),
    bom=st.booleans(),
    encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]),
)
def test_any_csv_imports_cleanly_or_names_the_problem(
    rows: list[str], bom: bool, encoding: str
) -> None:
    text = ("\ufeff" if bom else "") + "\n".join([HEADER, *rows]) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.csv"
        try:
            path.write_bytes(text.encode(encoding))
        except UnicodeEncodeError:
            return
        try:
            loaded = load_events(path)
        except DataError as error:
            assert error.file == str(path) and str(path) in str(error)
            return
        # A clean import accounts for every row (no silent, partial import):
        # kept + dropped = read, and the kept rows are all there.
        report = loaded.report
        assert report.rows_read == report.rows_kept + sum(report.dropped.values())
        assert len(loaded.events) == report.rows_kept >= 0
