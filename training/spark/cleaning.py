"""The cleaning steps of :mod:`recsys.data.cleaning`, expressed in Spark SQL.

The steps themselves (names, order, predicates, settings) are defined once, in
``recsys.data.cleaning.CLEANING_STEPS``; this module only translates each predicate
operation. Each row gets the name of the first step that removes it, so every removed
row is counted once, as locally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recsys.data import CLEANING_STEPS, CleaningConfig, ImportReport
from recsys.errors import NothingKeptError
from training.spark.reader import read_events

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["SPARK", "SparkEvents", "clean_events", "load_events"]

SparkOp = Callable[["DataFrame", str, Any], "Column"]


def _hash_in(frame: DataFrame, column: str, gone: frozenset[str]) -> Column:
    from pyspark.sql import functions as F

    if not gone:
        return F.lit(False)
    return F.sha2(F.col(column), 256).isin(sorted(gone))


def _differs(frame: DataFrame, column: str, value: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(column).isNotNull() & (F.col(column) != F.lit(value))


def _duplicate(frame: DataFrame, _: str, __: Any) -> Column:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    same = Window.partitionBy(*frame.columns).orderBy(F.lit(0))
    return F.row_number().over(same) > 1


def _starts_with(frame: DataFrame, column: str, prefix: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(column).startswith(prefix)


def _not_positive(frame: DataFrame, column: str, _: Any) -> Column:
    from pyspark.sql import functions as F

    return F.col(column) <= 0  # NaN and null compare false / null: kept, as in pandas


def _full_match(frame: DataFrame, column: str, pattern: str) -> Column:
    from pyspark.sql import functions as F

    # (?iu): case-insensitive for every letter, as Python's re.IGNORECASE on str.
    return F.col(column).rlike(f"(?iu)^(?:{pattern})$")


#: Every predicate operation of ``recsys.data.cleaning.OPERATIONS``, for Spark.
SPARK: dict[str, SparkOp] = {
    "hash_in": _hash_in,
    "differs": _differs,
    "duplicate": _duplicate,
    "starts_with": _starts_with,
    "not_positive": _not_positive,
    "full_match": _full_match,
}


@dataclass(frozen=True)
class SparkEvents:
    """Clean canonical events as a (cached) Spark DataFrame, with the import report."""

    frame: DataFrame
    report: ImportReport


def _reason(frame: DataFrame, config: CleaningConfig) -> Column:
    """The first enabled step that removes the row, or null when it is kept."""
    from pyspark.sql import functions as F

    reason = None
    for step in CLEANING_STEPS:
        column = step.drops.column
        if not getattr(config, step.name) or (column and column not in frame.columns):
            continue
        hit = F.coalesce(
            SPARK[step.drops.op](frame, column, step.drops.argument(config)), F.lit(False)
        )
        reason = F.when(hit, F.lit(step.name)) if reason is None else reason.when(hit, step.name)
    return F.lit(None).cast("string") if reason is None else reason


def clean_events(
    frame: DataFrame, config: CleaningConfig | None = None
) -> tuple[DataFrame, dict[str, int], int]:
    """The kept rows (persisted), the count dropped per enabled step, the rows read."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    config = config or CleaningConfig()
    marked = frame.withColumn("__reason", _reason(frame, config))
    marked = marked.persist(StorageLevel.MEMORY_AND_DISK)
    counts = {r["__reason"]: r["count"] for r in marked.groupBy("__reason").count().collect()}
    dropped = {
        s.name: int(counts.get(s.name, 0)) for s in CLEANING_STEPS if getattr(config, s.name)
    }
    kept = marked.filter(F.col("__reason").isNull()).drop("__reason")
    return kept, dropped, int(sum(counts.values()))


def load_events(
    spark: SparkSession, path: str, fmt: str = "canonical", cleaning: CleaningConfig | None = None
) -> SparkEvents:
    """Read ``path`` with Spark and apply the cleaning steps (the same counts as
    :func:`recsys.data.load_events`); keeping no row is a :class:`NothingKeptError`."""
    kept, dropped, read = clean_events(read_events(spark, path, fmt), cleaning)
    report = ImportReport(path, fmt, read, read - sum(dropped.values()), dropped)
    if report.rows_kept == 0:
        raise NothingKeptError(report.nothing_kept(), file=path)
    return SparkEvents(kept, report)
