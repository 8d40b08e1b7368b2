"""The offline jobs behind the CLI: evaluate models on a split, train a bundle."""

from __future__ import annotations

from typing import Any

import pandas as pd

from recsys.bundle import Bundle, data_fingerprint, item_titles
from recsys.data import LoadedEvents
from recsys.errors import ConfigError
from recsys.evaluation import client_groups, evaluate_model, make_task
from recsys.matrix import MatrixConfig, build_matrix
from recsys.models import Scorer, default_models
from recsys.split import Split, split_by_fraction_of_time, split_by_time, split_random_per_client

__all__ = ["choose_models", "evaluate", "make_split", "parse_overrides", "train"]


def parse_overrides(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """``["als.factors=32", "matrix.weighting=log1p"]`` → nested dicts by section."""
    tree: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or not field:
            raise ConfigError(f"--set {pair!r}: expected SECTION.FIELD=VALUE, e.g. als.factors=32")
        tree.setdefault(section, {})[field] = value
    return tree


def choose_models(
    names: list[str] | None, overrides: dict[str, dict[str, Any]]
) -> dict[str, Scorer]:
    """The default line-up, narrowed to ``names`` and with config overrides applied."""
    lineup = default_models()
    unknown = sorted(set(names or []) - set(lineup))
    unknown += sorted(set(overrides) - set(lineup) - {"matrix"})
    if unknown:
        raise ConfigError(f"models: unknown {', '.join(unknown)}; known: {', '.join(lineup)}")
    chosen = {n: m for n, m in lineup.items() if names is None or n in names}
    for name, fields in overrides.items():
        if name in chosen:
            model = chosen[name]
            config = model.config_class.model_validate({**model.config.model_dump(), **fields})
            chosen[name] = type(model)(config)
    return chosen


def matrix_config(overrides: dict[str, dict[str, Any]]) -> MatrixConfig:
    """The matrix config with ``matrix.*`` overrides applied."""
    return MatrixConfig.model_validate(overrides.get("matrix", {}))


def make_split(
    events: pd.DataFrame,
    kind: str,
    cutoff: str | None,
    test_fraction: float | None,
    seed: int,
) -> Split:
    """Split ``events`` as the CLI options say; contradictory options are refused."""
    if kind == "time" and cutoff is not None:
        return split_by_time(events, cutoff)
    if kind == "time" and test_fraction is not None:
        return split_by_fraction_of_time(events, test_fraction)
    if kind == "random":
        return split_random_per_client(events, test_fraction or 0.25, seed)
    raise ConfigError("split: use --split time with --cutoff or --test-fraction, or --split random")


def evaluate(
    split: Split, models: dict[str, Scorer], k: int, config: MatrixConfig, exclude_seen: bool
) -> dict[str, Any]:
    """Fit each model on the train part; metrics per model plus split and data facts."""
    task = make_task(split, config, exclude_seen)
    results = {name: evaluate_model(model, task, k) for name, model in models.items()}
    return {
        "models": results,
        "split": {
            **split.description,
            "train_rows": len(split.train),
            "test_rows": len(split.test),
        },
        "data": {
            "clients": len(task.train.clients),
            "items": len(task.train.items),
            "evaluated_clients": len(task.rows),
            "k": k,
            "exclude_seen": exclude_seen,
        },
    }


def train(loaded: LoadedEvents, models: dict[str, Scorer], config: MatrixConfig) -> Bundle:
    """Fit every model on all events and gather them into a bundle."""
    data = build_matrix(loaded.events, config)
    groups = client_groups(loaded.events, data.clients)
    for model in models.values():
        model.fit(data.matrix, groups)
    return Bundle(
        data=data,
        models=models,
        matrix_config=config,
        fingerprint=data_fingerprint(loaded.events),
        titles=item_titles(loaded.events, data.items),
    )


_COLUMNS = {
    "precision": "prec",
    "recall": "recall",
    "map": "map",
    "ndcg": "ndcg",
    "hit_rate": "hit",
    "coverage": "cov",
    "mean_popularity_rank": "poprank",
}


def as_table(report: dict[str, Any], k: int) -> str:
    """The evaluation report as an aligned text table, one row per model."""
    rows = [f"{'model':<16}" + "".join(f"{f'{c}@{k}':>12}" for c in _COLUMNS.values())]
    for name, metrics in report["models"].items():
        cells = [f"{metrics[f'{c}@{k}']:>12.4f}" for c in _COLUMNS]
        rows.append(f"{name:<16}" + "".join(cells))
    return "\n".join(rows)
