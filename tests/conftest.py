"""Shared fixtures: the real data, a bundle trained on it, hand-made tables, and a
real redis-server.

Real data comes in two sizes: the bundled sample (106,849 real rows, shipped with
the repository, so every test that needs real data runs in a bare clone) and the
whole shared file, read only by checks of full-size published figures, which skip
without it (and fail in CI).
"""

from __future__ import annotations

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One pytest-xdist worker per core: each runs its BLAS, OpenMP (faiss, implicit) and
    # the servers it starts on one thread, set before numpy loads. Two threads per worker
    # on a core each oversubscribe the machine: faiss's k-means spun 4× slower.
    for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_threads, "1")

import fcntl
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from recsys.bundle import Bundle
from serving.settings import ServingSettings
from tests.servers import free_port, start_redis
from training.cli import app as cli

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "online_retail_ii_2009_2010.csv.gz"
SAMPLE = ROOT / "recsys" / "data" / "sample" / "online_retail_sample.csv.gz"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _configures(name: str) -> bool:
    """Whether an environment variable configures the service or the jobs (MLflow's own
    URI is the jobs' fallback)."""
    return name.startswith("RECSYS_") or name == "MLFLOW_TRACKING_URI"


def pytest_configure(config: pytest.Config) -> None:
    """A hermetic run: the shell's settings (a ``RECSYS_REDIS_URL`` pointing at some
    Redis…) are removed before anything is collected, so neither the tests, the CLI
    commands they run in process nor the servers they start as subprocesses see them."""
    for name in [n for n in os.environ if _configures(n)]:
        del os.environ[name]


@pytest.fixture(autouse=True)
def _settings_end_with_the_test() -> Iterator[None]:
    """Settings put in the environment during a test (by a command run in process:
    ``recsys demo`` sets defaults there) are gone after it; changed ones restored."""
    before = {n: v for n, v in os.environ.items() if _configures(n)}
    yield
    for name in [n for n in os.environ if _configures(n) and n not in before]:
        del os.environ[name]
    os.environ.update(before)


def _require(found: bool, what: str) -> None:
    if not found:
        if IN_CI:
            pytest.fail(f"{what} is missing; CI must have it")
        pytest.skip(f"{what} is missing")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The whole Online Retail II 2009-2010 file."""
    _require(SHARED.is_file(), str(SHARED))
    return SHARED


@pytest.fixture(scope="session")
def shared_raw(shared_data: Path) -> pd.DataFrame:
    """The shared file as plain strings, for independent computations in tests."""
    return pd.read_csv(shared_data, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The bundled real sample (online-retail format): present in every clone."""
    assert SAMPLE.is_file(), SAMPLE
    return SAMPLE


@pytest.fixture(scope="session")
def sample_raw(sample_data: Path) -> pd.DataFrame:
    """The sample as plain strings, for independent computations in tests."""
    return pd.read_csv(sample_data, dtype=str, keep_default_na=False)


#: Every model, so the service tests meet each kind in a bundle (train's default
#: fits only what the blend weighs).
ALL_MODELS = "popular,popular_country,als,bpr,itemknn,ease,rp3beta,forward"


#: Test modules that share the one Spark session of a pytest-xdist worker (its JVM takes
#: seconds to start and warm up): they run on the same worker.
SPARK_MODULES = ("tests/test_spark.py", "tests/test_service.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` (pyproject.toml), except that :data:`SPARK_MODULES` are one
    unit: one worker starts Spark, not each worker that draws one of them."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SparkTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return "spark" if module in SPARK_MODULES else module

    return SparkTogether(config, log)


def once_per_run(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]) -> Path:
    """``build(directory)``'s result, in a directory of this test process's own.

    Under pytest-xdist every worker holds its own session fixtures; an expensive one
    is built once per run, as pytest-xdist's documentation advises: the first worker
    builds it in the run's shared temp directory under a file lock, and every worker,
    that one included, copies the finished directory (its own copy, as when each
    built it: what a test changes there stays in its process)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build(factory.mktemp(name))
    run = factory.getbasetemp().parent  # the run's, above each worker's popen-gwN
    shared, done = run / f"{name}.shared", run / f"{name}.done"
    with (run / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed, or if the worker dies
        if not done.exists():
            shutil.rmtree(shared, ignore_errors=True)  # a worker failed half-way
            shared.mkdir()
            built = build(shared)
            done.write_text(str(built.relative_to(shared)))
    own = factory.mktemp(name)
    shutil.copytree(shared, own, symlinks=True, dirs_exist_ok=True)
    return own / done.read_text()


@pytest.fixture(scope="session")
def bundles(sample_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with one bundle trained on the sample through the CLI (MLflow in a
    temp store); trained once per run, read-only for the tests."""
    return once_per_run(tmp_path_factory, "served", lambda out: _train(sample_data, out))


def _train(sample_data: Path, out: Path, extra: list[str] | None = None) -> Path:
    """Train every model on the sample through the CLI, into ``out``/bundles."""
    patch = pytest.MonkeyPatch()
    patch.setenv("RECSYS_MLFLOW_TRACKING_URI", f"sqlite:///{out / 'mlflow.db'}")
    patch.chdir(out)
    args = ["train", "--events", str(sample_data), "--format", "online-retail"]
    args += ["--out", str(out / "bundles"), "--set", "rules.min_support=0.01"]
    args += ["--set", "bpr.iterations=10", "--models", ALL_MODELS, *(extra or [])]
    result = CliRunner().invoke(cli, args)
    patch.undo()
    assert result.exit_code == 0, result.output
    return out / "bundles"


@pytest.fixture(scope="session")
def spark():  # type: ignore[no-untyped-def]
    """A Spark session on local[2] (the ``spark`` extra and Java 17: installed by the
    bootstrap; missing, the Spark tests fail)."""
    from training.spark import spark_session

    return spark_session("local[2]")


@pytest.fixture(scope="session")
def spark_bundles(
    request: pytest.FixtureRequest, sample_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """:func:`bundles` trained with ``--engine spark`` (ALS and rules by Spark); the
    Spark session is started only to train them."""

    def train(out: Path) -> Path:
        request.getfixturevalue("spark")
        return _train(sample_data, out, ["--engine", "spark"])

    return once_per_run(tmp_path_factory, "spark-served", train)


@pytest.fixture(scope="session")
def bundle(bundles: Path) -> Bundle:
    """The trained bundle, loaded."""
    return Bundle.load(next(p for p in bundles.iterdir() if p.is_dir()))


def settings_for(bundles: Path, tmp: Path, **extra: object) -> ServingSettings:
    """The service on ``bundles`` with the example analyst rules, copied into ``tmp``
    (the rules API writes to its file)."""
    tmp.mkdir(parents=True, exist_ok=True)
    rules = tmp / "cross_sell.yaml"
    if not rules.exists():
        shutil.copy(ROOT / "examples" / "cross_sell.yaml", rules)
    given: dict[str, Any] = {
        "bundle_path": bundles,
        "events_path": tmp / "events.jsonl",
        "catalogue_path": tmp / "catalogue.jsonl",
        "tombstones_path": tmp / "tombstones.txt",
        "impressions_path": tmp / "impressions.jsonl",
        "outcomes_path": tmp / "outcomes.jsonl",
        "cross_sell_path": rules,
        "access_path": tmp / "access.json",
        "session_secret_path": tmp / "session.key",
        "audit_path": tmp / "audit.jsonl",
        "reload_interval_seconds": 0,
        # Lists wait to be computed: a slow first list on a busy machine must not turn a
        # test's answer into the fallback (tests/test_no_cliff*.py set a budget).
        "list_budget_ms": 0,
        **extra,
    }
    # Every field given: values passed win over RECSYS_* variables, so these settings
    # are the same whatever the environment holds (even one a test sets).
    fields = ServingSettings.model_fields.items()
    pinned = {name: info.get_default(call_default_factory=True) for name, info in fields}
    return ServingSettings(**{**pinned, **given})


def a_client(bundles: Path) -> tuple[str, set[str]]:
    """The client with the longest history, and the items they bought."""
    bundle = Bundle.load(next(p for p in bundles.iterdir() if p.is_dir()))
    row = int(np.argmax(np.diff(bundle.data.matrix.indptr)))
    bought = set(bundle.data.items.to_ids(bundle.data.matrix[row].indices).tolist())
    return str(bundle.data.clients.ids[row]), bought


def write_csv(path: Path, text: str) -> Path:
    """Write a hand-made CSV (dedented, stripped of the leading newline)."""
    import textwrap

    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free port, stopped after the session."""
    binary = shutil.which("redis-server")
    _require(binary is not None, "redis-server")
    port = free_port()
    process = start_redis(port, tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def shared_state(redis_url: str) -> Iterator[str]:
    """The session's Redis, with the catalogue and tombstones a test writes removed
    afterwards (other tests share that Redis)."""
    import redis

    yield redis_url
    client = redis.Redis.from_url(redis_url)
    client.delete("recsys:catalogue", "recsys:catalogue:seq", "recsys:catalogue:changes")
    client.delete("recsys:tombstones")
    client.close()


def features_file(sample_data: Path, as_of: str, directory: Path) -> Path:
    """The sample's offline client features as of ``as_of``, written as Parquet."""
    from feature_store import build_features
    from recsys.data import read_events

    path = directory / "features.parquet"
    build_features(read_events(sample_data, "online-retail"), as_of).to_parquet(path)
    return path


@pytest.fixture(scope="session")
def sample_features(sample_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline client features of the whole sample (as of 2011-01-01)."""
    return features_file(sample_data, "2011-01-01", tmp_path_factory.mktemp("features"))
