"""ALS fitted by Spark MLlib (``pyspark.ml.recommendation.ALS``, implicit preferences),
saved as the local ALS model: the service cannot tell which engine fitted it."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.models import ALSConfig, ALSScorer, Scorer

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkALSScorer", "on_spark"]


class SparkALSScorer(ALSScorer):
    """:class:`~recsys.models.ALSScorer` whose factors Spark fits.

    The same objective as implicit's (Hu, Koren, Volinsky 2008), with Spark's
    conventions mapped onto our config: Spark's confidence is 1 + α·r where implicit's
    is α·r, so Spark gets α − 1 on binary matrices; Spark scales the L2 penalty by each
    row's count of ratings (ALS-WR), so the same ``regularization`` is a stronger
    penalty there (docs/explanation/scale.md, compares the two).
    """

    engine: ClassVar[str] = "spark"

    def __init__(self, config: ALSConfig | None = None, spark: SparkSession | None = None):
        super().__init__(config)
        self.spark = spark

    def _solve(self, matrix: sp.csr_matrix) -> None:
        from pyspark.ml.recommendation import ALS

        assert self.spark is not None, "SparkALSScorer needs a session"
        c = self.config
        ratings = _ratings(self.spark, matrix)
        als = ALS(
            rank=c.factors,
            maxIter=c.iterations,
            regParam=c.regularization,
            alpha=max(c.alpha - 1.0, 0.0),
            implicitPrefs=True,
            seed=c.seed,
            userCol="row",
            itemCol="col",
            ratingCol="value",
            checkpointInterval=5,
            # Spark's default of 10 blocks per side is for clusters; a block per core
            # keeps a small local fit from paying 10 tasks per half-sweep.
            numUserBlocks=min(10, self.spark.sparkContext.defaultParallelism),
            numItemBlocks=min(10, self.spark.sparkContext.defaultParallelism),
        )
        model = als.fit(ratings)
        users = _factors(model.userFactors, matrix.shape[0], c.factors)
        items = _factors(model.itemFactors, matrix.shape[1], c.factors)
        ratings.unpersist()
        self._restore({"user_factors": users, "item_factors": items})


def _ratings(spark: SparkSession, matrix: sp.csr_matrix) -> DataFrame:
    coo = matrix.tocoo()
    frame = pd.DataFrame(
        {"row": coo.row.astype(np.int32), "col": coo.col.astype(np.int32), "value": coo.data}
    )
    return spark.createDataFrame(frame).cache()


def _factors(table: DataFrame, n: int, rank: int) -> np.ndarray:
    """Spark's (id, features) rows as an ``n × rank`` float32 array; rows Spark has no
    factors for (none in practice: every row and column has a rating) stay zero."""
    rows = table.toPandas()
    out = np.zeros((n, rank), dtype=np.float32)
    if len(rows):
        out[rows["id"].to_numpy()] = np.asarray(rows["features"].tolist(), dtype=np.float32)
    return out


def on_spark(models: dict[str, Scorer], spark: SparkSession) -> dict[str, Scorer]:
    """``models`` with ALS fitted by Spark; the others stay local (item-kNN, EASE,
    RP3beta, popularity: one machine fits them from the aggregated matrix)."""
    return {
        name: SparkALSScorer(model.config, spark) if isinstance(model, ALSScorer) else model
        for name, model in models.items()
    }
