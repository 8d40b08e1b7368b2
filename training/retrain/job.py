"""``recsys retrain``, step by step: read, backtest, train, register, then promote or not.

Nothing production reads changes before the ``promote`` step: the candidate is a new
directory and a new registry version, and ``CURRENT`` and the alias move only there.
The stream's entries are archived and trimmed only after it, and retention runs last;
so a failure at any step leaves production serving and every event somewhere. Each
step calls ``on_step`` with its name first (:data:`STEPS`): the crash tests raise there.

A candidate the gate passed is written beside the served bundles (``OUT/<version>``),
registered tagged ``retrain.decision=pending``, and tagged ``promoted`` (its
``retrain.json`` too) only once the alias and ``CURRENT`` moved; one rejected or
from a dry run goes under ``OUT/candidates/`` (:data:`training.retention.CANDIDATES`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from recsys.bundle import Bundle
from recsys.data import CleaningConfig
from training import jobs
from training.diff import diff_bundles
from training.retention import candidates_dir, protected, prune, prune_candidates
from training.retrain import publish
from training.retrain.backtest import Backtest, Scored, backtest
from training.retrain.checks import data_checks, facts
from training.retrain.gate import Check, GateConfig, backtest_checks, failures, gate_config
from training.retrain.production import (
    SIDECAR,
    Configuration,
    Production,
    configuration,
    describe,
    find_production,
)
from training.retrain.sources import Sources, keep_batch, read_sources, trim_batch
from training.settings import TrainingSettings

__all__ = ["PENDING", "STEPS", "Outcome", "Request", "retrain"]

STEPS = ("read", "backtest", "train", "register", "promote", "archive", "trim", "retention")
Hook = Callable[[str], None]
#: The decision recorded for a candidate the gate passed until its promotion is done.
PENDING = "pending"


def _quiet(step: str) -> None:
    """The default hook: nothing."""


@dataclass(frozen=True)
class Request:
    """What the command was asked."""

    events: Path
    fmt: str
    out: Path
    extra: list[str] = field(default_factory=list)
    holdout_days: int = 14
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    cleaning: CleaningConfig = field(default_factory=CleaningConfig)
    dry_run: bool = False
    force: bool = False
    keep: int = 5
    trim: bool = True
    archive: Path | None = None
    stream: str | None = None
    as_of: datetime | None = None
    """The run's time: the newest 7 days of the daily-rate check end there (default:
    now, UTC; a naive time is UTC)."""

    @property
    def archive_dir(self) -> Path:
        """Where exported stream events are kept once trimmed."""
        return self.archive or self.out / "events-archive"

    def moment(self) -> pd.Timestamp:
        """``as_of`` (else now) in UTC, naive like the events' timestamps."""
        stamp = pd.Timestamp(self.as_of or datetime.now(UTC))
        return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


@dataclass
class Outcome:
    """What happened; :meth:`as_json` is the command's ``--json`` answer."""

    decision: str
    reasons: list[str]
    checks: list[Check]
    backtest: Backtest
    production: Production | None
    rows_kept: int
    forced_by: str | None
    decided_at: str = ""
    """When the gate decided (ISO 8601, UTC)."""
    version: str = ""
    bundle: Path | None = None
    run_id: str = ""
    diff: dict[str, Any] | None = None
    removed: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The issue's shape: decision, reasons, both sides, the paired difference."""
        test, served = self.backtest, self.production
        found: dict[str, Any] = {
            "decision": self.decision,
            "reasons": self.reasons,
            "candidate": _side(self.version, test.candidate, self.rows_kept),
            "production": None,
            "paired_difference": None,
        }
        if served is not None and test.production is not None:
            found["production"] = _side(
                served.label, test.production, served.count("data.rows_kept")
            )
            found["paired_difference"] = {"ndcg@10": test.difference, "ci95": list(test.interval)}
        return found


def _side(version: str, scored: Scored, rows: float | None) -> dict[str, Any]:
    kept = None if rows is None else int(rows)
    figures = {"ndcg@10": scored.ndcg, "coverage@10": scored.coverage}
    return {"version": version, **figures, "rows_kept": kept}


def retrain(request: Request, settings: TrainingSettings, on_step: Hook = _quiet) -> Outcome:
    """Run every step; the outcome says what was decided and done."""
    request.out.mkdir(parents=True, exist_ok=True)
    production = find_production(settings, request.out)
    models = {k: v for k, v in request.overrides.items() if k not in ("gate", "cleaning")}
    candidate, served = configuration(production, models)
    gate = gate_config(request.overrides)
    with tempfile.TemporaryDirectory(prefix=".retrain-", dir=request.out) as work:
        on_step("read")
        sources = read_sources(
            request.events,
            request.fmt,
            request.extra,
            request.cleaning,
            Path(work),
            request.archive_dir,
            request.stream,
        )
        on_step("backtest")
        tested = backtest(sources.combined.events, candidate, served, request.holdout_days)
        outcome = _decide(request, sources, tested, production, gate)
        on_step("train")
        bundle = _train(request, sources, candidate, outcome, gate)
        on_step("register")
        _register(request, bundle, candidate, outcome, gate, settings)
        _finish(request, sources, outcome, settings, on_step)
    return outcome


def _decide(
    request: Request,
    sources: Sources,
    tested: Backtest,
    production: Production | None,
    gate: GateConfig,
) -> Outcome:
    """The checks and the decision they lead to (``--dry-run`` and ``--force`` applied)."""
    checks = [
        *data_checks(sources, production, gate, request.moment()),
        *backtest_checks(tested, gate),
    ]
    reasons = failures(checks)
    decision = "rejected" if reasons and not request.force else "promoted"
    decision = "dry-run" if request.dry_run else decision
    forced_by = publish.os_user() if request.force and not request.dry_run else None
    kept = sources.combined.report.rows_kept
    decided_at = datetime.now(UTC).isoformat(timespec="seconds")
    return Outcome(decision, reasons, checks, tested, production, kept, forced_by, decided_at)


def _train(
    request: Request, sources: Sources, config: Configuration, outcome: Outcome, gate: GateConfig
) -> Bundle:
    """Fit the candidate on every event; write it with its record: beside production
    when the gate passed it, under ``OUT/candidates/`` when not (rejected, dry run)."""
    bundle = jobs.train(sources.combined, config.models, config.matrix, config.rules)
    bundle.events_position = sources.position
    bundle.metrics.update({**facts(sources), **_figures(outcome.backtest)})
    if outcome.production is not None:
        outcome.diff = diff_bundles(Bundle.load(outcome.production.directory), bundle)
    home = request.out if outcome.decision == "promoted" else candidates_dir(request.out)
    directory = home / bundle.version
    directory.mkdir(parents=True, exist_ok=True)
    # Beside the manifest, written first: the next retrain reads the rule thresholds.
    record = {"rules": config.rules.model_dump(mode="json"), **_documents(sources, outcome, gate)}
    _write_json(directory / SIDECAR, record)
    outcome.bundle = bundle.save(directory)
    return bundle


def _write_json(path: Path, document: dict[str, Any]) -> None:
    """``document`` into ``path`` whole or not at all (a reader never sees half)."""
    staged = path.with_name(f".{path.name}.partial")
    staged.write_text(json.dumps(document, indent=2, default=str))
    os.replace(staged, path)


def _figures(tested: Backtest) -> dict[str, float]:
    """The candidate's backtest, in its manifest (``/v1/model`` shows it)."""
    return {
        "backtest.ndcg_at_10": tested.candidate.ndcg,
        "backtest.coverage_at_10": tested.candidate.coverage,
        "backtest.clients": float(tested.clients),
    }


def _documents(sources: Sources, outcome: Outcome, gate: GateConfig) -> dict[str, Any]:
    """The gate's record (thresholds, every check; its decision ``pending`` until the
    promotion is done), each input's cleaning report, the production compared with,
    the backtest of both, the diff from production, and when the gate decided."""
    checks = [{"name": c.name, "status": c.status, "detail": c.detail} for c in outcome.checks]
    reports = {p.name: p.loaded.report.as_dict() for p in sources.parts}
    decision = PENDING if outcome.decision == "promoted" else outcome.decision
    gate_record = {"decision": decision, "reasons": outcome.reasons, "checks": checks}
    production = outcome.production
    return {
        "gate": {**gate_record, "config": gate.model_dump()},
        "inputs": reports,
        "production": None if production is None else production.label,
        "backtest": _backtest_metrics(outcome.backtest),
        "diff": outcome.diff,
        "decided_at": outcome.decided_at,
    }


def _register(
    request: Request,
    bundle: Bundle,
    config: Configuration,
    outcome: Outcome,
    gate: GateConfig,
    settings: TrainingSettings,
) -> None:
    """Register the candidate with its figures and the diff from production; tag it
    with the gate's decision (``pending`` for one to promote: not promoted yet)."""
    assert outcome.bundle is not None
    params = {**describe(config), "retrain": _params(request, outcome), "gate": gate.model_dump()}
    documents = {"gate": json.loads((outcome.bundle / SIDECAR).read_text())["gate"]}
    if outcome.diff is not None:
        documents["diff"] = outcome.diff
    metrics = {"backtest": _backtest_metrics(outcome.backtest), "diff": _diff_metrics(outcome)}
    version, run = publish.register(outcome.bundle, bundle, params, metrics, documents, settings)
    outcome.version, outcome.run_id = version, run
    decision = PENDING if outcome.decision == "promoted" else outcome.decision
    publish.judge(version, decision, outcome.reasons, outcome.forced_by, settings)


def _params(request: Request, outcome: Outcome) -> dict[str, Any]:
    production = outcome.production
    return {
        "holdout_days": request.holdout_days,
        "production": None if production is None else production.label,
        "extra_events": ",".join(request.extra),
        "cutoff": outcome.backtest.cutoff,
    }


def _backtest_metrics(tested: Backtest) -> dict[str, Any]:
    found: dict[str, Any] = {
        "candidate": {"ndcg@10": tested.candidate.ndcg, "coverage@10": tested.candidate.coverage}
    }
    if tested.production is not None:
        found["production"] = {
            "ndcg@10": tested.production.ndcg,
            "coverage@10": tested.production.coverage,
        }
        found["difference"] = {"ndcg@10": tested.difference, "ci95": list(tested.interval)}
    return found


def _diff_metrics(outcome: Outcome) -> dict[str, float]:
    diff = outcome.diff
    if diff is None:
        return {}
    flat: dict[str, float] = {
        f"{part}_{k}": float(v)
        for part in ("clients", "items", "rules")
        for k, v in diff[part].items()
        if isinstance(v, int)
    }
    flat["lists_changed_share"] = diff["lists_changed_share"]
    flat["rank_biased_overlap"] = diff["rank_biased_overlap"]
    return flat


def _finish(
    request: Request,
    sources: Sources,
    outcome: Outcome,
    settings: TrainingSettings,
    on_step: Hook,
) -> None:
    """Promote (then archive and trim what was read from the stream); retention."""
    if outcome.decision == "promoted":
        on_step("promote")
        detail = {"version": outcome.version, "via": "retrain", "reasons": outcome.reasons}
        if outcome.forced_by is not None:
            detail["forced_by"] = outcome.forced_by
        warning = publish.promote(outcome.version, settings, detail)
        outcome.warnings += [warning] if warning else []
        try:  # served already: a record that cannot be written must not stop the rest
            _promoted(outcome, settings)
        except Exception as error:  # MLflow's and the disk's errors are many kinds
            outcome.warnings.append(f"promoted, but its record still says pending: {error}")
        if sources.batch is not None and request.trim:
            on_step("archive")
            keep_batch(sources.batch)
            on_step("trim")
            trim_batch(sources.batch)
    if not request.dry_run:
        on_step("retention")
        spared = protected(request.out, settings)
        outcome.removed = prune(request.out, request.keep, spared)
        outcome.removed += prune_candidates(request.out, request.keep, spared)


def _promoted(outcome: Outcome, settings: TrainingSettings) -> None:
    """The alias and ``CURRENT`` moved: now the record says ``promoted`` (the bundle's
    ``retrain.json``, the run's ``gate.json``, then the version's tag)."""
    assert outcome.bundle is not None
    sidecar = outcome.bundle / SIDECAR
    record = json.loads(sidecar.read_text())
    record["gate"]["decision"] = outcome.decision
    record["promoted_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    _write_json(sidecar, record)
    publish.log_document(outcome.run_id, "gate", record["gate"], settings)
    publish.judge(outcome.version, outcome.decision, outcome.reasons, outcome.forced_by, settings)
