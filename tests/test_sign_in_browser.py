"""Signing in, recording an outcome and signing out in headless Chromium, and a
page of another site failing to forge a form post."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.browser import Page, chromium
from tests.conftest import a_client
from tests.servers import free_port, serve
from tests.test_sign_in import PASSWORD, add_people, outcomes_of, settings_with_access


@contextmanager
def _attacker(site: Path) -> Iterator[str]:
    """Another site (another port) serving the files of ``site``."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()


def _go(tab: Page, url: str, ready: str) -> None:
    tab.call("Page.navigate", url=url)
    tab.wait(f"({ready}) && document.readyState === 'complete'")


def _frame(tab: Page, site: Path, elsewhere: str, page: str) -> str:
    """What shows in the frame in which another site tries to show ``page``: its URL,
    or Chromium's error page when the answer forbids framing."""
    name = f"frame-{len(list(site.iterdir()))}.html"  # a new page each time
    (site / name).write_text(f'<iframe src="{page}"></iframe>')
    url = elsewhere.replace("index.html", name)
    _go(tab, url, f"location.href === {json.dumps(url)}")  # complete: the frame too
    (child,) = tab.call("Page.getFrameTree")["frameTree"]["childFrames"]
    return str(child["frame"]["url"])


def test_sign_in_record_and_sign_out_in_headless_chromium(
    bundles: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = settings_with_access(bundles, tmp_path)
    add_people(settings, ann="manager")
    who, _ = a_client(bundles)
    port, key = free_port(), str(tmp_path / "session.key")  # files of this test only
    access = {"access_path": str(settings.access_path), "session_secret_path": key}
    service = serve(bundles, settings.events_path, port, None, **access)
    request.addfinalizer(service.kill)
    base = f"http://127.0.0.1:{port}"
    with chromium(tmp_path / "profile") as tab:
        _go(tab, f"{base}/ui/clients/{who}", "location.pathname === '/ui/sign-in'")
        fill = f"username.value = 'ann'; password.value = {json.dumps(PASSWORD)}"
        tab.evaluate(f"{fill}; document.getElementById('sign-in').submit(); true")
        tab.wait(f"location.pathname === '/ui/clients/{who}' && !!window.person")
        assert tab.evaluate("person.textContent") == "ann"
        item = tab.evaluate("document.querySelector('tr.offer').dataset.item")
        form = "document.querySelector('tr.offer form.declined')"
        tab.evaluate(f"{form}.reason.value = 'has one'; {form}.submit(); true")
        tab.wait("document.querySelectorAll('tr.past-offer').length === 1")
        assert outcomes_of(settings) == [(who, item, "declined", "has one")]
        target = f"{base}/ui/clients/{who}/offers/{item}/outcome"
        fields = '<input name="outcome" value="accepted"><input name="channel" value="call">'
        (site := tmp_path / "site").mkdir()
        forged = f'<form method="post" action="{target}">{fields}</form>'
        (site / "index.html").write_text(f"{forged}<script>document.forms[0].submit()</script>")
        with _attacker(site) as elsewhere:
            assert _frame(tab, site, elsewhere, f"{base}/healthz") == f"{base}/healthz"
            blocked = _frame(tab, site, elsewhere, f"{base}/ui/clients/{who}")
            _go(tab, elsewhere, f"location.href === {json.dumps(target)}")
        assert blocked.startswith("chrome-error:")  # the page refused the frame
        shown = tab.evaluate("document.body.innerText")
        assert "came from another site" in shown and len(outcomes_of(settings)) == 1
        _go(tab, f"{base}/ui/clients/{who}", "!!document.getElementById('sign-out')")
        tab.evaluate("document.getElementById('sign-out').submit(); true")
        tab.wait("location.pathname === '/ui/sign-in' && !document.getElementById('person')")
        _go(tab, f"{base}/ui/clients/{who}", "location.search.startsWith('?next=')")
        assert tab.evaluate("location.pathname") == "/ui/sign-in"
