"""evaluate, train and promote through the CLI, against a real local MLflow store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from recsys.bundle import Bundle
from recsys.data import load_events
from recsys.errors import ModelError
from training.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
FAST = [
    "--set",
    "bpr.iterations=20",
    "--set",
    "als.iterations=5",
    "--set",
    "rules.min_support=0.02",
]


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    patch = pytest.MonkeyPatch()
    patch.setenv("RECSYS_MLFLOW_TRACKING_URI", uri)
    patch.chdir(tmp_path_factory.mktemp("cwd"))  # artifacts land here
    yield uri
    patch.undo()


@pytest.fixture(scope="module")
def trained(mlflow_uri: str, sample_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundles")
    args = ["train", "--events", str(sample_data), "--format", "online-retail", "--out", str(out)]
    result = runner.invoke(app, args + FAST)
    assert result.exit_code == 0, result.output
    return next(out.iterdir())


def test_evaluate_json_and_mlflow_run(mlflow_uri: str, sample_data: Path) -> None:
    args = ["evaluate", "--events", str(sample_data), "--format", "online-retail"]
    args += ["--cutoff", "2009-12-06", "--k", "5", "--json", *FAST]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["models"]) == {
        "popular",
        "popular_country",
        "als",
        "bpr",
        "itemknn",
        "ease",
        "rp3beta",
        "forward",
        "ppop",
        "tifuknn",
        "rules",
        "hybrid",
    }
    for metrics in report["models"].values():
        assert {"precision@5", "recall@5", "map@5", "ndcg@5", "coverage@5"} <= set(metrics)
        assert 0.0 <= metrics["ndcg@5"] <= 1.0
    assert report["split"]["kind"] == "time" and report["data"]["evaluated_clients"] > 0
    run = MlflowClient(mlflow_uri).get_run(report["mlflow_run_id"])
    assert run.data.params["models.als.factors"] == "64"
    assert run.data.metrics["itemknn.ndcg_at_5"] == pytest.approx(
        report["models"]["itemknn"]["ndcg@5"]
    )


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--models", "als,nope"], "unknown nope"),
        (["--set", "als.factors=-3"], "factors"),
        (["--set", "als.colour=red"], "colour"),
        (["--set", "oops"], "SECTION.FIELD=VALUE"),
        (
            ["--set", "ease.target_half_life_days=60", "--set", "ease.weighting=binary"],
            "target_half_life_days needs weighting last_days",
        ),
        (["--split", "time"], "--cutoff or --test-fraction"),
        (["--split", "time", "--cutoff", "2031-01-01"], "no client bought a new item"),
    ],
)
def test_evaluate_refuses_bad_options(sample_data: Path, extra: list[str], needle: str) -> None:
    args = ["evaluate", "--events", str(sample_data), "--format", "online-retail"]
    if "--split" not in extra:
        args += ["--cutoff", "2009-12-06"]
    result = runner.invoke(app, args + extra)
    assert result.exit_code == 4, result.output
    assert needle in result.output and "Traceback" not in result.output


def test_bundle_round_trip_gives_identical_recommendations(
    trained: Path, sample_data: Path
) -> None:
    bundle = Bundle.load(trained)
    events = load_events(sample_data, "online-retail").events
    assert len(bundle.data.clients) == events["client_id"].nunique()
    rows = np.arange(min(50, len(bundle.data.clients)))
    history = bundle.data.matrix[rows]
    for name, model in bundle.models.items():
        again = Bundle.load(trained).models[name]
        a, b = model.recommend(rows, history, k=10), again.recommend(rows, history, k=10)
        np.testing.assert_array_equal(a.items, b.items, err_msg=name)
    assert (bundle.titles != "").mean() > 0.9


def test_train_fits_what_the_blend_weighs_by_default(trained: Path) -> None:
    # The default blend weighs EASE, mined rules, analyst rules and popularity:
    # BPR, ALS and the neighbour models are fitted only when --models names them.
    assert set(Bundle.load(trained).models) == {"popular", "ease"}


def _mapped_from(array: object) -> str | None:
    """The file an array's memory is mapped from (following views), if any."""
    while array is not None:
        if isinstance(array, np.memmap):
            return str(array.filename)
        array = getattr(array, "base", None)
    return None


def test_bundle_arrays_are_memory_mapped(trained: Path) -> None:
    bundle = Bundle.load(trained)
    weights = bundle.models["ease"].weights  # type: ignore[attr-defined]
    assert _mapped_from(weights) == str(trained / "models" / "ease" / "weights.npy")
    matrix = bundle.data.matrix
    for part in ("data", "indices", "indptr"):
        assert _mapped_from(getattr(matrix, part)) == str(trained / f"history_{part}.npy")


def test_broken_bundle_is_refused(trained: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained, broken)
    np.save(broken / "items.npy", np.array(["only-one"]))
    with pytest.raises(ModelError, match="knows"):
        Bundle.load(broken)
    (broken / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="not a readable bundle"):
        Bundle.load(broken)


def test_a_cut_memory_mapped_array_is_refused(trained: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "cut"
    shutil.copytree(trained, broken)
    weights = broken / "models" / "ease" / "weights.npy"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelError, match="cannot load model 'ease'"):
        Bundle.load(broken)


def test_train_registers_and_promote_sets_the_alias(
    mlflow_uri: str, trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = MlflowClient(mlflow_uri)
    versions = client.search_model_versions("name='recsys'")
    assert versions, "train registered no version"
    latest = max(versions, key=lambda v: int(v.version))
    monkeypatch.setenv("RECSYS_AUDIT_PATH", str(tmp_path / "audit.jsonl"))
    result = runner.invoke(app, ["promote", str(latest.version)])
    assert result.exit_code == 0, result.output
    (promoted,) = [json.loads(line) for line in (tmp_path / "audit.jsonl").open()]
    assert promoted["action"] == "model.promote"
    assert promoted["detail"] == {"version": str(latest.version)}
    assert str(client.get_model_version_by_alias("recsys", "production").version) == str(
        latest.version
    )
    pointer = trained.parent / "CURRENT"
    assert pointer.read_text() == trained.name  # serving's hot reload follows this
    result = runner.invoke(app, ["promote", "999"])
    assert result.exit_code == 4 and "no version '999'" in result.output


def test_compare_notebook_executes(mlflow_uri: str, sample_data: Path, tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    args = ["evaluate", "--events", str(sample_data), "--format", "online-retail"]
    result = runner.invoke(app, [*args, "--cutoff", "2009-12-06", "--models", "popular,itemknn"])
    assert result.exit_code == 0, result.output
    notebook = nbformat.read(ROOT / "notebooks" / "compare_experiments.ipynb", as_version=4)
    figure = tmp_path / "compare.png"
    patch = pytest.MonkeyPatch()
    patch.setenv("COMPARE_FIGURE", str(figure))
    try:
        NotebookClient(
            notebook, timeout=120, resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        patch.undo()
    table = notebook.cells[2].outputs[0]["data"]["text/plain"]
    assert "itemknn" in table and "ndcg_at_10" in table
    assert figure.stat().st_size > 1000
    intervals = notebook.cells[4].outputs[0]["data"]["text/plain"]
    assert "itemknn" in intervals and "low" in intervals and "high" in intervals
    assert (tmp_path / "compare_intervals.png").stat().st_size > 1000


def test_train_reads_the_service_event_log_back(
    mlflow_uri: str, sample_data: Path, tmp_path: Path
) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text(
        '{"type":"purchase","client_id":"brand-new-client","item_id":"85048","order_id":null,'
        '"timestamp":"2010-12-01T10:00:00+00:00","quantity":1.0,"price":null}\n'
    )
    args = ["train", "--events", str(sample_data), "--format", "online-retail"]
    args += ["--out", str(tmp_path / "b"), "--models", "popular", "--extra-events", str(log)]
    result = runner.invoke(app, [*args, "--set", "rules.min_support=0.05"])
    assert result.exit_code == 0, result.output
    bundle = Bundle.load(next((tmp_path / "b").iterdir()))
    assert "brand-new-client" in bundle.data.clients


def test_the_first_run_shows_cf_well_above_popularity(mlflow_uri: str, sample_data: Path) -> None:
    """The demo's evaluation: the sample, time split over its last 25 %."""
    args = ["evaluate", "--events", str(sample_data), "--format", "online-retail"]
    args += ["--split", "time", "--test-fraction", "0.25", "--models", "popular,als,itemknn"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(runner.invoke(app, [*args, "--json"]).output)["models"]
    best = max(report["als"]["ndcg@10"], report["itemknn"]["ndcg@10"])
    assert best >= 1.3 * report["popular"]["ndcg@10"]
    assert "best CF model:" in result.output and "× popularity" in result.output


def test_the_served_line_names_the_blend_and_a_better_single_model() -> None:
    """The demo's first table: when a single model beats the served blend, the line under
    it says which serves, by how much it trails, and why (the sample's own figures)."""
    from training.report import served

    report = {
        "models": {
            "popular": {"ndcg@10": 0.05, "coverage@10": 0.01},
            "ease": {"ndcg@10": 0.1149, "coverage@10": 0.21},
            "hybrid": {"ndcg@10": 0.1128, "coverage@10": 0.34},
        }
    }
    (line,) = served(report, 10)
    assert "served: hybrid, NDCG@10 0.1128, 0.0021 below ease (0.1149)" in line
    assert "34% of the catalogue" in line and "(ease: 21%)" in line
    report["models"]["hybrid"]["coverage@10"] = 0.20  # narrower: not given as a reason
    (line,) = served(report, 10)
    assert "0.0021 below ease" in line and "of the catalogue" not in line
    report["models"]["hybrid"]["ndcg@10"] = 0.12
    assert served(report, 10) == [
        "served: hybrid, NDCG@10 0.1200, the best row here (next: ease, 0.1149)"
    ]
    assert served({"models": {"ease": {"ndcg@10": 0.1}}}, 10) == []


def test_a_model_can_be_fitted_on_its_own_weighting(sample_data: Path) -> None:
    """``itemknn.weighting=bm25``: item-kNN is fitted on a BM25 matrix (built here
    directly) while histories, and ALS beside it, keep the shared binary matrix."""
    from recsys.data import load_events
    from recsys.evaluation import evaluate_model, make_task
    from recsys.matrix import MatrixConfig, build_matrix
    from recsys.models import ALSScorer, ItemKNNConfig, ItemKNNScorer
    from recsys.split import split_by_fraction_of_time
    from training import jobs

    split = split_by_fraction_of_time(load_events(sample_data, "online-retail").events, 0.25)
    own = ItemKNNScorer(ItemKNNConfig(weighting="bm25"))
    report = jobs.evaluate(split, {"itemknn": own, "als": ALSScorer()}, 10, MatrixConfig(), True)
    task = make_task(split, MatrixConfig())
    bm25 = MatrixConfig(weighting="bm25")
    matrix = build_matrix(split.train, bm25, clients=task.train.clients, items=task.train.items)
    by_hand = evaluate_model(ItemKNNScorer(ItemKNNConfig()), task, 10, matrix=matrix.matrix)
    binary = evaluate_model(ItemKNNScorer(ItemKNNConfig(weighting="binary")), task, 10)
    assert report["models"]["itemknn"]["ndcg@10"] == pytest.approx(by_hand["ndcg@10"])
    assert report["models"]["itemknn"]["ndcg@10"] != pytest.approx(binary["ndcg@10"])
    assert report["models"]["als"]["ndcg@10"] == pytest.approx(
        evaluate_model(ALSScorer(), task, 10)["ndcg@10"]
    )
    bad = runner.invoke(app, ["evaluate", "--events", str(sample_data), "--set", "als.weighting=x"])
    assert bad.exit_code == 4 and "weighting" in bad.output
