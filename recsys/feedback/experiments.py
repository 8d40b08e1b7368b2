"""Online experiments: named, dated, arms by blend weights, deterministic assignment.

One client sees one arm: the arm is chosen by a hash of (experiment, client) into
10,000 buckets, cut by the arms' shares, so every replica assigns alike without
storing anything. At most one experiment runs at a time (overlapping periods are
refused when the file is read).
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from recsys._fields import JsonDate
from recsys.errors import ConfigError

__all__ = ["Arm", "Experiment", "Experiments", "bucket", "load_experiments"]

BUCKETS = 10_000


class Arm(BaseModel):
    """One arm: its share of clients and the blend it serves."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    """Shown in responses, impressions and reports."""
    share: float = Field(gt=0, le=100)
    """Percent of clients (the arms' shares add up to 100)."""
    blend: dict[str, float] | None = None
    """Blend weights of this arm (models off by weight 0); ``None``: the served default."""


class Experiment(BaseModel):
    """A named experiment with a control arm and a period."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    """The experiment's name (part of the assignment hash)."""
    control: str
    """The arm every other one is compared with."""
    start: JsonDate
    """First day (UTC) the experiment runs."""
    end: JsonDate | None = None
    """First day it no longer runs (open-ended when absent)."""
    arms: list[Arm] = Field(min_length=2)
    """At least two arms."""

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError("arms: names must be unique")
        if self.control not in names:
            raise ValueError(f"control: {self.control!r} is not one of the arms")
        if abs(sum(a.share for a in self.arms) - 100) > 1e-6:
            raise ValueError("arms: shares must add up to 100")
        if self.end is not None and self.end <= self.start:
            raise ValueError("end: must be after start")
        return self

    def running(self, day: date) -> bool:
        """Whether the experiment runs on ``day``."""
        return self.start <= day and (self.end is None or day < self.end)

    def arm_of(self, client_id: str) -> Arm:
        """The client's arm (deterministic: the same on every replica, every time)."""
        position, edge = bucket(self.name, client_id), 0.0
        for arm in self.arms:
            edge += arm.share * BUCKETS / 100
            if position < edge:
                return arm
        return self.arms[-1]


class Experiments(BaseModel):
    """The experiments file."""

    model_config = ConfigDict(extra="forbid")

    experiments: list[Experiment] = []

    @model_validator(mode="after")
    def _one_at_a_time(self) -> Experiments:
        dated = sorted(self.experiments, key=lambda e: e.start)
        for before, after in itertools.pairwise(dated):
            if before.end is None or after.start < before.end:
                raise ValueError(f"experiments: {before.name!r} and {after.name!r} overlap")
        return self

    def running(self, day: date) -> Experiment | None:
        """The experiment running on ``day``, if any."""
        return next((e for e in self.experiments if e.running(day)), None)

    def named(self, name: str) -> Experiment:
        """The experiment called ``name``."""
        for experiment in self.experiments:
            if experiment.name == name:
                return experiment
        raise ConfigError(f"experiment: no experiment named {name!r}")


def bucket(experiment: str, client_id: str) -> int:
    """The client's bucket in ``[0, 10000)`` for one experiment."""
    digest = hashlib.sha256(f"{experiment}\x1f{client_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def load_experiments(path: Path) -> Experiments:
    """Read and validate an experiments YAML file (errors name the field)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Experiments.model_validate(raw)
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read experiments ({error})") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
