"""``inspect``, ``train`` and ``evaluate`` with Spark doing the per-event work.

Training aggregates in Spark what the bundle holds — one row per (client, item) pair,
per-item and per-client modes, per-pair distinct purchase days, baskets' frequent
itemsets, the ALS factors — and the driver assembles them with the local code into
the same bundle format. Evaluation brings the cleaned events to the driver and runs
the local split and metrics, with ALS fitted by Spark.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.data import LoadedEvents
from recsys.errors import ConfigError
from recsys.evaluation import groups_of
from recsys.matrix import DAYS, InteractionMatrix, MatrixConfig, weigh
from recsys.models import Scorer
from recsys.repeat import RepeatIndex
from recsys.rules import RuleIndex, RulesConfig
from recsys.vocab import IdMap
from training.spark.als import on_spark
from training.spark.cleaning import SparkEvents
from training.spark.rules import mine_rules

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["Lines", "index_lines", "line_counts", "summarize", "to_local", "train"]


def summarize(events: DataFrame) -> dict[str, Any]:
    """:func:`recsys.data.summarize`, counted by Spark."""
    from pyspark.sql import functions as F

    known = events.filter(F.col("client_id").isNotNull())
    pairs = known.select("client_id", "item_id").distinct()
    totals = events.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col("client_id").isNull().cast("long")).alias("anonymous"),
        F.countDistinct("item_id").alias("items"),
        F.countDistinct("order_id").alias("orders"),
        F.min("timestamp").alias("first"),
        F.max("timestamp").alias("last"),
    ).first()
    inner = pairs.agg(
        F.count(F.lit(1)).alias("cells"),
        F.countDistinct("client_id").alias("clients"),
        F.countDistinct("item_id").alias("items"),
    ).first()
    assert totals is not None and inner is not None
    clients, items, cells = inner["clients"], inner["items"], inner["cells"]
    return {
        "rows_without_client": int(totals["anonymous"] or 0),
        "clients": int(clients),
        "items": int(totals["items"]),
        "matrix_items": int(items),
        "orders": int(totals["orders"]),
        "date_min": None if totals["first"] is None else totals["first"].isoformat(),
        "date_max": None if totals["last"] is None else totals["last"].isoformat(),
        "density": float(cells / (clients * items)) if clients and items else 0.0,
        "interactions": int(cells),
        "mean_order_size": float(np.round(totals["rows"] / max(totals["orders"], 1), 3)),
    }


def to_local(loaded: SparkEvents) -> LoadedEvents:
    """The cleaned events on the driver as the local engine's table (categorical ids),
    for the jobs that need every event (evaluation's splits)."""
    frame = loaded.frame.toPandas()
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype) == "str":
            frame[column] = frame[column].astype("category")
    return LoadedEvents(frame, loaded.report)


def train(
    loaded: SparkEvents,
    models: dict[str, Scorer],
    config: MatrixConfig,
    rules: RulesConfig,
) -> Bundle:
    """Fit every model and mine the rules; the bundle :func:`training.jobs.train` writes."""
    _refuse_local_only(models, config)
    events = loaded.frame
    started = time.perf_counter()
    lines = index_lines(events)
    clients, items = lines.clients, lines.items
    counts = line_counts(lines, config)
    data = InteractionMatrix(weigh(counts, config), clients, items)
    timings = {"aggregate_seconds": round(time.perf_counter() - started, 3)}
    groups = _groups(events, clients)
    fitted = on_spark(models, events.sparkSession)
    repeats = _repeats(lines)
    for name, model in fitted.items():
        started = time.perf_counter()
        model.fit(_weighted(counts, config, data, model.config.weighting, repeats), groups)
        timings[f"fit_seconds.{name}"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    mined, _, _ = mine_rules(events, rules, items)
    timings["fit_seconds.rules"] = round(time.perf_counter() - started, 3)
    return Bundle(
        data=data,
        models=fitted,
        matrix_config=config,
        fingerprint=_fingerprint(events),
        titles=_labels(events, items, "title"),
        categories=_labels(events, items, "category"),
        rules=RuleIndex.from_rules(mined, len(items)),
        repeats=repeats,
        metrics=timings,
        engines={"import": "spark", "rules": "spark"},
    )


def _weighted(
    counts: sp.csr_matrix,
    shared: MatrixConfig,
    data: InteractionMatrix,
    weighting: str | None,
    repeats: RepeatIndex,
) -> sp.csr_matrix:
    """:func:`recsys.matrix.model_matrix` from the aggregated counts (the day
    weightings from the re-purchase days Spark counted)."""
    if weighting is None or weighting == shared.weighting:
        return data.matrix
    if weighting in DAYS:
        return repeats.day_matrix(weighting)
    return weigh(counts, shared.model_copy(update={"weighting": weighting}))


#: Weightings only the local engine builds: the TIFU vectors need every client's
#: baskets in time order (one row per client, item and day), which this path does not
#: bring to the driver (it aggregates per pair; ``purchase_days`` reads those counts).
LOCAL_ONLY = ("tifu",)


def _refuse_local_only(models: dict[str, Scorer], config: MatrixConfig) -> None:
    """Refuse, before any Spark work, a matrix this path cannot build."""
    if config.weighting in LOCAL_ONLY:
        raise ConfigError(
            f"matrix.weighting={config.weighting}: built by the local engine only "
            "(each client's baskets in time order); train without --engine spark"
        )
    refused = sorted(n for n, m in models.items() if m.config.weighting in LOCAL_ONLY)
    if refused:
        raise ConfigError(
            f"{', '.join(refused)}: fitted on the tifu weighting, which the local engine "
            "alone builds (each client's baskets in time order); train without --engine "
            "spark, or leave it out of --models"
        )


def _strength(events: DataFrame, config: MatrixConfig) -> Column:
    """What one line counts: 1, or its half-life decay from the newest line with a client."""
    from pyspark.sql import functions as F

    if config.half_life_days is None:
        return F.lit(1.0)
    newest = events.agg(F.max("timestamp")).first()
    assert newest is not None
    age = (F.lit(newest[0]).cast("double") - F.col("timestamp").cast("double")) / 86_400.0
    return F.pow(F.lit(0.5), F.greatest(age, F.lit(0.0)) / config.half_life_days)


@dataclass(frozen=True)
class Lines:
    """The purchase lines with a client, each with its integer ``row`` and ``col`` in
    the sorted id maps (:class:`IdMap` order, the local engine's): what reaches the
    driver from here is distinct ids and numbers, never a string per pair."""

    frame: DataFrame
    clients: IdMap
    items: IdMap

    @property
    def shape(self) -> tuple[int, int]:
        """(clients, items)."""
        return (len(self.clients), len(self.items))


def index_lines(events: DataFrame) -> Lines:
    """The lines with a client, indexed by the client and item vocabularies (the items
    of every line, guests' included, as :func:`training.jobs.train`)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    known = events.filter(F.col("client_id").isNotNull())
    clients, client_rows = _vocabulary(known, "client_id", "row")
    items, item_columns = _vocabulary(events, "item_id", "col")
    frame = known.join(client_rows, "client_id").join(item_columns, "item_id")
    return Lines(frame.persist(StorageLevel.MEMORY_AND_DISK), clients, items)


def line_counts(lines: Lines, config: MatrixConfig) -> sp.csr_matrix:
    """(Decayed) purchase lines per (client, item), summed by Spark, as CSR."""
    from pyspark.sql import functions as F

    strength = _strength(lines.frame, config)
    pairs = lines.frame.groupBy("row", "col").agg(F.sum(strength).alias("value")).toPandas()
    values = pairs["value"].to_numpy(np.float32)
    rows, cols = pairs["row"].to_numpy(), pairs["col"].to_numpy()
    return sp.csr_matrix((values, (rows, cols)), shape=lines.shape, dtype=np.float32)


def _vocabulary(events: DataFrame, column: str, index: str) -> tuple[IdMap, DataFrame]:
    """The sorted distinct ids of ``column`` and a (id, ``index``) table to join on."""
    ids = events.select(column).distinct().toPandas()[column]
    vocabulary = IdMap.from_values(ids)
    table = pd.DataFrame(
        {column: vocabulary.ids, index: np.arange(len(vocabulary), dtype=np.int32)}
    )
    return vocabulary, events.sparkSession.createDataFrame(table)


def _mode(events: DataFrame, key: str, column: str) -> pd.Series:
    """:func:`recsys.data.mode_by` in Spark: the most frequent value, ties the smallest."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if column not in events.columns:
        return pd.Series(dtype=str)
    known = events.filter(F.col(key).isNotNull() & F.col(column).isNotNull())
    counted = known.groupBy(key, column).count()
    rank = Window.partitionBy(key).orderBy(F.col("count").desc(), F.col(column).asc())
    top = counted.withColumn("rank", F.row_number().over(rank)).filter("rank = 1").toPandas()
    return pd.Series(top[column].astype(str).to_numpy(), index=top[key].astype(str).to_numpy())


def _labels(events: DataFrame, items: IdMap, column: str) -> np.ndarray:
    """:func:`recsys.bundle.item_titles` from Spark's modes."""
    return _mode(events, "item_id", column).reindex(items.ids).fillna("").to_numpy(dtype=str)


def _groups(events: DataFrame, clients: IdMap) -> np.ndarray | None:
    """:func:`recsys.evaluation.client_groups` from Spark's modes (countries)."""
    if "country" not in events.columns:
        return None
    return groups_of(_mode(events, "client_id", "country"), clients)


def _repeats(lines: Lines) -> RepeatIndex:
    """:meth:`RepeatIndex.fit` from per-pair distinct purchase days and units counted
    by Spark."""
    from pyspark.sql import functions as F

    day = F.datediff(F.to_date("timestamp"), F.lit("1970-01-01").cast("date")).alias("day")
    days = lines.frame.select("row", "col", day).distinct()
    # The lines' positive quantities (recsys.repeat.client_item_days).
    quantity = F.coalesce(F.nanvl(F.col("quantity").cast("double"), F.lit(1.0)), F.lit(1.0))
    units = F.sum(F.greatest(quantity, F.lit(0.0)))
    bought = lines.frame.groupBy("row", "col").agg(units.alias("units"))
    stats = (
        days.groupBy("row", "col")
        .agg(F.count("day").alias("count"), F.min("day").alias("min"), F.max("day").alias("max"))
        .join(bought, ["row", "col"])
        .toPandas()
    )
    as_of = float(stats["max"].max()) if len(stats) else 0.0  # the newest purchase day
    return RepeatIndex.from_day_counts(stats, lines.shape, as_of)


def _fingerprint(events: DataFrame) -> str:
    """A content hash of the events, independent of their order and partitioning (16 hex
    digits; the local engine's hash is order-sensitive, so the two differ)."""
    from pyspark.sql import functions as F

    row = events.agg(
        F.sum(F.xxhash64(*events.columns).cast("decimal(38,0)")).alias("h"),
        F.count(F.lit(1)).alias("n"),
    ).first()
    assert row is not None
    import hashlib

    return hashlib.sha256(f"{row['h']}:{row['n']}".encode()).hexdigest()[:16]
