"""``--engine local|spark`` and ``--spark-master``: which engine reads, cleans and fits."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from recsys.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from recsys.data import CleaningConfig
    from training.spark import SparkEvents

SourceOption = Annotated[
    str,
    typer.Option(
        "--events",
        help="Events: .csv, .csv.gz or .parquet; with --engine spark also a folder of part "
        "files or any URI Spark reads (hdfs://…, s3a://…).",
    ),
]
EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        envvar="RECSYS_ENGINE",
        help="local (pandas, implicit, our miner) or spark (Spark SQL, MLlib ALS and "
        "FPGrowth; needs the spark extra and Java 17).",
    ),
]
SparkMasterOption = Annotated[
    str,
    typer.Option(
        "--spark-master",
        envvar="RECSYS_SPARK_MASTER",
        help="Spark master URL: local[*], local[2], spark://host:7077, yarn, k8s://…",
    ),
]
SparkProgressOption = Annotated[
    bool,
    typer.Option(
        "--spark-progress", envvar="RECSYS_SPARK_PROGRESS", help="Show Spark's progress bars."
    ),
]
ENGINES = ("local", "spark")


def spark(engine: str, master: str, progress: bool = False) -> SparkSession | None:
    """A Spark session for ``--engine spark``, ``None`` for ``local``; others refused."""
    if engine not in ENGINES:
        raise ConfigError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    if engine == "local":
        return None
    from training.spark import spark_session

    return spark_session(master, progress=progress)


def load_spark(session: SparkSession, source: str, fmt: str, config: CleaningConfig) -> SparkEvents:
    """:func:`training.spark.load_events`, printing the same warnings as the local load."""
    from training.spark import load_events

    loaded = load_events(session, source, fmt, config)
    for line in loaded.report.warnings():
        print(f"warning: {source}: {line}", file=sys.stderr)
    return loaded


def local_path(source: str) -> Path:
    """The local engine reads files only: a URI is refused with the way to read it."""
    if "://" in source:
        raise ConfigError(f"events: {source!r} is a URI; read it with --engine spark")
    return Path(source)
