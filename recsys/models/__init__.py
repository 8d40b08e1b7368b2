"""Recommender models behind one contract (:class:`Scorer`), and their registry."""

from recsys.models._base import ModelConfig, Recommendations, Scorer, top_k, top_of_row
from recsys.models.factorization import ALSConfig, ALSScorer, BPRConfig, BPRScorer
from recsys.models.itemknn import ItemKNNConfig, ItemKNNScorer
from recsys.models.popular import PopularConfig, PopularScorer

#: Model name → scorer class; the names the CLI and bundles use.
MODELS: dict[str, type[Scorer]] = {
    cls.name: cls for cls in (PopularScorer, ALSScorer, BPRScorer, ItemKNNScorer)
}


def default_models() -> dict[str, Scorer]:
    """The model line-up that train and evaluate use unless told otherwise.

    Defaults were tuned on Online Retail II (time split at 2010-09-09; see README).
    """
    return {
        "popular": PopularScorer(),
        "popular_country": PopularScorer(PopularConfig(by="group")),
        "als": ALSScorer(),
        "bpr": BPRScorer(),
        "itemknn": ItemKNNScorer(),
    }


__all__ = [
    "MODELS",
    "ALSConfig",
    "ALSScorer",
    "BPRConfig",
    "BPRScorer",
    "ItemKNNConfig",
    "ItemKNNScorer",
    "ModelConfig",
    "PopularConfig",
    "PopularScorer",
    "Recommendations",
    "Scorer",
    "default_models",
    "top_k",
    "top_of_row",
]
