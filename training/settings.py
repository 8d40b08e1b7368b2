"""Settings of the offline jobs, read from ``RECSYS_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class TrainingSettings(BaseSettings):
    """Where runs are tracked and how bundles are registered."""

    model_config = SettingsConfigDict(
        env_prefix="RECSYS_", use_attribute_docstrings=True, extra="ignore"
    )

    mlflow_tracking_uri: str | None = None
    """MLflow tracking URI; falls back to ``MLFLOW_TRACKING_URI``, then ``sqlite:///mlflow.db``."""
    mlflow_experiment: str = "recsys"
    """Experiment that train and evaluate runs go to."""
    registered_model: str = "recsys"
    """Registered model whose versions are bundles."""
    serving_alias: str = "production"
    """Alias that marks the version serving loads (set by ``recsys promote``)."""

    def tracking_uri(self) -> str:
        """The effective tracking URI."""
        explicit = self.mlflow_tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        return explicit or f"sqlite:///{Path.cwd() / 'mlflow.db'}"
