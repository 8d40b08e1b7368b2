"""Next-best offers and the client screen, up to headless Chromium."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import uvicorn
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.browser import browser
from tests.conftest import features_file, settings_for


@pytest.fixture(scope="module")
def features(sample_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return features_file(sample_data, "2009-12-10", tmp_path_factory.mktemp("features"))


@pytest.fixture
def client(bundles: Path, features: Path, tmp_path: Path) -> Iterator[TestClient]:
    # Several CF sources, so some offers have two sources saying the same sentence.
    weights = {"ease": 1.0, "als": 0.5, "rp3beta": 0.5, "rules": 0.1, "analyst": 1, "popular": 0.1}
    settings = settings_for(bundles, tmp_path, features_path=features, blend_weights=weights)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_next_best_offers_profile_offers_history(client: TestClient, features: Path) -> None:
    table = pd.read_parquet(features)
    who = str(table.sort_values("frequency").index[-1])
    body = client.get(f"/v1/clients/{who}/next-best-offers?k=3").json()
    profile = body["profile"]
    assert profile["frequency"] == table.loc[who, "frequency"]
    assert profile["segment"] == table.loc[who, "segment"]
    assert len(body["offers"]) == 3 and all(o["reasons"] for o in body["offers"])
    assert body["last_orders"] and body["next_contact"]
    unknown = client.get("/v1/clients/not-a-client/next-best-offers").json()
    assert unknown["profile"] is None and unknown["offers"]
    assert client.get("/v1/clients/x/next-best-offers?k=0").status_code == 422


def test_client_screen_and_unknown_client_page(client: TestClient, features: Path) -> None:
    table = pd.read_parquet(features)
    who = str(table.index[0])
    page = client.get(f"/ui/clients/{who}")
    assert page.status_code == 200 and table.loc[who, "segment"] in page.text
    unknown = client.get("/ui/clients/nobody-here")
    assert unknown.status_code == 200 and "No purchase history" in unknown.text
    found = client.get("/ui/clients", params={"client_id": who}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/ui/clients/{who}"
    assert client.get("/ui/at-risk").status_code == 200


def _wait_ready(port: int) -> None:
    import urllib.request

    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the service did not become ready")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_client_screen_in_headless_chromium(
    bundles: Path,
    features: Path,
    tmp_path: Path,
) -> None:
    binary = browser()
    port = _free_port()
    settings = settings_for(bundles, tmp_path, features_path=features)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait_ready(port)
        table = pd.read_parquet(features)
        who = str(table.sort_values("monetary").index[-1])
        url = f"http://127.0.0.1:{port}/ui/clients/{who}"
        flags = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
        ]
        run = subprocess.run(
            [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
        )
        dom = run.stdout
        shot = tmp_path / "client.png"
        subprocess.run(
            [*flags, f"--screenshot={shot}", "--window-size=1280,1400", url],
            capture_output=True,
            timeout=120,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert f"Client {who}" in dom, run.stderr[-2000:]
    assert f'id="frequency">{table.loc[who, "frequency"]}<' in dom
    assert table.loc[who, "segment"] in dom
    assert dom.count('class="offer"') == 5
    assert shot.exists() and shot.stat().st_size > 10_000


def _a_client_with_cf_offers(client: TestClient, table: pd.DataFrame) -> tuple[str, dict]:
    """A client one of whose offers has two sources saying the same sentence."""
    for who in table.sort_values("frequency").index[::-1][:200]:
        body = client.get(f"/v1/clients/{who}/next-best-offers?k=5").json()
        for offer in body["offers"]:
            texts = [r["text"] for r in offer["reasons"]]
            if len(set(texts)) < len(texts):
                return str(who), offer
    raise AssertionError("no client with the same sentence from two sources")


def test_the_screen_says_reasons_in_words(client: TestClient, features: Path) -> None:
    table = pd.read_parquet(features)
    who, offer = _a_client_with_cf_offers(client, table)
    page = client.get(f"/ui/clients/{who}").text
    assert "{'" not in page and "[als]" not in page  # no Python dict or list reprs
    assert "<details>" in page and "Evidence" in page
    texts = [r["text"] for r in offer["reasons"]]
    same = next(t for t in texts if texts.count(t) > 1)
    sources = [r["source"] for r in offer["reasons"] if r["text"] == same]
    line = next(part for part in page.split('<div class="reason">')[1:] if part.startswith(same))
    labels = {"als": "ALS matrix factorisation", "ease": "EASE linear autoencoder"}
    labels |= {"rp3beta": "random-walk neighbours (RP3beta)", "itemknn": "item-to-item neighbours"}
    assert " and ".join(labels[s] for s in sources) in line  # one line naming both
    assert page.count(f'<div class="reason">{same}') >= 1
    rules = [
        r
        for o in client.get(f"/v1/clients/{who}/next-best-offers").json()["offers"]
        for r in o["reasons"]
        if r["source"] == "rules"
    ]
    for reason in rules:  # association evidence as numbers a manager reads
        assert f"confidence {reason['evidence']['confidence']:.0%}" in page
