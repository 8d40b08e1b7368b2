"""Client features (RFM, segments, rhythm) computed offline and served online.

Imports recsys only; never fastapi, serving or training.
"""

from feature_store.definitions import FEATURES, SEGMENT_RULES, Feature
from feature_store.offline import build_features, rfm_segment
from feature_store.online import OnlineStore

__all__ = ["FEATURES", "SEGMENT_RULES", "Feature", "OnlineStore", "build_features", "rfm_segment"]
