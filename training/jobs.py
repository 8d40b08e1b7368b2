"""The offline jobs behind the CLI: evaluate models on a split, train a bundle."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import scipy.sparse as sp

from recsys.bundle import Bundle, data_fingerprint, item_titles
from recsys.confidence import Bootstrap
from recsys.data import CLEANING_STEPS, CleaningConfig, LoadedEvents
from recsys.errors import ConfigError
from recsys.evaluation import client_groups, evaluate_model, make_task
from recsys.matrix import InteractionMatrix, MatrixConfig, build_matrix, model_matrix
from recsys.metrics import PerClient
from recsys.models import Scorer, default_models
from recsys.ranking import BlendConfig
from recsys.ranking.evaluate import RULES_ONLY, evaluate_blends, train_rule_index
from recsys.repeat import RepeatIndex
from recsys.rules import RuleIndex, RulesConfig, build_baskets, mine_rules
from recsys.split import Split, split_by_fraction_of_time, split_by_time, split_random_per_client
from recsys.vocab import IdMap

__all__ = [
    "choose_models",
    "cleaning_config",
    "evaluate",
    "make_split",
    "parse_overrides",
    "serving_models",
    "train",
]


def parse_overrides(
    pairs: list[str], allowed: frozenset[str] | None = None
) -> dict[str, dict[str, Any]]:
    """``["als.factors=32", "matrix.weighting=log1p"]`` → nested dicts by section;
    with ``allowed``, a section outside it is refused (a command without models)."""
    tree: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or not field:
            raise ConfigError(f"--set {pair!r}: expected SECTION.FIELD=VALUE, e.g. als.factors=32")
        if allowed is not None and section not in allowed:
            known = ", ".join(f"{a}.*" for a in sorted(allowed))
            raise ConfigError(f"--set {pair!r}: this command takes only {known}")
        tree.setdefault(section, {})[field] = value
    return tree


def cleaning_config(
    overrides: dict[str, dict[str, Any]], skip: list[str] | None = None
) -> CleaningConfig:
    """Cleaning steps with ``cleaning.*`` overrides applied and the ``skip`` steps off."""
    names = {step.name for step in CLEANING_STEPS}
    unknown = sorted(set(skip or []) - names)
    if unknown:
        known = ", ".join(step.name for step in CLEANING_STEPS)
        raise ConfigError(f"--skip-step: unknown step {', '.join(unknown)}; steps: {known}")
    off = dict.fromkeys(skip or [], False)
    return CleaningConfig.model_validate({**overrides.get("cleaning", {}), **off})


#: Rule mining defaults for recommendation (more, weaker rules than for reports).
RECOMMENDATION_RULES = RulesConfig(min_support=0.005, min_confidence=0.1, max_len=3)
#: Rows of ``evaluate`` that are blends rather than single models.
BLENDS = ("rules", "hybrid")
_SECTIONS = {"matrix", "rules", "blend", "cleaning"}


def choose_blends(
    names: list[str] | None, overrides: dict[str, dict[str, Any]]
) -> dict[str, BlendConfig]:
    """The blend rows to evaluate: ``rules`` alone and the ``hybrid`` of every source."""
    wanted = [b for b in BLENDS if names is None or b in names]
    weights = {k: float(v) for k, v in overrides.get("blend", {}).items()}
    hybrid = BlendConfig(weights={**BlendConfig().weights, **weights})
    configs = {"rules": BlendConfig(weights=RULES_ONLY), "hybrid": hybrid}
    return {name: configs[name] for name in wanted}


def rules_config(overrides: dict[str, dict[str, Any]]) -> RulesConfig:
    """The recommendation rule-mining config with ``rules.*`` overrides applied."""
    base = RECOMMENDATION_RULES.model_dump()
    return RulesConfig.model_validate({**base, **overrides.get("rules", {})})


def choose_models(
    names: list[str] | None, overrides: dict[str, dict[str, Any]]
) -> dict[str, Scorer]:
    """The default line-up, narrowed to ``names`` and with config overrides applied.

    A blend row needs its sources fitted, so asking for ``hybrid`` keeps them.
    """
    lineup = default_models()
    unknown = sorted(set(names or []) - set(lineup) - set(BLENDS))
    unknown += sorted(set(overrides) - set(lineup) - _SECTIONS)
    if names is not None and "hybrid" in names:  # the blend's sources are fitted too
        names = [*names, *(n for n in BlendConfig().weights if n in lineup)]
    if unknown:
        known = ", ".join([*lineup, *BLENDS])
        raise ConfigError(f"models: unknown {', '.join(unknown)}; known: {known}")
    chosen = {n: m for n, m in lineup.items() if names is None or n in names}
    for name, fields in overrides.items():
        if name in chosen:
            model = chosen[name]
            # The line-up's explicit settings, not its derived ones (EASE's weighting).
            explicit = model.config.model_dump(exclude_unset=True)
            config = model.config_class.model_validate({**explicit, **fields})
            chosen[name] = type(model)(config)
    return chosen


def serving_models(
    names: list[str] | None, overrides: dict[str, dict[str, Any]]
) -> dict[str, Scorer]:
    """What ``train`` fits: ``names``, or else what the default blend weighs plus
    popularity (BPR, which the blend does not use, took 464 of ~600 s on 20M events)."""
    if names is None:
        lineup = default_models()
        weighed = [n for n, w in BlendConfig().weights.items() if w > 0 and n in lineup]
        names = ["popular", *weighed]
    return choose_models(names, overrides)


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
    split: Split,
    models: dict[str, Scorer],
    k: int,
    config: MatrixConfig,
    exclude_seen: bool,
    blends: dict[str, BlendConfig] | None = None,
    rules_config: RulesConfig | None = None,
    compare: tuple[str, str] | None = None,
    known_items_only: bool = False,
) -> dict[str, Any]:
    """Fit each model on the train part; metrics per model (and blend) with 95 %
    bootstrap intervals over clients, the paired ``compare`` (A − B) if asked, and
    split facts (``known_items_only``: :func:`recsys.evaluation.make_task`)."""
    task = make_task(split, config, exclude_seen, known_items_only)
    repeats = RepeatIndex.fit(split.train, task.train.clients, task.train.items)
    values: dict[str, PerClient] = {name: {} for name in models}
    results = {
        n: evaluate_model(
            m, task, k, values[n], _own_matrix(m, split.train, config, task.train, repeats)
        )
        for n, m in models.items()
    }
    if blends:
        index = train_rule_index(split.train, task, rules_config or RulesConfig())
        results.update(evaluate_blends(task, models, index, blends, k, values, repeats))
    resamples: dict[int, Bootstrap] = {}
    for name, per_client in values.items():
        for metric, column in per_client.items():
            interval = resampled(resamples, len(column)).interval(column)
            results[name][f"{metric}_ci"] = list(interval)  # type: ignore[assignment]
    return {
        "models": results,
        **({"compare": compared(values, compare, resamples)} if compare else {}),
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
            "known_items_only": known_items_only,
        },
    }


def _own_matrix(
    model: Scorer,
    events: pd.DataFrame,
    config: MatrixConfig,
    data: InteractionMatrix,
    repeats: RepeatIndex,
) -> sp.csr_matrix:
    """The matrix ``model`` is fitted on: its own weighting (and settings) when it sets
    one (the day weightings from the events' re-purchase index, counted once)."""
    weighting, settings = model.config.weighting, model.config.matrix_settings()
    return model_matrix(events, config, data, weighting, repeats, settings)


def compare_pair(text: str | None) -> tuple[str, str] | None:
    """``"ease,als"`` → ``("ease", "als")``; anything else than two names is refused."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(names) != 2 or names[0] == names[1]:
        raise ConfigError(f"compare: {text!r}: expected two different models, e.g. ease,als")
    return names[0], names[1]


def resampled(resamples: dict[int, Bootstrap], n: int) -> Bootstrap:
    """The seeded resamples of ``n`` clients, drawn once per report: every model's
    metrics over the same clients (all, or one part: the repeat/explore metrics) share
    them, which keeps comparisons paired."""
    if n not in resamples:
        resamples[n] = Bootstrap(n)
    return resamples[n]


def compared(
    values: dict[str, PerClient], pair: tuple[str, str], resamples: dict[int, Bootstrap]
) -> dict[str, Any]:
    """Paired A − B on the same clients, per metric both have: difference, interval,
    p-value."""
    a, b = pair
    missing = [n for n in pair if n not in values]
    if missing:
        raise ConfigError(f"compare: {', '.join(missing)} not evaluated; add it to --models")
    out: dict[str, Any] = {"a": a, "b": b}
    for metric in (m for m in values[a] if m in values[b]):
        column = values[a][metric]
        d = resampled(resamples, len(column)).difference(column, values[b][metric])
        out[metric] = {"difference": d.mean, "ci": [d.low, d.high], "p_value": d.p_value}
    return out


def train(
    loaded: LoadedEvents,
    models: dict[str, Scorer],
    config: MatrixConfig,
    rules: RulesConfig | None = None,
) -> Bundle:
    """Fit every model and mine the rules on all events; gather them into a bundle.

    The item vocabulary is every item the events know, guests' purchases included: an
    item sold only to guests has no column of purchases, but its baskets give rules,
    its lines a title, and ``related`` must know it."""
    everything = IdMap.from_values(loaded.events["item_id"])
    data = build_matrix(loaded.events, config, items=everything)
    groups = client_groups(loaded.events, data.clients)
    repeats = RepeatIndex.fit(loaded.events, data.clients, data.items)
    timings = {}
    for name, model in models.items():
        started = time.perf_counter()
        model.fit(_own_matrix(model, loaded.events, config, data, repeats), groups)
        timings[f"fit_seconds.{name}"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    baskets = build_baskets(loaded.events, data.items)
    mined = mine_rules(baskets, rules or RECOMMENDATION_RULES)
    timings["fit_seconds.rules"] = round(time.perf_counter() - started, 3)
    return Bundle(
        data=data,
        models=models,
        matrix_config=config,
        fingerprint=data_fingerprint(loaded.events),
        titles=item_titles(loaded.events, data.items),
        categories=item_titles(loaded.events, data.items, "category"),
        rules=RuleIndex.from_rules(mined, len(data.items)),
        repeats=repeats,
        metrics=timings,
    )
