"""Dockerfile and compose file: parsed, and pointing at things that exist."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from training.cli import app

ROOT = Path(__file__).resolve().parents[1]


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    return [(line.split()[0].upper(), line.split(maxsplit=1)[1]) for line in lines]


def test_dockerfile_is_multistage_slim_nonroot_with_healthcheck() -> None:
    steps = instructions()
    froms = [arg for op, arg in steps if op == "FROM"]
    assert len(froms) == 2 and all("slim" in f for f in froms)
    assert [arg for op, arg in steps if op == "USER"] == ["recsys"]
    assert any(op == "HEALTHCHECK" and "/healthz" in arg for op, arg in steps)
    entry = next(arg for op, arg in steps if op == "ENTRYPOINT")
    assert entry.startswith('["recsys", "serve"')
    for op, arg in steps:
        if op == "COPY" and "--from" not in arg:
            for source in arg.split()[:-1]:
                assert (ROOT / source).exists(), source


def test_entry_point_command_exists() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--port" in result.output


def test_compose_wires_service_redis_and_mlflow() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"recsys", "haproxy", "redis", "mlflow", "trainer"}
    env = services["recsys"]["environment"]
    assert env["RECSYS_REDIS_URL"].startswith("redis://redis:")
    assert env["RECSYS_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert services["recsys"]["deploy"]["replicas"] == 3
    redis_args = services["redis"]["command"]
    assert (
        "--appendonly" in redis_args and redis_args[redis_args.index("--appendonly") + 1] == "yes"
    )
    # Only keys with a TTL may be evicted: never the event stream.
    assert redis_args[redis_args.index("--maxmemory-policy") + 1] == "volatile-lru"
    mounted = services["haproxy"]["volumes"][0].split(":")[0]
    assert (ROOT / mounted).is_file()
    assert "recsys retrain" in " ".join(services["trainer"]["command"])  # on a schedule


def test_compose_mlflow_server_has_the_client_major() -> None:
    """The tracking server in compose speaks the REST API of the client the package
    installs: a 2.x server behind a 3.x client fails on the first logged model."""
    from importlib.metadata import version

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    image = compose["services"]["mlflow"]["image"]
    tag = image.rsplit(":", 1)[1].removeprefix("v")
    assert tag.split(".")[0] == version("mlflow").split(".")[0], image
