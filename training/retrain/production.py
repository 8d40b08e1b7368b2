"""The version in production, and the configuration a candidate is trained with.

Production is the registered version under the serving alias (what ``recsys promote``
moves); without a registry answer, the bundle the local ``CURRENT`` pointer names
(what serving reads without MLflow). Its manifest holds the models' and the matrix's
configuration; the rule miner's thresholds are in ``retrain.json`` beside it when
``recsys retrain`` wrote it (bundles from ``recsys train`` fall back on the defaults).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys.errors import ConfigError, ModelError
from recsys.matrix import MatrixConfig
from recsys.models import MODELS, Scorer
from recsys.rules import RulesConfig
from training import jobs
from training.settings import TrainingSettings

__all__ = ["SIDECAR", "Configuration", "Production", "configuration", "find_production"]

#: What ``recsys retrain`` writes beside a bundle's manifest: rule thresholds, data counts.
SIDECAR = "retrain.json"


@dataclass(frozen=True)
class Production:
    """The served version: its registry number (``None`` when found by pointer only)."""

    version: str | None
    directory: Path
    manifest: dict[str, Any]
    sidecar: dict[str, Any]

    @property
    def label(self) -> str:
        """The registry version, else the bundle's name."""
        return self.version or self.directory.name

    def count(self, name: str) -> float | None:
        """A data count its training recorded (``data.rows_kept``…), ``None`` if not."""
        value = self.manifest.get("metrics", {}).get(name)
        return None if value is None else float(value)


@dataclass(frozen=True)
class Configuration:
    """What a bundle is trained with."""

    models: dict[str, Scorer]
    matrix: MatrixConfig
    rules: RulesConfig

    def same_as(self, other: Configuration) -> bool:
        """Equal settings everywhere (then one backtest stands for both)."""
        return describe(self) == describe(other)


def describe(config: Configuration) -> dict[str, Any]:
    """A JSON-ready copy (MLflow parameters, comparisons)."""
    return {
        "models": {n: m.config.model_dump(mode="json") for n, m in config.models.items()},
        "matrix": config.matrix.model_dump(mode="json"),
        "rules": config.rules.model_dump(mode="json"),
    }


def find_production(settings: TrainingSettings, out: Path) -> Production | None:
    """The aliased registry version, else ``out``/CURRENT's bundle, else ``None``."""
    found: tuple[str | None, Path] | None = _by_alias(settings)
    if found is None:
        pointer = out / "CURRENT"
        if not pointer.is_file():
            return None
        found = (None, out / pointer.read_text().strip())
    version, directory = found
    if not (directory / "manifest.json").is_file():
        raise ModelError(f"production version {version or '?'}: no bundle at {directory}")
    return Production(version, directory, _json(directory / "manifest.json"), _sidecar(directory))


def _by_alias(settings: TrainingSettings) -> tuple[str, Path] | None:
    """(version, bundle directory) under the serving alias; ``None`` when unset."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(settings.tracking_uri())
    try:
        found = client.get_model_version_by_alias(settings.registered_model, settings.serving_alias)
    except MlflowException:  # no such model or alias yet: the local pointer decides
        return None
    return str(found.version), Path(found.tags.get("bundle_dir", ""))


def _json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: not readable JSON ({error})") from None


def _sidecar(directory: Path) -> dict[str, Any]:
    path = directory / SIDECAR
    return _json(path) if path.is_file() else {}


def configuration(
    production: Production | None, overrides: dict[str, dict[str, Any]]
) -> tuple[Configuration, Configuration | None]:
    """(candidate, production) configurations: production's as its bundle records it,
    the candidate's the same with ``overrides`` (``--set``) applied; with no
    production, the candidate gets ``recsys train``'s defaults."""
    if production is None:
        models = jobs.serving_models(None, overrides)
        return Configuration(
            models, jobs.matrix_config(overrides), jobs.rules_config(overrides)
        ), None
    served = Configuration(
        {n: _model(production, n, {}) for n in production.manifest.get("models", {})},
        MatrixConfig.model_validate(production.manifest["matrix"]),
        _rules(production.sidecar, {}),
    )
    _refuse_unknown(overrides, served)
    candidate = Configuration(
        {n: _model(production, n, overrides.get(n, {})) for n in served.models},
        MatrixConfig.model_validate({**served.matrix.model_dump(), **overrides.get("matrix", {})}),
        _rules(production.sidecar, overrides.get("rules", {})),
    )
    return candidate, served


def _refuse_unknown(overrides: dict[str, dict[str, Any]], served: Configuration) -> None:
    """A ``--set`` section production has no place for is an error, not ignored."""
    unknown = sorted(set(overrides) - set(served.models) - {"matrix", "rules", "cleaning"})
    if unknown:
        known = ", ".join([*served.models, "matrix", "rules", "cleaning", "gate"])
        raise ConfigError(f"--set: production has no {', '.join(unknown)}; sections: {known}")


def _model(production: Production, name: str, fields: dict[str, Any]) -> Scorer:
    """Model ``name`` with production's settings (kind from its saved config.json); with
    ``fields``, only the settings production chose explicitly are kept under them (a
    derived one, EASE's weighting, then follows the new fields)."""
    where = production.directory / "models" / name / "config.json"
    kind = str(_json(where).get("model", name))
    if kind not in MODELS:
        raise ModelError(f"{where}: unknown model kind {kind!r}")
    cls, recorded = MODELS[kind], production.manifest["models"][name]
    if not fields:
        return cls(cls.config_class.model_validate(recorded))
    defaults = cls.config_class().model_dump(mode="json")
    chosen = {k: v for k, v in recorded.items() if defaults.get(k) != v}
    return cls(cls.config_class.model_validate({**chosen, **fields}))


def _rules(sidecar: dict[str, Any], fields: dict[str, Any]) -> RulesConfig:
    """The recorded rule thresholds (else the recommendation defaults) with ``fields``."""
    recorded = sidecar.get("rules") or jobs.RECOMMENDATION_RULES.model_dump()
    return RulesConfig.model_validate({**recorded, **fields})
