"""One ranked, explained list from CF, association rules, analyst rules and popularity."""

from recsys.ranking._memo import Memo
from recsys.ranking.blend import MAX_K, BlendConfig, Blended, blend, normalise
from recsys.ranking.explain import Reason
from recsys.ranking.recommender import HybridRecommender, RankedItem, RequestOptions

__all__ = [
    "MAX_K",
    "BlendConfig",
    "Blended",
    "HybridRecommender",
    "Memo",
    "RankedItem",
    "Reason",
    "RequestOptions",
    "blend",
    "normalise",
]
