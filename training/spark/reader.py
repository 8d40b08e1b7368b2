"""Read CSV (plain or gzip) and Parquet into the canonical events table, with Spark.

The same formats, aliases and conversions as :mod:`recsys.data` (ids stripped,
``13085.0`` → ``13085``, titles' runs of spaces collapsed, dates parsed with the
format that reads the first row, missing quantity 1), so that the cleaning steps see
the same values in both engines. A bad value is a :class:`~recsys.errors.ParseError`
naming the file, the 1-based data row and the column, found by numbering the rows
only on that error path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from recsys.data import DEFAULTED_COLUMNS, input_format, pick_date_format
from recsys.data.schema import ALL_COLUMNS, NULLABLE_COLUMNS, InputFormat
from recsys.errors import ParseError, SchemaError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["read_events"]

_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".csv.gz", ".txt", ".txt.gz", ".tsv", ".gz")
#: strftime → Java DateTimeFormatter (single letters parse one or two digits, as %m does).
_JAVA_DATE = {"%Y": "yyyy", "%m": "M", "%d": "d", "%H": "H", "%M": "mm", "%S": "ss"}


def read_events(spark: SparkSession, path: str, fmt: str = "canonical") -> DataFrame:
    """Read ``path`` (a file, a folder of part files, or any URI Spark reads, e.g.
    ``s3a://…``) in format ``fmt`` into a canonical Spark DataFrame."""
    spec = input_format(fmt)
    raw = _read_raw(spark, path)
    columns = spec.resolve(raw.columns, path)
    # The date format is picked from the first row once (a Spark job), for both uses.
    stamps = _timestamp(raw, columns["timestamp"], spec)
    _raise_first_bad(raw, _checks(raw, columns, spec, stamps), path)
    return _convert(raw, columns, spec, stamps)


def _read_raw(spark: SparkSession, path: str) -> DataFrame:
    from pyspark.errors import AnalysisException

    local = "://" not in path
    if local and not Path(path).exists():
        raise SchemaError("no such file", file=path)
    name = path.lower().rstrip("/")
    try:
        if name.endswith(_PARQUET) or (local and Path(path).is_dir()):
            return spark.read.parquet(path)
        if name.endswith(_CSV):
            frame = spark.read.csv(path, header=True, escape='"', encoding="UTF-8")
            return frame.toDF(*(c.lstrip("\ufeff") for c in frame.columns))  # a BOM
    except AnalysisException as exc:
        raise SchemaError(f"not readable by Spark ({exc.getMessage()})", file=path) from None
    raise SchemaError("unknown file type; expected .csv, .csv.gz or .parquet", file=path)


def _source(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(f"`{name}`")


def _is_text(raw: DataFrame, column: str) -> bool:
    return dict(raw.dtypes)[column] == "string"


def _number(raw: DataFrame, column: str) -> Column:
    from pyspark.sql import functions as F

    value = _source(column)
    if _is_text(raw, column):
        value = F.trim(value)
    return value.try_cast("double")


def _checks(
    raw: DataFrame, columns: dict[str, str], spec: InputFormat, stamps: Column
) -> dict[str, Column]:
    """Per file column, the condition of a bad value (the local reader's checks)."""
    from pyspark.sql import functions as F

    checks: dict[str, Column] = {}
    for canonical, source in columns.items():
        value = _source(source)
        if canonical in DEFAULTED_COLUMNS:
            number = _number(raw, source)
            finite = ~F.isnan(number) & (F.abs(number) != float("inf"))
            checks[source] = value.isNotNull() & (number.isNull() | ~finite)
        elif canonical == "timestamp":
            checks[source] = value.isNull() | stamps.isNull()
        elif canonical not in NULLABLE_COLUMNS and canonical not in spec.may_be_empty:
            checks[source] = value.isNull()
    return checks


def _raise_first_bad(raw: DataFrame, checks: dict[str, Column], file: str) -> None:
    """One pass counting bad values per column; a second, numbered pass only if any."""
    from pyspark.sql import functions as F

    counts = raw.select([F.sum(c.cast("int")).alias(n) for n, c in checks.items()]).first()
    bad = [n for n in checks if counts is not None and (counts[n] or 0) > 0]
    if not bad:
        return
    from pyspark.sql.types import LongType, StructField, StructType

    numbered = raw.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1]))
    schema = StructType([*raw.schema.fields, StructField("__row", LongType())])
    frame = raw.sparkSession.createDataFrame(numbered, schema)  # no type sampling
    first = frame.select([F.min(F.when(checks[n], F.col("__row"))).alias(n) for n in bad]).first()
    assert first is not None
    column = min(bad, key=lambda n: first[n])
    row = int(first[column])
    value = frame.filter(F.col("__row") == row).select(_source(column)).first()
    shown = None if value is None else value[0]
    raise ParseError(f"cannot read {shown!r}", file=file, row=row + 1, column=column)


def _timestamp(raw: DataFrame, column: str, spec: InputFormat) -> Column:
    from pyspark.sql import functions as F

    kind = dict(raw.dtypes)[column]
    if kind == "bigint":  # a nanosecond Parquet timestamp (read as a long, see session)
        return F.timestamp_micros(F.floor(_source(column) / 1000).cast("long"))
    if kind != "string":
        return _source(column).cast("timestamp")
    value = F.trim(_source(column))
    first = raw.select(value).first()
    fmt = pick_date_format(first[0], spec.date_formats) if first and first[0] else None
    if fmt is None:
        return F.lit(None).cast("timestamp")
    if fmt == "ISO8601":
        return F.try_to_timestamp(value)
    java = fmt
    for code, letters in _JAVA_DATE.items():
        java = java.replace(code, letters)
    return F.try_to_timestamp(value, F.lit(java))


def _text(raw: DataFrame, column: str, float_id: bool, title: bool) -> Column:
    from pyspark.sql import functions as F

    value = F.regexp_replace(_source(column).cast("string"), r"(?U)^\s+|\s+$", "")
    if title:
        value = F.regexp_replace(value, r"(?U)\s+", " ")
    if float_id or dict(raw.dtypes)[column] in ("double", "float"):
        value = F.regexp_replace(value, r"^(-?\d+)\.0+$", "$1")
    return value


def _convert(
    raw: DataFrame, columns: dict[str, str], spec: InputFormat, stamps: Column
) -> DataFrame:
    from pyspark.sql import functions as F

    out: dict[str, Column] = {}
    for canonical, source in columns.items():
        if canonical in DEFAULTED_COLUMNS:
            default = DEFAULTED_COLUMNS[canonical]
            number = _number(raw, source)
            out[canonical] = number if default != default else F.coalesce(number, F.lit(default))
        elif canonical == "timestamp":
            out[canonical] = stamps
        else:
            float_id = canonical in spec.float_ids
            out[canonical] = _text(raw, source, float_id, canonical == "title")
    for canonical, default in DEFAULTED_COLUMNS.items():  # columns the file leaves out
        if canonical not in out:
            out[canonical] = F.lit(None if default != default else default).cast("double")
    return raw.select([out[c].alias(c) for c in ALL_COLUMNS if c in out])
