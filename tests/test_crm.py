"""Next-best offers and the client screen, up to headless Chromium."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import uvicorn
from fastapi.testclient import TestClient

from recsys.data.cleaning import DEFAULT_NON_PRODUCT_PATTERNS
from serving.app import create_app
from tests.browser import browser, rows, text_of
from tests.conftest import features_file, settings_for
from tests.servers import LOOPBACK

AS_OF = "2009-12-10"


@pytest.fixture(scope="module")
def features(sample_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return features_file(sample_data, AS_OF, tmp_path_factory.mktemp("features"))


@pytest.fixture
def client(bundles: Path, features: Path, tmp_path: Path) -> Iterator[TestClient]:
    # Several CF sources, so some offers have two sources saying the same sentence.
    weights = {"ease": 1.0, "als": 0.5, "rp3beta": 0.5, "rules": 0.1, "analyst": 1, "popular": 0.1}
    settings = settings_for(bundles, tmp_path, features_path=features, blend_weights=weights)
    with TestClient(create_app(settings), client=LOOPBACK) as test_client:
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


def _by_hand(raw: pd.DataFrame, who: str, as_of: str) -> dict[str, object]:
    """A client's screen figures straight from the raw lines (strings): lines before
    ``as_of``, exact duplicates once, priced (> 0) product lines only; purchases are
    the non-cancelled (no "C" invoice) lines of positive quantity, returns the rest."""
    mine = raw[raw["Customer ID"].str.removesuffix(".0") == who].drop_duplicates()
    product = re.compile("|".join(DEFAULT_NON_PRODUCT_PATTERNS), re.IGNORECASE)
    quantity, price = mine["Quantity"].astype(float), mine["Price"].astype(float)
    mine = mine.assign(value=quantity * price)[
        (mine["InvoiceDate"] < as_of)
        & (price > 0)
        & ~mine["StockCode"].map(lambda code: bool(product.fullmatch(code)))
    ]
    bought = mine[~mine["Invoice"].str.startswith("C") & (mine["Quantity"].astype(float) > 0)]
    orders = bought.groupby("Invoice").agg(
        when=("InvoiceDate", "max"), lines=("StockCode", "size"), value=("value", "sum")
    )
    last = pd.Timestamp(bought["InvoiceDate"].max())
    return {
        "frequency": len(orders),
        "recency": (pd.Timestamp(as_of) - last).total_seconds() / 86_400,
        "monetary": mine["value"].sum(),
        "average_check": bought["value"].sum() / len(orders),
        "last_orders": [
            [order, o.when[:10], str(o.lines), f"£{o.value:,.2f}"]
            for order, o in orders.sort_values("when", ascending=False).head(5).iterrows()
        ],
    }


def _profile_shown(html: str) -> dict[str, object]:
    """The figures the screen's profile card and order history show, as text."""
    history = html[html.index('id="history"') :]
    return {
        "frequency": text_of(html, "frequency"),
        "recency": text_of(html, "recency"),
        "monetary": text_of(html, "monetary"),
        "average_check": text_of(html, "average-check"),
        "last_orders": [cells for _, cells in rows(history)][1:],  # below the header
    }


def _profile_expected(raw: pd.DataFrame, who: str, as_of: str) -> dict[str, object]:
    found = _by_hand(raw, who, as_of)
    return {
        "frequency": str(found["frequency"]),
        "recency": f"{found['recency']:.0f} days",
        "monetary": f"£{found['monetary']:,.2f}",
        "average_check": f"£{found['average_check']:,.2f}",
        "last_orders": found["last_orders"],
    }


def test_client_screen_and_unknown_client_page(
    client: TestClient, features: Path, sample_raw: pd.DataFrame
) -> None:
    table = pd.read_parquet(features)
    who = str(table.sort_values("frequency").index[-1])  # several orders: a real history
    page = client.get(f"/ui/clients/{who}")
    assert page.status_code == 200
    assert _profile_shown(page.text) == _profile_expected(sample_raw, who, AS_OF)
    assert text_of(page.text, "segment") == table.loc[who, "segment"]
    api = client.get(f"/v1/clients/{who}/next-best-offers?k=5").json()["offers"]
    shown = [attributes["data-item"] for attributes, _ in rows(page.text, "offer")]
    assert shown == [o["item_id"] for o in api] and len(shown) == 5
    unknown = client.get("/ui/clients/nobody-here")
    assert unknown.status_code == 200 and "No purchase history" in unknown.text
    found = client.get("/ui/clients", params={"client_id": who}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/ui/clients/{who}"
    assert client.get("/ui/at-risk").status_code == 200


def test_at_risk_lists_the_flagged_clients_by_net_spend(
    bundles: Path, sample_features: Path, sample_raw: pd.DataFrame, tmp_path: Path
) -> None:
    table = pd.read_parquet(sample_features)
    risky = table[table["churn_risk"]].sort_values("monetary", ascending=False).head(50)
    assert len(risky) == 50  # enough flagged clients for the limit to matter
    settings = settings_for(bundles, tmp_path, features_path=sample_features)
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        page = c.get("/ui/at-risk").text
    shown = [cells[:4] for _, cells in rows(page)][1:]
    assert shown == [
        [who, p.segment, f"{p.recency_days:.0f} days ago", f"£{p.monetary:,.2f}"]
        for who, p in risky.iterrows()
    ]
    top = str(risky.index[0])  # and its net spend from the raw lines
    assert shown[0][3] == f"£{_by_hand(sample_raw, top, '2011-01-01')['monetary']:,.2f}"


def _wait_ready(port: int) -> None:
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
    bundles: Path, features: Path, sample_raw: pd.DataFrame, tmp_path: Path
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
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/v1/clients/{who}/next-best-offers?k=5", timeout=30
        ) as answer:
            api = json.loads(answer.read())["offers"]
        shot = tmp_path / "client.png"
        subprocess.run(
            [*flags, f"--screenshot={shot}", "--window-size=1280,1400", url],
            capture_output=True,
            timeout=120,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert not thread.is_alive(), "the server did not stop"
    assert f"Client {who}" in dom, run.stderr[-2000:]
    assert _profile_shown(dom) == _profile_expected(sample_raw, who, AS_OF)
    assert text_of(dom, "segment") == table.loc[who, "segment"]
    shown = [attributes["data-item"] for attributes, _ in rows(dom, "offer")]
    assert shown == [o["item_id"] for o in api] and len(shown) == 5
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
    (row,) = [
        cells for attrs, cells in rows(page, "offer") if attrs["data-item"] == offer["item_id"]
    ]
    said = row[1]  # the offer's reasons, as read: the merged sentence once, not per source
    assert said.count(same) == 1, said
    rules = [
        r
        for o in client.get(f"/v1/clients/{who}/next-best-offers").json()["offers"]
        for r in o["reasons"]
        if r["source"] == "rules"
    ]
    for reason in rules:  # association evidence as numbers a manager reads
        assert f"confidence {reason['evidence']['confidence']:.0%}" in page
