"""One Spark session per job, configured for recsys: quiet, UTC, sized to the master."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from recsys.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["spark_session"]

_LOG_CONFIG = Path(__file__).with_name("log4j2.properties")


def spark_session(master: str = "local[*]", progress: bool = False) -> SparkSession:
    """A session on ``master`` (``local[*]``, ``spark://…``, ``yarn``, ``k8s://…``).

    Log level WARN through our log4j2 file (Spark's start-up notices stay out of the
    CLI's output); progress bars only when ``progress``; session time zone UTC, as the
    local importer reads dates; few shuffle partitions on a local master.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "--engine spark needs the spark extra: pip install -e '.[spark]' (and Java 17)"
        ) from None
    if master.startswith("local"):  # no lookup of the host's address (a warning each start)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # -Xss: FPGrowth's tree recursion is as deep as the longest basket (hundreds of
    # items in Online Retail): the default 1 MB thread stack overflows.
    java_options = f"-Dlog4j2.configurationFile=file:{_LOG_CONFIG} -Xss64m"
    builder = (
        SparkSession.builder.master(master)
        .appName("recsys")
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.executor.extraJavaOptions", java_options)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", str(progress).lower())
        .config("spark.sql.session.timeZone", "UTC")
        # pandas writes nanosecond timestamps, which Spark cannot read as timestamps:
        # read them as longs, converted by the reader.
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", _partitions(master))
        .config("spark.driver.memory", os.environ.get("RECSYS_SPARK_DRIVER_MEMORY", "4g"))
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    session.sparkContext.setCheckpointDir(tempfile.mkdtemp(prefix="recsys-spark-"))
    return session


def _partitions(master: str) -> str:
    """Shuffle partitions: Spark's 200 suit a cluster, not two local cores."""
    if master.startswith("local"):
        return str(4 * (os.cpu_count() or 2))
    return "200"
