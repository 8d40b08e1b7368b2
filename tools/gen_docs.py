"""Write the generated reference pages of the documentation site from the code.

    .venv/bin/python tools/gen_docs.py          # rewrite docs/reference/{http,cli,…}.md
    .venv/bin/python tools/gen_docs.py --out D  # write them under D instead

Nothing in these pages is typed by hand: the HTTP API comes from the app's OpenAPI
document (``serving.app.create_app``, built, never started), the CLI from the typer app
(``training.cli:app``, walked command by command), the configuration from the
pydantic-settings classes (name, type, default and the field's docstring), the events
formats and cleaning steps from ``recsys/data/schema.py`` and ``recsys/data/cleaning.py``.
``tests/test_docs.py`` regenerates every page and fails when a committed one differs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

# The page modules sit beside this script (also when a test loads it by its path).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _docs_cli import cli_page
from _docs_common import ROOT
from _docs_config import configuration_page
from _docs_formats import formats_page
from _docs_http import http_page

PAGES: dict[str, Callable[[], str]] = {
    "reference/http.md": http_page,
    "reference/cli.md": cli_page,
    "reference/configuration.md": configuration_page,
    "reference/formats.md": formats_page,
}


def generate(out: Path) -> list[Path]:
    """Write every generated page under ``out`` (the docs folder); return their paths."""
    written = []
    for relative, build in PAGES.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(build(), encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="docs folder to write into")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
