"""Association rules with Spark MLlib's FPGrowth.

Spark counts the frequent itemsets of the baskets (orders); the rules and their
metrics are then derived from those counts by the local miner's own code
(:func:`recsys.rules.rules_from_itemsets`), on the driver: itemsets are few however
many events there are, and one derivation means one set of metric formulas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys.errors import ConfigError
from recsys.rules import Itemsets, RulesConfig, min_count, rules_from_itemsets
from recsys.vocab import IdMap

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["mine_rules"]


def mine_rules(
    events: DataFrame, config: RulesConfig, items: IdMap | None = None
) -> tuple[pd.DataFrame, IdMap, int]:
    """Rules of the orders in ``events`` (canonical, clean) as :func:`recsys.rules.mine_rules`
    returns them, in the column space of ``items`` (default: the items of frequent
    itemsets, sorted), and the number of baskets. Every order is a basket, anonymous
    ones included; items outside ``items`` are left out of the baskets, as locally."""
    baskets, count = _baskets(events, items)
    least = min_count(config.min_support, count)
    frequent = _frequent(baskets, least).cache()
    found = frequent.count()
    if found > config.max_itemsets:
        raise ConfigError(
            f"min_support: {config.min_support} leaves {found:,} frequent itemsets, more "
            f"than {config.max_itemsets:,}; raise min_support"
        )
    table = frequent.toPandas()
    frequent.unpersist()
    items = items if items is not None else _vocabulary(table)
    levels = _levels(table, items, config.max_len)
    return rules_from_itemsets(levels, count, config), items, count


def _baskets(events: DataFrame, items: IdMap | None) -> tuple[DataFrame, int]:
    """One row per order holding a kept item (its distinct items), and the number of
    orders (all of them: the denominator of support)."""
    from pyspark.sql import functions as F

    lines = events.filter(F.col("order_id").isNotNull()).select("order_id", "item_id")
    count = lines.select("order_id").distinct().count()
    if items is not None:
        known = events.sparkSession.createDataFrame(pd.DataFrame({"item_id": items.ids}))
        lines = lines.join(F.broadcast(known), "item_id", "left_semi")
    baskets = lines.groupBy("order_id").agg(F.array_sort(F.collect_set("item_id")).alias("items"))
    return baskets, count


def _frequent(baskets: DataFrame, least: int) -> DataFrame:
    """FPGrowth's itemsets in at least ``least`` baskets. Spark keeps those with
    ``freq ≥ ⌈minSupport × rows⌉``; asking for (least − ½) / rows makes that ⌈least − ½⌉
    = least whatever the float error of the product."""
    from pyspark.ml.fpm import FPGrowth

    rows = baskets.count()
    if rows == 0:
        return baskets.sparkSession.createDataFrame([], "items array<string>, freq long")
    support = min((least - 0.5) / rows, 1.0)
    # One FP-tree partition per core: each basket is copied to every partition that owns
    # one of its items, so Spark's default (the input's partitions) did 4× the work here.
    parts = baskets.sparkSession.sparkContext.defaultParallelism
    growth = FPGrowth(itemsCol="items", minSupport=max(support, 1e-12), numPartitions=parts)
    return growth.fit(baskets).freqItemsets


def _vocabulary(table: pd.DataFrame) -> IdMap:
    if table.empty:
        return IdMap(np.array([], dtype=str))
    return IdMap(np.unique(np.concatenate([np.asarray(x, dtype=str) for x in table["items"]])))


def _levels(table: pd.DataFrame, items: IdMap, max_len: int | None) -> list[Itemsets]:
    """Itemsets by size as the local miner orders them: columns ascending in each row,
    rows in lexicographic order."""
    if table.empty:
        return []
    sizes = table["items"].map(len).to_numpy()
    levels = []
    for size in range(1, int(sizes.max()) + 1):
        if max_len is not None and size > max_len:
            break
        chosen = table[sizes == size]
        if chosen.empty:
            break
        flat = np.concatenate(chosen["items"].to_numpy()).astype(str)
        columns = np.sort(items.index(flat).reshape(-1, size), axis=1)
        order = np.lexsort(columns.T[::-1])
        counts = chosen["freq"].to_numpy(dtype=np.int64)
        levels.append(Itemsets(columns[order], counts[order]))
    return levels
