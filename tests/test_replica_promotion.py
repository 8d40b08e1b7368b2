"""Replicas pick up a version promoted with ``recsys promote`` within their reload
interval: two real ``recsys serve`` processes on one Redis, one following the MLflow
alias, the other the local ``CURRENT`` pointer (``promote`` moves both).

The registry is a copy of the session's (its version 1 is the session bundle); version 2
is the same files under another version name. Nothing sleeps a fixed time: the test
polls ``/v1/model`` until both replicas serve the new version, up to a deadline far
above the interval (a stuck replica, not a slow one, fails it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.servers import ROOT, clean_environ, free_port, until
from training.cli import app

INTERVAL = 0.5
#: Seconds both replicas get to switch: a deadline for a stuck replica, not a target.
DEADLINE = 60


def _get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
        return json.loads(answer.read())


def _version(port: int) -> str | None:
    try:
        return str(_get(port, "/v1/model")["version"])
    except OSError:  # not listening yet, or still loading (503)
        return None


def _linked(original: Path, target: Path, version: str) -> Path:
    """A bundle sharing ``original``'s files (symbolic links) under another version."""
    target.mkdir(parents=True)
    for part in original.iterdir():
        if part.name != "manifest.json":
            (target / part.name).symlink_to(part)
    manifest = json.loads((original / "manifest.json").read_text())
    (target / "manifest.json").write_text(json.dumps({**manifest, "version": version}))
    return target


def _registry(bundles: Path, tmp: Path, newer: Path) -> str:
    """A copy of the session's registry, version 1 under the alias, ``newer`` registered
    as version 2 (with the ``bundle_dir`` tag ``recsys train`` sets)."""
    from mlflow import MlflowClient

    shutil.copy(bundles.parent / "mlflow.db", tmp / "mlflow.db")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    client = MlflowClient(uri)
    client.set_registered_model_alias("recsys", "production", "1")
    version = client.create_model_version("recsys", source=str(newer), run_id=None)
    assert version.version in (2, "2")
    client.set_model_version_tag("recsys", "2", "bundle_dir", str(newer.resolve()))
    return uri


def _serve(port: int, home: Path, redis_url: str, run: Path, **extra: str) -> Any:
    """``recsys serve`` on ``port`` (returns at once; the caller polls)."""
    run.mkdir()
    env = {**clean_environ(), "RECSYS_BUNDLE_PATH": str(home), "RECSYS_REDIS_URL": redis_url}
    env["RECSYS_RELOAD_INTERVAL_SECONDS"] = str(INTERVAL)
    for name in ("events", "catalogue", "tombstones", "impressions", "outcomes", "audit"):
        env[f"RECSYS_{name.upper()}_PATH"] = str(run / f"{name}.jsonl")
    env["RECSYS_ACCESS_PATH"], env["RECSYS_SESSION_SECRET_PATH"] = str(run / "a"), str(run / "k")
    env.update({f"RECSYS_{k.upper()}": v for k, v in extra.items()})
    command = [sys.executable, "-c", "from training.cli import app; app()", "serve"]
    command += ["--port", str(port)]
    return subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.DEVNULL)


@pytest.fixture
def world(bundles: Path, tmp_path: Path) -> tuple[Path, str, str, str]:
    """(bundles folder, registry URI, served version, promoted version): ``CURRENT``
    names ``a`` (the session bundle's files), ``b`` is the same under ``v-promoted``."""
    original = next(p for p in bundles.iterdir() if p.is_dir())
    home = tmp_path / "bundles"
    _linked(original, home / "a", json.loads((original / "manifest.json").read_text())["version"])
    newer = _linked(original, home / "b", "v-promoted")
    (home / "CURRENT").write_text("a")
    uri = _registry(bundles, tmp_path, newer)
    old = json.loads((home / "a" / "manifest.json").read_text())["version"]
    return home, uri, old, "v-promoted"


@pytest.fixture
def replicas(
    world: tuple[Path, str, str, str], redis_url: str, tmp_path: Path
) -> Iterator[tuple[int, int]]:
    """Two replicas: one asks the registry (the alias), one reads ``CURRENT``."""
    home, uri = world[0], world[1]
    ports = free_port(), free_port()
    alias = _serve(ports[0], home, redis_url, tmp_path / "r1", mlflow_tracking_uri=uri)
    local = _serve(ports[1], home, redis_url, tmp_path / "r2")
    try:
        yield ports
    finally:
        for process in (alias, local):
            process.terminate()
            process.wait(timeout=30)


def test_both_replicas_serve_a_promoted_version_within_their_interval(
    world: tuple[Path, str, str, str],
    replicas: tuple[int, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, uri, old, new = world
    for port in replicas:
        until(lambda p=port: _version(p) == old, DEADLINE, f"replica on {port} serves {old}")
    sources = [_get(port, "/readyz")["model_source"] for port in replicas]
    assert sources == ["MLflow recsys@production", "local bundle pointer"]
    monkeypatch.setenv("RECSYS_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("RECSYS_AUDIT_PATH", str(tmp_path / "audit.jsonl"))
    promoted = CliRunner().invoke(app, ["promote", "2"])
    assert promoted.exit_code == 0, promoted.output
    for port in replicas:
        until(lambda p=port: _version(p) == new, DEADLINE, f"replica on {port} serves {new}")
    answers = [_get(port, "/v1/clients/anyone/recommendations?k=3") for port in replicas]
    assert [a["model_version"] for a in answers] == [new, new]
    # Each switched by its own path: the alias for one, CURRENT for the other.
    assert [_get(port, "/readyz")["model_source"] for port in replicas] == sources
