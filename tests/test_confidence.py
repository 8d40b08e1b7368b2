"""Bootstrap intervals and paired comparisons against answers known without them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from recsys.confidence import Bootstrap, BootstrapConfig
from training.cli import app


def test_a_constant_metric_has_a_zero_width_interval() -> None:
    assert Bootstrap(50).interval(np.full(50, 0.3)) == pytest.approx((0.3, 0.3))


def test_a_bernoulli_mean_matches_the_normal_approximation() -> None:
    """400 clients, a quarter of them hit: the mean's standard error is
    √(0.25 · 0.75 / 400) = 0.02165, so the 95 % interval is 0.25 ± 1.96 · 0.02165
    = [0.2076, 0.2924] (central limit theorem; the bootstrap agrees within 0.006)."""
    values = np.zeros(400)
    values[::4] = 1.0
    low, high = Bootstrap(400, BootstrapConfig(resamples=4000, seed=1)).interval(values)
    assert low == pytest.approx(0.2076, abs=0.006) and high == pytest.approx(0.2924, abs=0.006)


def test_paired_differences_by_hand() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(300)
    same = Bootstrap(300).difference(a, a)
    assert (same.mean, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    shifted = Bootstrap(300).difference(a + 0.1, a)  # every client exactly 0.1 better
    assert shifted.mean == pytest.approx(0.1) and shifted.low == pytest.approx(0.1)
    assert shifted.p_value == pytest.approx(1 / 1001)  # no resample as extreme under H0


def test_evaluate_reports_intervals_and_compares(
    sample_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECSYS_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    args = ["evaluate", "--events", str(sample_data), "--format", "online-retail"]
    args += ["--test-fraction", "0.25", "--models", "popular,ease", "--compare", "ease,popular"]
    report = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    for metrics in report["models"].values():
        low, high = metrics["ndcg@10_ci"]
        assert low < metrics["ndcg@10"] < high
    diff = report["compare"]["ndcg@10"]
    expected = report["models"]["ease"]["ndcg@10"] - report["models"]["popular"]["ndcg@10"]
    assert diff["difference"] == pytest.approx(expected)
    assert diff["ci"][0] > 0 and diff["p_value"] < 0.01  # EASE is clearly better here
    bad = CliRunner().invoke(app, [*args[:-2], "--compare", "ease,als"])
    assert bad.exit_code == 4 and "als not evaluated" in bad.output
