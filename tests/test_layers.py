"""The import graph: recsys is the core; serving never reaches into training."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "recsys": {
        "redis",
        "fastapi",
        "mlflow",
        "serving",
        "training",
        "feature_store",
        "starlette",
        "pyspark",
    },
    "feature_store": {"fastapi", "serving", "training", "pyspark"},
    "serving": {"training", "pyspark"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_its_layer(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_checker_sees_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import redis.asyncio\nfrom training.cli import app\n")
    assert imported_roots(probe) == {"redis", "training"}


def test_the_cli_imports_no_heavy_library_for_help() -> None:
    """``recsys --help`` stays fast: pandas, implicit and mlflow load inside commands
    (a fresh interpreter, since this test process has them loaded already)."""
    import subprocess
    import sys

    code = (
        "import sys, training.cli\n"
        "heavy = {'mlflow', 'implicit', 'pandas', 'scipy', 'sklearn', 'fastapi'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_recsys_names_load_lazily_and_all_resolve() -> None:
    import recsys

    assert set(recsys._WHERE) == set(recsys.__all__)
    for name in recsys.__all__:
        assert getattr(recsys, name).__name__ == name
