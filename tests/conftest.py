"""Shared fixtures: the real data, hand-made tables, and a real redis-server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.servers import free_port, start_redis

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "online_retail_ii_2009_2010.csv.gz"
SAMPLE = ROOT / "recsys" / "data" / "sample" / "online_retail_sample.csv.gz"
IN_CI = os.environ.get("CI", "").lower() == "true"


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
def shared_slice(shared_raw: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 20,000 rows of the shared file, written as online-retail CSV."""
    path = tmp_path_factory.mktemp("slice") / "slice.csv"
    shared_raw.head(20_000).to_csv(path, index=False)
    return path


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
    process.wait(timeout=10)
