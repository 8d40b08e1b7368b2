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


PACKAGES = ("recsys", "serving", "training", "feature_store")


def module_files(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Dotted module name → file, for every module of ``packages`` under ``root``."""
    found = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (type-checking and
    function-level imports too: a circle hidden behind them is still a circle)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in known else base)
    return (found & set(known)) - {name}


def import_circles(known: dict[str, Path]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    graph = {name: _imported_modules(name, path, known) for name, path in known.items()}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            group = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(group) > 1:
                circles.append(sorted(group))

    for name in sorted(graph):
        if name not in order:
            visit(name)
    return circles


def test_no_package_holds_an_import_circle() -> None:
    assert import_circles(module_files(ROOT)) == []


def test_the_circle_finder_finds_a_circle_behind_type_checking(tmp_path: Path) -> None:
    """The shape the ranking core once had: a source imports the core's options for
    type checking only, and the core imports the source."""
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "core.py").write_text("from pkg.sub import source\n")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("from .source import Source\n")
    (tmp_path / "pkg" / "sub" / "source.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.core import Options\n"
    )
    (tmp_path / "pkg" / "leaf.py").write_text("import pkg.core\n")
    assert import_circles(module_files(tmp_path, ("pkg",))) == [["pkg.core", "pkg.sub.source"]]


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
