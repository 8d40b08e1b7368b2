"""Recommender models behind one contract (:class:`Scorer`), and their registry."""

from recsys.models._base import (
    ModelConfig,
    Recommendations,
    Scorer,
    top_candidates,
    top_k,
    top_of_row,
)
from recsys.models.ease import EASEConfig, EASEScorer
from recsys.models.factorization import ALSConfig, ALSScorer, BPRConfig, BPRScorer
from recsys.models.forward import ForwardConfig, ForwardScorer
from recsys.models.itemknn import ItemKNNConfig, ItemKNNScorer
from recsys.models.popular import PopularConfig, PopularScorer
from recsys.models.ppop import PPopConfig, PPopScorer
from recsys.models.rp3beta import RP3betaConfig, RP3betaScorer
from recsys.models.tifuknn import TIFUKNNConfig, TIFUKNNScorer

#: Model name → scorer class; the names the CLI and bundles use.
MODELS: dict[str, type[Scorer]] = {
    cls.name: cls
    for cls in (
        PopularScorer,
        ALSScorer,
        BPRScorer,
        ItemKNNScorer,
        EASEScorer,
        RP3betaScorer,
        ForwardScorer,
        PPopScorer,
        TIFUKNNScorer,
    )
}


def default_models() -> dict[str, Scorer]:
    """The model line-up that train and evaluate use unless told otherwise.

    Defaults were tuned on Online Retail II (docs/explanation/evaluation.md, "Tuning").
    """
    return {
        "popular": PopularScorer(),
        "popular_country": PopularScorer(PopularConfig(by="group")),
        "als": ALSScorer(),
        "bpr": BPRScorer(),
        "itemknn": ItemKNNScorer(),
        "ease": EASEScorer(),
        "rp3beta": RP3betaScorer(),
        "forward": ForwardScorer(),
        # The next-basket baselines (issue 24): ~1 s together on Online Retail II.
        "ppop": PPopScorer(),
        "tifuknn": TIFUKNNScorer(),
    }


__all__ = [
    "MODELS",
    "ALSConfig",
    "ALSScorer",
    "BPRConfig",
    "BPRScorer",
    "EASEConfig",
    "EASEScorer",
    "ForwardConfig",
    "ForwardScorer",
    "ItemKNNConfig",
    "ItemKNNScorer",
    "ModelConfig",
    "PPopConfig",
    "PPopScorer",
    "PopularConfig",
    "PopularScorer",
    "RP3betaConfig",
    "RP3betaScorer",
    "Recommendations",
    "Scorer",
    "TIFUKNNConfig",
    "TIFUKNNScorer",
    "default_models",
    "top_candidates",
    "top_k",
    "top_of_row",
]
