"""Retention: the newest N bundles stay, and so does every bundle ``CURRENT`` or an alias
names, however old; nothing else under the directory is touched; the candidates under
``candidates/`` are kept apart, with their own N. Real MLflow registry (its empty store
made once for the module, copied for each test)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from recsys.errors import ConfigError, RecsysError
from training.retention import adopt, bundles, candidates_dir, protected, prune, prune_candidates
from training.settings import TrainingSettings


def enter(patch: pytest.MonkeyPatch, world: Path) -> None:
    """Work in ``world``: its MLflow store and audit log, relative paths from there."""
    patch.setenv("RECSYS_MLFLOW_TRACKING_URI", f"sqlite:///{world / 'mlflow.db'}")
    patch.setenv("RECSYS_AUDIT_PATH", str(world / "audit.jsonl"))
    patch.chdir(world)


def build_world(where: Path, make: Callable[[], None]) -> Path:
    """Run ``make`` inside ``where`` (see :func:`enter`), once for a whole module."""
    with pytest.MonkeyPatch.context() as patch:
        enter(patch, where)
        make()
    return where


def copy_world(source: Path, target: Path) -> Path:
    """A copy of ``source`` (bundles, MLflow store and artifacts, audit log) at
    ``target``: every path the MLflow store records (artifact locations, the bundle_dir
    tags) rewritten to the copy, so a test changes only its own."""
    shutil.copytree(source, target)
    store = target / "mlflow.db"
    if store.is_file():
        with sqlite3.connect(store) as db:
            tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                for column in db.execute(f"PRAGMA table_info('{table}')").fetchall():
                    if "CHAR" in column[2].upper() or "TEXT" in column[2].upper():
                        db.execute(
                            f'UPDATE "{table}" SET "{column[1]}" = '
                            f'replace("{column[1]}", ?, ?) WHERE "{column[1]}" LIKE ?',
                            (str(source), str(target), f"%{source}%"),
                        )
        db.close()
    return target


#: Seven bundles, oldest first (their names sort the other way: created_at decides).
NAMES = ["g", "f", "e", "d", "c", "b", "a"]


def _bundle(directory: Path, name: str, day: int) -> None:
    (directory / name / "models").mkdir(parents=True)
    (directory / name / "models" / "weights.npy").write_bytes(b"x")
    manifest = {"version": name, "created_at": f"2024-01-{day:02d}T00:00:00+00:00"}
    (directory / name / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow store, its tables made once."""
    where = tmp_path_factory.mktemp("store")
    return build_world(
        where, lambda: MlflowClient(TrainingSettings().tracking_uri()).search_experiments()
    )


@pytest.fixture
def out(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    world = copy_world(store, tmp_path / "world")
    enter(monkeypatch, world)
    out = world / "bundles"
    for day, name in enumerate(NAMES, start=1):
        _bundle(out, name, day)
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


def test_candidates_are_kept_apart_with_their_own_count(out: Path) -> None:
    # Four candidates, newer than every served bundle: none counts among the served.
    candidates = candidates_dir(out)
    for day, name in enumerate(["r1", "r2", "r3", "r4"], start=10):
        _bundle(candidates, name, day)
    assert [p.name for p in bundles(out)] == NAMES
    (out / "CURRENT").write_text("a")
    _alias("challenger", candidates / "r1")  # an alias protects a candidate too
    spared = protected(out, TrainingSettings())
    removed = prune(out, 2, spared)
    assert sorted(p.name for p in removed) == ["c", "d", "e", "f", "g"]  # a, b stay
    removed = prune_candidates(out, 2, spared)
    assert sorted(p.name for p in removed) == ["r2"]  # r3, r4 the newest; r1 aliased
    assert sorted(p.name for p in bundles(candidates)) == ["r1", "r3", "r4"]
    assert sorted(p.name for p in bundles(out)) == ["a", "b"]


def test_promoting_a_candidate_moves_it_beside_the_served_bundles(out: Path) -> None:
    candidates = candidates_dir(out)
    _bundle(candidates, "r1", 10)
    moved = adopt(candidates / "r1")
    assert moved == out / "r1" and (moved / "manifest.json").is_file()
    assert not (candidates / "r1").exists()
    # Asked again (a promotion that stopped before re-tagging): found where it went.
    assert adopt(candidates / "r1") == out / "r1"
    # A served bundle stays where it is; a name already taken is refused.
    assert adopt(out / "a") == out / "a"
    _bundle(candidates, "b", 11)
    with pytest.raises(ConfigError, match="exists already"):
        adopt(candidates / "b")


def test_a_bundle_directory_merely_called_candidates_is_not_moved(tmp_path: Path) -> None:
    # `recsys train --out candidates`: bundles, not retrain's candidates (no marker).
    _bundle(tmp_path / "candidates", "x", 1)
    assert adopt(tmp_path / "candidates" / "x") == tmp_path / "candidates" / "x"
    assert prune_candidates(tmp_path, 1, set()) == []
