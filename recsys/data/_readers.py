"""Read CSV (plain or gzip) and Parquet files into the canonical events table.

Every value is checked; the first bad one raises a :class:`~recsys.errors.DataError`
naming the file, the 1-based data row (header not counted) and the column as
written in the file. Nothing is dropped here: cleaning is a separate, counted step.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from recsys.data.schema import (
    ALL_COLUMNS,
    DEFAULTED_COLUMNS,
    FORMATS,
    ID_COLUMNS,
    NULLABLE_COLUMNS,
    OPTIONAL_COLUMNS,
    InputFormat,
)
from recsys.errors import ParseError, SchemaError

_CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz", ".tsv", ".gz")
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_LINE_RE = re.compile(r"line (\d+)")


def read_events(path: str | Path, fmt: str = "canonical") -> pd.DataFrame:
    """Read one events file in format ``fmt`` into the canonical table."""
    path = Path(path)
    spec = input_format(fmt)
    if not path.is_file():
        raise SchemaError("no such file", file=str(path))
    if path.stat().st_size == 0:
        raise SchemaError("the file is empty", file=str(path))
    raw, columns = _read_raw(path, spec)
    if raw.empty:
        raise SchemaError("the file has a header but no data rows", file=str(path))
    return _convert(raw, columns, spec, str(path))


def input_format(fmt: str) -> InputFormat:
    """The format named ``fmt``; an unknown name is refused listing the known ones."""
    try:
        return FORMATS[fmt]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise SchemaError(f"unknown format {fmt!r}; known formats: {known}") from None


def _read_raw(path: Path, spec: InputFormat) -> tuple[pd.DataFrame, dict[str, str]]:
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return _read_parquet(path, spec)
    if name.endswith(_CSV_SUFFIXES):
        return _read_csv(path, spec)
    if name.endswith(_JSONL_SUFFIXES):
        return _read_jsonl(path, spec)
    raise SchemaError("unknown file type; expected .csv, .csv.gz or .parquet", file=str(path))


def _read_csv(path: Path, spec: InputFormat) -> tuple[pd.DataFrame, dict[str, str]]:
    file = str(path)
    try:
        header = list(pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns)
        columns = spec.resolve(header, file)
        text = {c: "category" for c in (*ID_COLUMNS, *OPTIONAL_COLUMNS) if c in columns}
        dtype = {columns[c]: text.get(c, "str") for c in columns}
        frame = pd.read_csv(
            path,
            dtype=dtype,  # type: ignore[arg-type]
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise SchemaError("the file is empty", file=file) from None
    except pd.errors.ParserError as exc:
        raise _parser_error(exc, file) from None
    except (UnicodeDecodeError, EOFError, OSError) as exc:
        raise SchemaError(f"not a readable UTF-8 CSV file ({exc})", file=file) from None
    # All columns are read (not usecols) so a row with extra fields is an error,
    # not silently truncated; unused columns are dropped here.
    return frame[list(columns.values())], columns


def _parser_error(exc: Exception, file: str) -> ParseError:
    match = _LINE_RE.search(str(exc))
    row = int(match.group(1)) - 1 if match else None
    return ParseError(f"malformed CSV ({exc})", file=file, row=row)


def _read_parquet(path: Path, spec: InputFormat) -> tuple[pd.DataFrame, dict[str, str]]:
    file = str(path)
    try:
        frame = pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise SchemaError(f"not a readable Parquet file ({exc})", file=file) from None
    columns = spec.resolve([str(c) for c in frame.columns], file)
    return frame[list(columns.values())], columns


def _read_jsonl(path: Path, spec: InputFormat) -> tuple[pd.DataFrame, dict[str, str]]:
    """JSON lines (the service's event log); a bad line is located by a second pass."""
    file = str(path)
    try:
        frame = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
    except ValueError:
        raise ParseError("not valid JSON", file=file, row=_bad_json_line(path)) from None
    if frame.empty:
        raise SchemaError("the file has no events", file=file)
    columns = spec.resolve([str(c) for c in frame.columns], file)
    return frame[list(columns.values())], columns


def _bad_json_line(path: Path) -> int | None:
    import json

    with open(path, encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                json.loads(line)
            except ValueError:
                return number
    return None


def _convert(
    raw: pd.DataFrame, columns: dict[str, str], spec: InputFormat, file: str
) -> pd.DataFrame:
    out: dict[str, pd.Series] = {}
    for canonical, source in columns.items():
        series = raw[source].reset_index(drop=True)
        empty_ok = canonical in spec.may_be_empty
        if canonical in DEFAULTED_COLUMNS:
            numbers = _to_number(series, file, source, empty_ok=True)
            out[canonical] = numbers.fillna(DEFAULTED_COLUMNS[canonical])
            continue
        if canonical not in NULLABLE_COLUMNS and not empty_ok:
            _check_present(series, file, source)
        if canonical == "timestamp":
            out[canonical] = _to_timestamp(series, spec.date_formats, file, source)
        else:
            text = canonical == "title"  # free text: runs of spaces collapsed
            out[canonical] = _to_category(series, canonical in spec.float_ids, text)
    for canonical, default in DEFAULTED_COLUMNS.items():  # columns the file leaves out
        out.setdefault(canonical, pd.Series(np.full(len(raw), default)))
    return pd.DataFrame({c: out[c] for c in ALL_COLUMNS if c in out})


def _first_bad(bad: np.ndarray | pd.Series) -> int | None:
    positions = np.flatnonzero(np.asarray(bad))
    return int(positions[0]) if positions.size else None


def _check_present(series: pd.Series, file: str, column: str) -> None:
    bad = _first_bad(series.isna())
    if bad is not None:
        raise ParseError("empty value in a required column", file=file, row=bad + 1, column=column)


def _to_number(series: pd.Series, file: str, column: str, empty_ok: bool = False) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.astype("float64")
    else:
        values = pd.to_numeric(series.astype("str").str.strip(), errors="coerce")
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    allowed = np.isnan(numbers) & series.isna().to_numpy() if empty_ok else False
    bad = _first_bad(~np.isfinite(numbers) & ~allowed)
    if bad is not None:
        raise ParseError(
            f"cannot parse {series.iloc[bad]!r} as a number", file=file, row=bad + 1, column=column
        )
    return values.astype("float64")


def _to_timestamp(series: pd.Series, formats: tuple[str, ...], file: str, column: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        # The instant, in UTC like text with an offset: dropping the zone would shift
        # a Paris 10:00 (09:00 UTC) to 10:00.
        zoned = series.dt.tz is not None
        return series.dt.tz_convert("UTC").dt.tz_localize(None) if zoned else series
    text = series.astype("str").str.strip()
    fmt = pick_date_format(text.iloc[0], formats)
    parsed = _parse_dates(text, fmt) if fmt else None
    bad = 0 if parsed is None else _first_bad(parsed.isna())
    if bad is not None:
        wanted = " or ".join(formats)
        raise ParseError(
            f"cannot parse {text.iloc[bad]!r} as a date ({wanted})",
            file=file,
            row=bad + 1,
            column=column,
        )
    assert parsed is not None
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")


# Years like 0 or 9999 parse at a coarser unit but do not fit nanoseconds: errors.
_LOW, _HIGH = pd.Timestamp("1678-01-01", tz="UTC"), pd.Timestamp("2261-12-31", tz="UTC")


def _parse_dates(text: pd.Series, fmt: str) -> pd.Series:
    """Parse a whole column; values out of the datetime range become NaT (then errors).

    utc=True: offsets (the service writes "+00:00") are normalised, then dropped.
    """
    try:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
    except (ValueError, OverflowError):  # "coerce" does not catch every overflow
        one = [_parse_one(value, fmt) for value in text]  # error path only
        parsed = pd.Series(one, index=text.index, dtype="datetime64[ns, UTC]")
    return parsed.where((parsed >= _LOW) & (parsed <= _HIGH))


def _parse_one(value: str, fmt: str) -> pd.Timestamp | None:
    try:
        stamp = pd.to_datetime(value, format=fmt, utc=True)
    except (ValueError, OverflowError):
        return None
    return stamp if _LOW <= stamp <= _HIGH else None


def pick_date_format(first: str, formats: tuple[str, ...]) -> str | None:
    """The first of ``formats`` that parses ``first`` (a file's first date), if any."""
    for fmt in formats:
        try:
            pd.to_datetime(first, format=fmt)
        except (ValueError, TypeError, OverflowError):
            continue
        return fmt
    return None


def _to_category(series: pd.Series, float_ids: bool, text: bool = False) -> pd.Series:
    """Ids and labels as categoricals of stripped strings; ``13085.0`` → ``13085``;
    ``text``: runs of whitespace inside become one space (``LUNCH BAG  BLACK SKULL.``)."""
    was_float = pd.api.types.is_float_dtype(series)
    cat = series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")
    labels = pd.Index(cat.cat.categories.astype(str)).str.strip()
    if text:
        labels = labels.str.replace(r"\s+", " ", regex=True)
    if float_ids or was_float:
        labels = labels.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
    codes, uniques = pd.factorize(labels)
    old = cat.cat.codes.to_numpy()
    new = np.where(old >= 0, codes[np.maximum(old, 0)], -1) if len(codes) else old
    return pd.Series(pd.Categorical.from_codes(new, categories=pd.Index(uniques, dtype=str)))
