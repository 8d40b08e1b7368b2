"""Retention: the newest N bundles stay, and so does every bundle ``CURRENT`` or an alias
names, however old; nothing else under the directory is touched. Real MLflow registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from recsys.errors import RecsysError
from training.retention import bundles, protected, prune
from training.settings import TrainingSettings

#: Seven bundles, oldest first (their names sort the other way: created_at decides).
NAMES = ["g", "f", "e", "d", "c", "b", "a"]


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RECSYS_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "bundles"
    for day, name in enumerate(NAMES, start=1):
        (out / name / "models").mkdir(parents=True)
        (out / name / "models" / "weights.npy").write_bytes(b"x")
        manifest = {"version": name, "created_at": f"2024-01-0{day}T00:00:00+00:00"}
        (out / name / "manifest.json").write_text(json.dumps(manifest))
    (out / "half-written").mkdir()  # no manifest yet: another job is writing it
    (out / "events-archive").mkdir()
    (out / "events-archive" / "0-1.parquet").write_bytes(b"kept")
    return out


def _alias(alias: str, bundle: Path) -> None:
    """Register ``bundle`` as a version and point ``alias`` at it."""
    client = MlflowClient(TrainingSettings().tracking_uri())
    if not client.search_registered_models("name='recsys'"):
        client.create_registered_model("recsys")
    version = client.create_model_version("recsys", source=str(bundle))
    client.set_model_version_tag("recsys", version.version, "bundle_dir", str(bundle))
    client.set_registered_model_alias("recsys", alias, version.version)


def test_bundles_are_ordered_by_creation(out: Path) -> None:
    assert [p.name for p in bundles(out)] == NAMES


def test_keeps_the_newest_and_everything_pointed_at(out: Path) -> None:
    (out / "CURRENT").write_text("g")  # the oldest is served locally
    _alias("production", out / "f")
    _alias("previous", out / "e")
    spared = protected(out, TrainingSettings())
    assert spared == {"g", "f", "e"}
    removed = prune(out, 2, spared)
    assert sorted(p.name for p in removed) == ["c", "d"]
    assert sorted(p.name for p in out.iterdir()) == [
        "CURRENT",
        "a",
        "b",
        "e",
        "events-archive",
        "f",
        "g",
        "half-written",
    ]
    assert (out / "events-archive" / "0-1.parquet").read_bytes() == b"kept"


def test_an_alias_elsewhere_protects_the_bundle_of_that_name(out: Path, tmp_path: Path) -> None:
    # Serving looks a tagged bundle up by name under its own bundle path too.
    _alias("production", tmp_path / "another-machine" / "g")
    removed = prune(out, 1, protected(out, TrainingSettings()))
    assert sorted(p.name for p in removed) == ["b", "c", "d", "e", "f"]  # not g, not a


def test_keeping_more_than_there_are_removes_nothing(out: Path) -> None:
    assert prune(out, 10, set()) == []
    assert len(bundles(out)) == 7


def test_keep_below_one_is_refused(out: Path) -> None:
    with pytest.raises(RecsysError, match="at least 1"):
        prune(out, 0, set())
