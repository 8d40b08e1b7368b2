"""A retrain that dies at any step leaves production serving and loses no event.

The new events come through a real Redis stream; the job runs with a hook that raises
before the chosen step (:data:`training.retrain.job.STEPS`). Afterwards the bundle
``CURRENT`` and the alias name still loads, both are unchanged until the ``promote``
step ran, no stream entry is gone until the ``trim`` step ran, and every event is in
the stream or the archive. The version registered before the crash is tagged
``pending`` until the alias moved, never ``promoted``. A run after the crash then
completes. Production (version 1) is trained and registered once for the module; each
test works on its own copy of the bundles and the MLflow store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from uuid import uuid4

import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest
import redis
from mlflow.tracking import MlflowClient

from recsys.bundle import Bundle
from recsys.data import CleaningConfig
from serving.stream import FIELD
from tests.test_retrain_retention import build_world, copy_world, enter
from training.retrain.job import STEPS, Request, retrain
from training.settings import TrainingSettings

CUT = pd.Timestamp("2010-11-26")
#: The run's time: the end of the sample's last day.
AS_OF = datetime(2010, 12, 10)


class Crash(Exception):
    """What the hook raises: the job dying at that step."""


def crash_at(step: str):  # type: ignore[no-untyped-def]
    def hook(name: str) -> None:
        if name == step:
            raise Crash(step)

    return hook


@pytest.fixture(scope="module")
def history(sample_raw: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "history.csv.gz"
    sample_raw[pd.to_datetime(sample_raw["InvoiceDate"]) < CUT].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def new_events(sample_raw: pd.DataFrame) -> list[dict]:
    from tests.test_retrain import log_lines

    return log_lines(sample_raw[pd.to_datetime(sample_raw["InvoiceDate"]) >= CUT])


@pytest.fixture(scope="module")
def production(history: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 1 (popularity and rules, on the history) in production, made once."""
    from tests.test_retrain import train_and_promote

    where = tmp_path_factory.mktemp("production")
    return build_world(where, lambda: train_and_promote(history))


@pytest.fixture
def world(production: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own copy of it: the bundle directory, worked in."""
    copied = copy_world(production, tmp_path / "world")
    enter(monkeypatch, copied)
    return copied / "bundles"


@pytest.fixture
def stream(redis_url: str, new_events: list[dict]) -> Iterator[str]:
    """A stream of its own holding the new events, as the replicas write them."""
    name = f"recsys:test-retrain:{uuid4().hex}"
    client = redis.Redis.from_url(redis_url)
    with client.pipeline(transaction=False) as pipe:
        for event in new_events:
            pipe.xadd(name, {FIELD: orjson.dumps(event)})
        pipe.execute()
    yield name
    client.delete(name)
    client.close()


def _request(history: Path, out: Path, redis_url: str, stream: str) -> Request:
    return Request(
        history,
        "online-retail",
        out,
        [redis_url],
        cleaning=CleaningConfig(),
        stream=stream,
        as_of=AS_OF,
    )


def served(out: Path) -> tuple[str, str]:
    """(CURRENT's bundle, the alias's version); both must load as bundles."""
    client = MlflowClient(TrainingSettings().tracking_uri())
    version = client.get_model_version_by_alias("recsys", "production")
    current = (out / "CURRENT").read_text()
    Bundle.load(out / current)
    Bundle.load(Path(version.tags["bundle_dir"]))
    return current, str(version.version)


def stream_ids(url: str, stream: str) -> list[str]:
    entries: list[tuple[bytes, dict[bytes, bytes]]] = redis.Redis.from_url(url).xrange(stream)  # type: ignore[assignment]
    return [json.loads(fields[FIELD])["event_id"] for _, fields in entries]


def decision(version: str) -> tuple[str, str]:
    """(the version's ``retrain.decision`` tag, its bundle's ``retrain.json`` decision)."""
    found = MlflowClient(TrainingSettings().tracking_uri()).get_model_version("recsys", version)
    record = json.loads((Path(found.tags["bundle_dir"]) / "retrain.json").read_text())
    return found.tags["retrain.decision"], record["gate"]["decision"]


def archived_ids(out: Path) -> list[str]:
    files = sorted((out / "events-archive").glob("*.parquet"))
    return [str(i) for f in files for i in pq.read_table(f)["event_id"].to_pylist()]


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_any_step_keeps_production_and_every_event(
    step: str, world: Path, history: Path, redis_url: str, stream: str, new_events: list[dict]
) -> None:
    everything = {e["event_id"] for e in new_events}
    before, entries = served(world), stream_ids(redis_url, stream)
    request, settings = _request(history, world, redis_url, stream), TrainingSettings()
    with pytest.raises(Crash):
        retrain(request, settings, on_step=crash_at(step))
    after = served(world)  # loads either way: production still serves
    if STEPS.index(step) <= STEPS.index("promote"):
        assert after == before
    if STEPS.index(step) > STEPS.index("register"):  # version 2 registered, judged
        promoted = STEPS.index(step) > STEPS.index("promote")
        expected = "promoted" if promoted else "pending"
        assert decision("2") == (expected, expected)
    if STEPS.index(step) <= STEPS.index("trim"):
        assert stream_ids(redis_url, stream) == entries  # nothing trimmed
    assert set(stream_ids(redis_url, stream)) | set(archived_ids(world)) == everything
    # Run again: it completes, and every event ends archived exactly once.
    assert retrain(request, settings).decision == "promoted"
    assert stream_ids(redis_url, stream) == []
    assert sorted(archived_ids(world)) == sorted(everything)
    latest = served(world)[1]
    assert decision(latest) == ("promoted", "promoted")


def test_a_crash_inside_promote_leaves_the_version_pending(
    world: Path, history: Path, redis_url: str, stream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry refuses to move the alias (the promotion itself fails): production
    stays, and the version the gate passed is tagged pending, not promoted."""
    from training import tracking

    def refuse(version: str, settings: TrainingSettings) -> dict[str, str]:
        raise Crash("the registry went away")

    monkeypatch.setattr(tracking, "promote", refuse)
    before = served(world)
    with pytest.raises(Crash):
        retrain(_request(history, world, redis_url, stream), TrainingSettings())
    assert served(world) == before
    assert decision("2") == ("pending", "pending")


def test_events_accepted_during_the_retrain_are_not_trimmed(
    world: Path, history: Path, redis_url: str, stream: str
) -> None:
    late = {"type": "purchase", "client_id": "12345", "item_id": "85123A", "event_id": "late"}

    def accept_one_more(name: str) -> None:
        if name == "trim":  # after the export was read, before the trim
            redis.Redis.from_url(redis_url).xadd(stream, {FIELD: orjson.dumps(late)})

    outcome = retrain(
        _request(history, world, redis_url, stream), TrainingSettings(), accept_one_more
    )
    assert outcome.decision == "promoted"
    assert stream_ids(redis_url, stream) == ["late"]
    assert "late" not in archived_ids(world)
