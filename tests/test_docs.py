"""The documentation site: generated reference pages current, a strict build, the tutorials'
runnable blocks executed on the bundled sample, and the built pages in headless Chromium.

Fix a failing generation test with ``.venv/bin/python tools/gen_docs.py``; see
docs/how-to/docs.md for the runnable-block markers.
"""

from __future__ import annotations

import base64
import functools
import http.server
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from tests.browser import chromium
from tests.conftest import IN_CI
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
VENV_BIN = Path(sys.executable).parent
#: Pages whose shell and Python blocks the suite runs: the tutorials, and the import guide.
RUNNABLE = (
    "tutorials/storefront.md",
    "tutorials/crm-day.md",
    "tutorials/compare-models.md",
    "how-to/import-data.md",
)

if importlib.util.find_spec("mkdocs") is None:  # CI installs the docs extra: never skip there
    if IN_CI:
        raise ImportError("mkdocs is missing: install the docs extra (pip install -e '.[docs]')")
    pytest.skip("no docs extra: pip install -e '.[docs]'", allow_module_level=True)


def _gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "tools" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- generated reference


def test_generated_reference_pages_are_current(tmp_path: Path) -> None:
    gen = _gen_docs()
    stale = []
    for written in gen.generate(tmp_path):
        relative = written.relative_to(tmp_path)
        committed = DOCS / relative
        if not committed.exists() or committed.read_text(encoding="utf-8") != written.read_text(
            encoding="utf-8"
        ):
            stale.append(str(Path("docs") / relative))
    assert not stale, (
        f"generated pages differ from the code: {', '.join(stale)}; "
        "run `.venv/bin/python tools/gen_docs.py` and commit the result"
    )


def test_reference_lists_every_route_option_and_setting() -> None:
    """The generated pages name every route, CLI option and setting (and the generation
    test holds that they name nothing else: they are rewritten from the same code)."""
    from serving.app import create_app
    from serving.settings import ServingSettings
    from training.settings import TrainingSettings

    http = (DOCS / "reference" / "http.md").read_text(encoding="utf-8")
    app = create_app(ServingSettings.model_construct())
    for route in app.routes:
        path = getattr(route, "path", "")
        if path and not path.startswith("/docs/oauth2"):
            assert f"`{path}`" in http, f"route {path} missing from docs/reference/http.md"
    configuration = (DOCS / "reference" / "configuration.md").read_text(encoding="utf-8")
    for model in (ServingSettings, TrainingSettings):
        for name in model.model_fields:
            assert f"`RECSYS_{name.upper()}`" in configuration, name
    cli = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    for option in ("--events", "--compare", "--skip-step", "--tombstones", "--workers"):
        assert f"`{option}" in cli, option


# ---------------------------------------------------------------- the build


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built with ``mkdocs build --strict`` (any warning fails the build)."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [str(VENV_BIN / "mkdocs"), "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return out


def test_site_builds_strictly_and_offline(site: Path) -> None:
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "Tutorials" in home and "client_screen.png" in home
    assert (site / "assets" / "javascripts" / "mermaid.min.js").is_file()
    assert (site / "search" / "search_index.json").is_file()
    architecture = (site / "explanation" / "architecture.html").read_text()
    assert 'class="mermaid"' in architecture
    for page in site.rglob("*.html"):  # nothing loaded from another host
        text = page.read_text(encoding="utf-8")
        found = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)
        assert not found, f"{page.relative_to(site)} loads {found}"
    python_api = (site / "reference" / "python.html").read_text(encoding="utf-8")
    assert "load_events" in python_api and "build_matrix" in python_api


# ---------------------------------------------------------------- runnable tutorial blocks


@dataclass
class Block:
    kind: str  # "run" or "output"
    language: str
    code: str
    line: int


_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,})(?P<info>[^\n`]*)$")


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` marked ``title="run"``, ``"output"`` or ``"by hand"``,
    and its shell and Python blocks marked neither (``unmarked``)."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, ticks, info = opening["indent"], opening["ticks"], opening["info"].strip()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != ticks:
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        marked = re.search(r'title="(run|output|by hand)"', info)
        language = info.split()[0] if info.split() else ""
        if marked:
            found.append(Block(marked[1], language, "\n".join(body), i + 1))
        elif language in ("bash", "python", "sh", "console"):
            found.append(Block("unmarked", language, "\n".join(body), i + 1))
        i = j + 1
    return found


def _script(runnable: list[Block]) -> str:
    """One bash session for a page: every block in order, each output between markers."""
    parts = [
        "set -euo pipefail",
        "exec 2>&1",
        "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
    ]
    for n, block in enumerate(runnable):
        parts.append(f"echo '@@block {n} start'")
        if block.language == "python":
            parts.append(f"python - <<'RECSYS_DOCS_PY'\n{block.code}\nRECSYS_DOCS_PY")
        else:
            parts.append(block.code)
        parts.append(f"echo '@@block {n} end'")
    return "\n".join(parts) + "\n"


def _expected(line: str) -> re.Pattern[str]:
    return re.compile(".*?".join(re.escape(part) for part in line.strip().split("...")))


@pytest.mark.parametrize("name", RUNNABLE)
def test_tutorial_blocks_run(name: str, tmp_path: Path) -> None:
    page = DOCS / name
    found = blocks(page)
    runnable = [b for b in found if b.kind == "run"]
    assert runnable, f'{name} has no block marked title="run"'
    unmarked = [b.line for b in found if b.kind == "unmarked"]
    assert not unmarked, (
        f'{name}: the shell or Python blocks at lines {unmarked} are neither title="run" nor'
        ' title="by hand" (a server, or what the suite cannot run)'
    )
    sample = tmp_path / "recsys" / "data"
    sample.mkdir(parents=True)
    (sample / "sample").symlink_to(ROOT / "recsys" / "data" / "sample")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECSYS_", "MLFLOW_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        PORT=str(free_port()),
        REPO=str(ROOT),
        PYTHONPATH=str(ROOT),
        NO_COLOR="1",
    )
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-c", _script(runnable)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    seconds = time.monotonic() - started
    outputs = dict(re.findall(r"@@block (\d+) start\n(.*?)@@block \1 end", done.stdout, re.S))
    if done.returncode != 0:
        failed = runnable[len(outputs)] if len(outputs) < len(runnable) else runnable[-1]
        pytest.fail(
            f"{name}: the block at line {failed.line} failed (exit {done.returncode}):\n"
            + done.stdout[-4000:]
        )
    previous: int | None = None
    for block in found:
        if block.kind == "run":
            previous = runnable.index(block)
            continue
        if block.kind != "output":
            continue
        assert previous is not None, (
            f"{name}: output block at line {block.line} follows no run block"
        )
        shown = outputs[str(previous)]
        for line in block.code.split("\n"):
            if line.strip():
                assert _expected(line).search(shown), (
                    f"{name}, output block at line {block.line}: {line.strip()!r} not in\n{shown}"
                )
    print(f"{name}: {len(runnable)} blocks in {seconds:.1f} s")


def test_runner_finds_marked_blocks_only(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        'text\n\n```bash title="run"\necho hi\n```\n\n```text title="output"\nh...\n```\n\n'
        '```bash title="by hand"\nnot run\n```\n\n```python\nx = 1\n```\n\n'
        '1. step\n\n    ```python title="run"\n    print(1)\n    ```\n'
    )
    found = blocks(page)
    assert [(b.kind, b.language, b.code) for b in found] == [
        ("run", "bash", "echo hi"),
        ("output", "text", "h..."),
        ("by hand", "bash", "not run"),
        ("unmarked", "python", "x = 1"),
        ("run", "python", "print(1)"),
    ]
    assert _expected("h...").search("hi") and not _expected("x...y").search("yx")


# ---------------------------------------------------------------- in the browser

#: Collects what the console would show as errors: exceptions, rejected promises,
#: console.error calls and resources (scripts, styles, images) that failed to load.
_ERRORS = """
window.__docErrors = [];
window.addEventListener('error', e => window.__docErrors.push(e.message
    || ('failed to load ' + ((e.target && (e.target.src || e.target.href)) || '?'))), true);
window.addEventListener('unhandledrejection', e => window.__docErrors.push(String(e.reason)));
const __error = console.error;
console.error = (...args) => {
    window.__docErrors.push(args.map(String).join(' '));
    __error(...args);
};
"""


@pytest.fixture(scope="module")
def served_site(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_site_in_headless_chromium(served_site: str, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with chromium(tmp_path / "profile") as page:
        page.call("Page.enable")
        page.call(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
        page.call("Page.addScriptToEvaluateOnNewDocument", source=_ERRORS)
        for path, shot in (
            ("/index.html", "home.png"),
            ("/tutorials/storefront.html", "tutorial.png"),
            ("/explanation/architecture.html", "architecture.png"),
        ):
            url = served_site + path
            page.open(url)
            page.wait("document.querySelector('nav.md-nav--primary') !== null")
            links = page.evaluate("document.querySelectorAll('nav.md-nav--primary a').length")
            assert links >= 10, f"{path}: navigation has {links} links"
            tabs = "[...document.querySelectorAll('.md-tabs__link')].map(a => a.textContent.trim())"
            assert page.evaluate(tabs)[:5] == [
                "Home",
                "Tutorials",
                "How-to guides",
                "Reference",
                "Explanation",
            ], path
            if path == "/explanation/architecture.html":  # Mermaid rendered, without a CDN
                page.wait(
                    "document.querySelector('div.mermaid') !== null"
                    " && document.querySelector('pre.mermaid') === null"
                )
            if path == "/index.html":
                page.wait(
                    "document.querySelector('img[src$=\"client_screen.png\"]')?.complete === true"
                )
                width = page.evaluate(
                    "document.querySelector('img[src$=\"client_screen.png\"]').naturalWidth"
                )
                assert width > 0, "the CRM screenshot did not load"
            time.sleep(0.3)  # late errors (search worker, diagrams)
            errors = page.evaluate("window.__docErrors")
            assert errors == [], f"{path}: console errors {errors}"
            picture = page.call("Page.captureScreenshot", format="png")
            (shots / shot).write_bytes(base64.b64decode(picture["data"]))
            assert (shots / shot).stat().st_size > 10_000
        title = page.evaluate("document.title")
        assert "recsys" in title, json.dumps(title)
