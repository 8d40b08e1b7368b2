"""Headless Chromium driven over the DevTools protocol (no driver package needed), and
reading the figures a server-rendered page shows (its table cells, as text)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.conftest import IN_CI
from tests.servers import free_port

__all__ = ["Page", "browser", "chromium", "rows", "text_of"]


class Page:
    """One tab: navigate, run JavaScript, wait for a condition."""

    def __init__(self, socket: Any) -> None:
        self.socket, self._id = socket, 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.socket.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            answer = json.loads(self.socket.recv(timeout=60))
            if answer.get("id") == self._id:
                return answer.get("result", {})  # type: ignore[no-any-return]

    def evaluate(self, expression: str) -> Any:
        found = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return found.get("result", {}).get("value")

    def wait(self, expression: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not self.evaluate(expression):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.1)

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")


def browser() -> str:
    """The Chromium binary (the test is skipped without it, and fails in CI)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if IN_CI:
            pytest.fail("chromium is missing; CI must have it")
        pytest.skip("chromium is missing")
    return found


@contextmanager
def chromium(profile: Path) -> Iterator[Page]:
    """A headless Chromium with one tab (skipped without it, a failure in CI)."""
    binary = browser()
    port = free_port()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    flags += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    flags += [f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "about:blank"]
    process = subprocess.Popen([binary, *flags], stderr=subprocess.DEVNULL)
    try:
        tab = _first_tab(port)
        with connect(tab, max_size=None) as socket:
            yield Page(socket)
    finally:
        process.kill()
        process.wait(timeout=30)


def _first_tab(port: int) -> str:
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=1) as r:
                tabs = [t for t in json.loads(r.read()) if t.get("type") == "page"]
            if tabs:
                return str(tabs[0]["webSocketDebuggerUrl"])
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("chromium did not open its debugging port")


class _Rows(HTMLParser):
    """The cells (as text) of every ``<tr>`` of a class, and each row's attributes."""

    def __init__(self, row_class: str | None) -> None:
        super().__init__()
        self.row_class = row_class
        self.found: list[tuple[dict[str, str | None], list[str]]] = []
        self._depth = 0  # inside a wanted row: 1 (nested rows count up)
        self._cell: list[str] | None = None  # the text of the open cell

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "tr" and self._depth == 0:
            if self.row_class is None or self.row_class in (named.get("class") or "").split():
                self.found.append((named, []))
                self._depth = 1
        elif tag == "tr" and self._depth:
            self._depth += 1
        elif tag in ("td", "th") and self._depth == 1:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._depth == 1 and self._cell is not None:
            self.found[-1][1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def rows(html: str, row_class: str | None = None) -> list[tuple[dict[str, str | None], list[str]]]:
    """Each ``<tr>`` (of ``row_class`` when given): its attributes and its cells' text,
    whitespace collapsed, in page order."""
    parser = _Rows(row_class)
    parser.feed(html)
    parser.close()
    return parser.found


def text_of(html: str, element_id: str) -> str:
    """The text of the element with ``id`` (tags dropped, whitespace collapsed)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', html, re.S)
    assert found is not None, f"no element with id {element_id!r}"
    return " ".join(re.sub(r"<[^>]+>", "", found.group(2)).split())
