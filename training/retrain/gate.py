"""The quality gate: what a candidate must show before it replaces production.

The backtest part compares candidate and production on the same held-out period
(:mod:`training.retrain.backtest`); the data part looks at what the candidate was
trained on (:mod:`training.retrain.checks`). A check that cannot be made (no
production yet, a count production's bundle did not record) is skipped, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recsys.errors import ConfigError

if TYPE_CHECKING:
    from training.retrain.backtest import Backtest

__all__ = ["Check", "GateConfig", "backtest_checks", "failures", "gate_config"]


class GateConfig(BaseModel):
    """The gate's thresholds (``--set gate.FIELD=VALUE``)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    ndcg_tolerance: float = Field(default=0.005, ge=0)
    """The upper bound of the paired NDCG@10 difference's 95 % interval (candidate −
    production) must be at least minus this: worse beyond it is refused."""
    coverage_floor: float = Field(default=0.9, ge=0)
    """Candidate's coverage@10 must be at least this share of production's."""
    min_rows_ratio: float = Field(default=1.0, ge=0, le=1)
    """The rows before the deleted-clients step (rows kept plus the rows of clients
    deleted since) must be at least this share of production's: 1 (the history only
    grows); lower it for one run to rotate the history on purpose (``0.5`` accepts a
    history cut to half)."""
    min_daily_ratio: float = Field(default=0.5, ge=0)
    """The newest 7 days' events per day (the 7 days before ``--as-of``) must be at
    least this share of the median daily rate of the weeks before them."""
    weeks: int = Field(default=4, ge=1)
    """How many earlier 7-day windows that median is taken over."""
    heavy_step_share: float = Field(default=0.5, gt=0, le=1)
    """A cleaning step removing at least this share of one input's rows fails, and so
    does an input whose rows kept are at least this share duplicates of an earlier
    input's."""
    collapse_ratio: float = Field(default=0.8, gt=0, le=1)
    """Clients (items) must be at least this share of production's."""


def gate_config(overrides: dict[str, dict[str, Any]]) -> GateConfig:
    """The thresholds with ``gate.*`` overrides applied; a bad one is a ConfigError
    naming it (``--set gate.FIELD``)."""
    try:
        return GateConfig.model_validate(overrides.get("gate", {}))
    except ValidationError as error:
        wrong = "; ".join(
            f"gate.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"--set {wrong}") from None


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``passed`` is ``None`` when it could not be made."""

    name: str
    passed: bool | None
    detail: str

    @property
    def status(self) -> str:
        """``pass``, ``FAIL`` or ``skipped``."""
        return {True: "pass", False: "FAIL", None: "skipped"}[self.passed]


def failures(checks: list[Check]) -> list[str]:
    """The reasons to reject: one line per failed check."""
    return [f"{c.name}: {c.detail}" for c in checks if c.passed is False]


def backtest_checks(backtest: Backtest, config: GateConfig) -> list[Check]:
    """NDCG@10 not worse beyond the tolerance, coverage@10 above its floor."""
    if backtest.production is None:
        skipped = "no production version to compare with"
        return [Check("ndcg@10", None, skipped), Check("coverage@10", None, skipped)]
    low, high = backtest.interval
    ndcg = Check(
        "ndcg@10",
        high >= -config.ndcg_tolerance,
        f"paired difference {backtest.difference:+.4f}, 95 % interval [{low:+.4f}, "
        f"{high:+.4f}]; its upper bound must be ≥ {-config.ndcg_tolerance:+.4f}",
    )
    floor = config.coverage_floor * backtest.production.coverage
    coverage = Check(
        "coverage@10",
        backtest.candidate.coverage >= floor,
        f"{backtest.candidate.coverage:.4f} against a floor of {floor:.4f} "
        f"({config.coverage_floor:g} × production's {backtest.production.coverage:.4f})",
    )
    return [ndcg, coverage]
