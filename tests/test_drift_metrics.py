"""Drift watch in ``/metrics``: lookups of clients and items the served bundle does (not)
know, counted by hand; the served model's age; and the alert rules of
``deploy/prometheus/alerts.yml``, parsed, naming only series a real scrape exposes."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from serving.app import create_app
from tests.conftest import settings_for
from tests.servers import LOOPBACK, ROOT

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
#: PromQL words the rules use that are not series names.
PROMQL = {"sum", "max", "min", "avg", "rate", "increase", "and", "or", "unless", "by", "without"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) → value of a Prometheus scrape, by the client's parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _lookups(text: str) -> dict[tuple[str, str], float]:
    found = _samples(text)
    return {
        (dict(labels)["kind"], dict(labels)["known"]): value
        for (name, labels), value in found.items()
        if name == "recsys_lookups_total"
    }


def test_metrics_count_unknown_clients_and_items_and_the_age(bundles: Path, tmp_path: Path) -> None:
    """Router paths (``mode`` and a basket are never answered by the fast path)."""
    original = next(p for p in bundles.iterdir() if p.is_dir())
    clients = [str(c) for c in np.load(original / "clients.npy")[:2]]
    items = [str(i) for i in np.load(original / "items.npy")[:2]]
    created = datetime.fromisoformat(
        json.loads((original / "manifest.json").read_text())["created_at"]
    )
    with TestClient(create_app(settings_for(bundles, tmp_path)), client=LOOPBACK) as c:
        start = _lookups(c.get("/metrics").text)
        for who in (clients[0], clients[1], "nobody-1"):  # known, known then deleted, unknown
            assert c.get(f"/v1/clients/{who}/recommendations?mode=mixed").status_code == 200
        assert c.delete(f"/v1/clients/{clients[1]}").status_code == 200
        assert c.get(f"/v1/clients/{clients[1]}/next-best-offers").status_code == 200
        assert c.get(f"/v1/clients/{clients[0]}/next-best-offers").status_code == 200
        basket = {"items": [items[0], "NOPE-1", "NOPE-2"], "client_id": "nobody-2"}
        assert c.post("/v1/baskets/recommendations", json=basket).status_code == 200
        assert c.post("/v1/baskets/recommendations", json={"items": [items[1]]}).status_code == 200
        assert c.get(f"/v1/items/{items[0]}/related").status_code == 200
        assert c.get("/v1/items/NOPE-3/related").status_code == 404
        before = time.time()
        text = c.get("/metrics").text
        after = time.time()
    counted = {key: value - start.get(key, 0.0) for key, value in _lookups(text).items()}
    # clients known: clients[0] twice, clients[1] before its deletion; unknown: nobody-1,
    # clients[1] deleted, nobody-2. Items known: items[0] twice, items[1]; unknown: NOPE-1..3.
    assert counted == {
        ("client", "true"): 3.0,
        ("client", "false"): 3.0,
        ("item", "true"): 3.0,
        ("item", "false"): 3.0,
    }
    age = _samples(text)[("recsys_model_age_seconds", ())]
    assert before - created.timestamp() <= age <= after - created.timestamp()


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def _selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """Every series the expression reads: (name, label matchers). Matchers, ranges and
    grouping labels are taken out first, so what remains is functions and names."""
    matchers = re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}", expr)
    labelled = [(name, dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', body))) for name, body in matchers]
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(?:by|without)\s*\([^)]*\)", " ", expr)
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare)) - PROMQL
    return labelled + [(name, {}) for name in sorted(names - {n for n, _ in labelled})]


def test_alert_rules_parse_and_read_only_exposed_series(bundles: Path, tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(bundles, tmp_path)), client=LOOPBACK) as c:
        c.get("/v1/items/NOPE/related")  # every family has a sample now
        exposed = _samples(c.get("/metrics").text)
    rules = _rules()
    assert {rule["alert"] for rule in rules} >= {
        "RecsysModelTooOld",
        "RecsysUnknownClientShareHigh",
    }
    for rule in rules:
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] and rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]
        selectors = _selectors(rule["expr"])
        assert selectors, rule["alert"]
        for name, wanted in selectors:
            found = [dict(labels) for (n, labels) in exposed if n == name]
            assert found, f"{rule['alert']}: /metrics has no {name}"
            assert any(wanted.items() <= have.items() for have in found), (name, wanted)


def test_selectors_are_found_in_an_expression() -> None:
    """The parser the test above relies on, on a hand-made expression."""
    expr = 'sum by (job) (rate(a_total{kind="x", known="false"}[5m])) / sum(rate(b_total[5m])) > 2'
    assert _selectors(expr) == [("a_total", {"kind": "x", "known": "false"}), ("b_total", {})]
