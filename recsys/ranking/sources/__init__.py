"""Candidate sources of the blend: one class per source, one file each.

A new source implements :class:`Source` (batched candidates, one request's
candidates, reasons) and is added where :class:`recsys.ranking.HybridRecommender`
lists its sources.
"""

from recsys.ranking.sources._base import (
    NONE,
    Batch,
    Query,
    Shown,
    Source,
    day_of,
    sparse_top,
    top_of,
)
from recsys.ranking.sources.analyst import AnalystSource, offer_matrix
from recsys.ranking.sources.cf import CFSource
from recsys.ranking.sources.popular import PopularSource, segment_popularity
from recsys.ranking.sources.repeat import RepeatSource
from recsys.ranking.sources.rules import RulesSource

__all__ = [
    "NONE",
    "AnalystSource",
    "Batch",
    "CFSource",
    "PopularSource",
    "Query",
    "RepeatSource",
    "RulesSource",
    "Shown",
    "Source",
    "day_of",
    "offer_matrix",
    "segment_popularity",
    "sparse_top",
    "top_of",
]
