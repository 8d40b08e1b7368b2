"""The served model's age and retrain record in ``/v1/model``, and the ``/ui/model`` page.

A folder of bundles is made by hand: the session bundle linked under a new version (the
one served, with a hand-written ``retrain.json``), and beside it and under
``candidates/`` manifests with their own records (or none), with known times. Every
figure the page must show is written here as the page should print it."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.auth.records import FileAccess
from serving.model_page import backtest_rows, decisions, human_age, retrain_view
from tests.browser import rows, text_of
from tests.conftest import settings_for
from tests.servers import LOOPBACK

PASSWORD = "correct horse battery staple"
AWAY = ("203.0.113.7", 4000)
#: How long before the test the served bundle was trained: its age reads "3 days 4 h"
#: for the 50 minutes after the fixture writes it.
SERVED_AGE = timedelta(days=3, hours=4, minutes=10)
REJECTED = "cleaning: new events (week.jsonl): step 'duplicates' removed 51% (limit 50%)"
FLOOR = "coverage@10: 0.0673 against a floor of 0.1380 (0.9 × production's 0.1534)"
CHECKS = [
    {"name": "ndcg@10", "status": "pass", "detail": "upper bound +0.0015 ≥ −0.005"},
    {"name": "rows kept", "status": "skipped", "detail": "production recorded no count"},
    {"name": "events per day", "status": "pass", "detail": "0.94 of the weeks before"},
]
BACKTEST = {
    "candidate": {"ndcg@10": 0.1141, "coverage@10": 0.1637},
    "production": {"ndcg@10": 0.1139, "coverage@10": 0.1608},
    "difference": {"ndcg@10": 0.0002, "ci95": [-0.0011, 0.0015]},
}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _diff(items: list[str]) -> dict[str, Any]:
    """A diff from v2 naming the bundle's first three items and one it does not know.
    The top added rules are written out of lift order: the page sorts them."""
    i0, i1, i2 = items
    rule = {"antecedent": [i0], "consequent": i1, "confidence": 0.5, "lift": 12.5}
    strong = {"antecedent": [i1, i2], "consequent": i0, "confidence": 0.8, "lift": 30.3}
    gone = {"antecedent": ["GONE-1"], "consequent": i2, "confidence": 0.25, "lift": 4.0}
    return {
        "a": "v2",
        "b": "v3",
        "clients": {"added": 12, "removed": 3, "a": 991, "b": 1000},
        "items": {"added": 40, "removed": 7, "a": 3000, "b": 3033},
        "rules": {
            "added": 5,
            "removed": 2,
            "changed": 9,
            "a": 120,
            "b": 123,
            "top_added": [rule, strong],
            "top_removed": [gone],
        },
        "sampled_clients": 500,
        "lists_changed_share": 0.316,
        "rank_biased_overlap": 0.8123,
        "coverage": {"a": 0.1534, "b": 0.1608},
    }


def _gate(decision: str, reasons: list[str], checks: list[Any]) -> dict[str, Any]:
    return {"decision": decision, "reasons": reasons, "checks": checks, "config": {}}


def _manifest(directory: Path, version: str, created: datetime) -> None:
    directory.mkdir(parents=True)
    record = {"version": version, "created_at": _iso(created), "models": {}}
    (directory / "manifest.json").write_text(json.dumps(record))


def _linked(original: Path, target: Path, version: str, created: datetime) -> None:
    """A bundle sharing ``original``'s files (symbolic links) under its own manifest."""
    target.mkdir(parents=True)
    for part in original.iterdir():
        if part.name not in ("manifest.json", "retrain.json"):
            (target / part.name).symlink_to(part)
    manifest = json.loads((original / "manifest.json").read_text())
    manifest.update(version=version, created_at=_iso(created))
    (target / "manifest.json").write_text(json.dumps(manifest))


def _record(directory: Path, record: dict[str, Any]) -> None:
    (directory / "retrain.json").write_text(json.dumps(record))


@pytest.fixture
def home(bundles: Path, tmp_path: Path) -> Path:
    """v3 served (CURRENT); v2 promoted before it; v1 by ``recsys train`` (no record);
    candidates v4 rejected and v5 a dry run; a broken manifest and a hidden work
    directory that must not be listed."""
    home, now = tmp_path / "bundles", datetime.now(UTC).replace(microsecond=0)
    original = next(p for p in bundles.iterdir() if p.is_dir())
    _linked(original, home / "v3", "v3", now - SERVED_AGE)
    items = [str(i) for i in np.load(original / "items.npy")[:3]]
    record = {"rules": {}, "gate": _gate("promoted", [], CHECKS), "inputs": {}}
    record.update(diff=_diff(items), backtest=BACKTEST, production="v2")
    _record(home / "v3", {**record, "decided_at": _iso(now - SERVED_AGE)})
    _manifest(home / "v1", "v1", now - timedelta(days=17))
    _manifest(home / "v2", "v2", now - timedelta(days=10))
    _record(home / "v2", {"gate": _gate("promoted", [], [])})
    _manifest(home / "candidates" / "v4", "v4", now - timedelta(days=2))
    _record(home / "candidates" / "v4", {"gate": _gate("rejected", [REJECTED], CHECKS)})
    _manifest(home / "candidates" / "v5", "v5", now - timedelta(days=1))
    _record(home / "candidates" / "v5", {"gate": {"decision": "dry-run", "reasons": [FLOOR]}})
    (home / "candidates" / "broken").mkdir()
    (home / "candidates" / "broken" / "manifest.json").write_text("{not json")
    _manifest(home / ".retrain-x1" / "v6", "v6", now)  # not a bundle folder's child
    _manifest(home / ".retrain-x2", "v7", now)  # a hidden directory with a manifest
    (home / "CURRENT").write_text("v3")
    return home


def _served_at(home: Path) -> str:
    """The served bundle's training time, as its manifest says."""
    return str(json.loads((home / "v3" / "manifest.json").read_text())["created_at"])


def _label(bundle: Path, item: str) -> str:
    """How the page names an item: "TITLE (id)", the id alone without a title."""
    ids = [str(i) for i in np.load(bundle / "items.npy")]
    title = str(np.load(bundle / "titles.npy")[ids.index(item)]) if item in ids else ""
    return f"{title} ({item})" if title else item


def _sign_in(web: TestClient, name: str) -> None:
    web.cookies.clear()
    form = web.get("/ui/sign-in").text
    found = re.search(r'name="csrf" value="([^"]+)"', form)
    assert found is not None
    fields = {"username": name, "password": PASSWORD, "csrf": found.group(1)}
    assert web.post("/ui/sign-in", data=fields).status_code == 200


def test_model_page_for_analysts_and_admins(home: Path, tmp_path: Path) -> None:
    settings = settings_for(home, tmp_path / "run")
    access = FileAccess(settings.access_path)
    for name, role in (("ann", "manager"), ("ana", "analyst"), ("ada", "admin")):
        access.add_user(name, role, PASSWORD)
    with TestClient(create_app(settings), client=AWAY) as web:
        _sign_in(web, "ann")
        refused, clients = web.get("/ui/model"), web.get("/ui/clients").text
        _sign_in(web, "ada")
        assert web.get("/ui/model").status_code == 200
        _sign_in(web, "ana")
        page = web.get("/ui/model")
    assert refused.status_code == 403 and 'href="/ui/model"' not in clients
    assert page.status_code == 200 and 'href="/ui/model"' in page.text
    html = page.text
    assert text_of(html, "version") == "v3" and text_of(html, "age") == "3 days 4 h"
    assert text_of(html, "created") == _served_at(home)
    assert text_of(html, "production") == "v2" and "no-retrain" not in html
    assert [cells for _, cells in rows(html, "check")] == [list(c.values()) for c in CHECKS]
    assert [cells for _, cells in rows(html, "side")] == [
        ["candidate", "0.1141", "0.1637"],
        ["production", "0.1139", "0.1608"],
        ["candidate − production", "+0.0002 (95 % CI [-0.0011, +0.0015])", ""],
    ]
    assert [cells for _, cells in rows(html, "count")] == [
        ["clients", "12", "3", "", "991", "1000"],
        ["items", "40", "7", "", "3000", "3033"],
        ["rules", "5", "2", "9", "120", "123"],
    ]
    shown = {name: text_of(html, name) for name in ("lists-changed", "rbo")}
    assert shown == {"lists-changed": "31.6 %", "rbo": "0.812"}
    assert (text_of(html, "coverage-before"), text_of(html, "coverage-now")) == ("15.3 %", "16.1 %")
    original = (home / "v3" / "items.npy").resolve().parent
    i0, i1, i2 = (str(i) for i in np.load(original / "items.npy")[:3])
    name = {i: _label(original, i) for i in (i0, i1, i2, "GONE-1")}
    assert [cells for _, cells in rows(html, "added")] == [
        [f"{name[i1]} and {name[i2]} → {name[i0]}", "80.0 %", "30.3"],  # highest lift first
        [f"{name[i0]} → {name[i1]}", "50.0 %", "12.5"],
    ]
    assert [cells for _, cells in rows(html, "removed")] == [
        [f"GONE-1 → {name[i2]}", "25.0 %", "4.0"]
    ]
    listed = [(attrs["data-version"], cells) for attrs, cells in rows(html, "decision")]
    assert [version for version, _ in listed] == ["v5", "v4", "v3", "v2", "v1"]  # newest first
    assert [cells[2] for _, cells in listed] == [
        "dry-run",
        "rejected",
        "promoted",
        "promoted",
        "no retrain record",
    ]
    assert [cells[3] for _, cells in listed] == [FLOOR, REJECTED, "", "", ""]
    assert listed[2][1][0] == "v3 served" and listed[0][1][0] == "v5 candidate"


def test_v1_model_age_and_retrain_record(home: Path, tmp_path: Path) -> None:
    created = datetime.fromisoformat(_served_at(home)).timestamp()
    with TestClient(create_app(settings_for(home, tmp_path / "run")), client=LOOPBACK) as c:
        before = time.time()
        body = c.get("/v1/model").json()
        after = time.time()
        sidecar = home / "v3" / "retrain.json"
        sidecar.write_text(json.dumps({"rules": {}}))  # an older record: the gate's part only
        older = c.get("/v1/model").json()["retrain"]
        sidecar.write_text("{cut sho")
        broken = c.get("/v1/model").json()["retrain"]
        sidecar.unlink()  # a bundle `recsys train` made
        none = c.get("/v1/model").json()
    assert before - created <= body["age_seconds"] <= after - created
    assert (body["version"], body["created_at"]) == ("v3", _served_at(home))
    assert {"data_fingerprint", "clients", "items", "models", "metrics", "notes"} <= set(body)
    retrain = body["retrain"]
    assert retrain["decision"] == "promoted" and retrain["reasons"] == []
    assert retrain["checks"] == CHECKS and retrain["backtest"] == BACKTEST
    assert retrain["diff"]["rules"]["changed"] == 9 and retrain["diff"]["a"] == "v2"
    assert (retrain["production"], retrain["decided_at"]) == ("v2", _served_at(home))
    empty = {"decision": None, "reasons": [], "checks": [], "backtest": None, "diff": None}
    assert older == {**empty, "production": None, "decided_at": None}
    assert broken is None and none["retrain"] is None and none["version"] == "v3"


def test_a_record_with_odd_parts_is_read_as_far_as_it_goes() -> None:
    odd = {
        "gate": {"decision": "rejected", "reasons": "not a list", "checks": [1, {"name": "x"}]},
        "backtest": [],
        "diff": {"lists_changed_share": float("nan")},
        "production": {"label": "production", "version": "7"},
    }
    view = retrain_view(odd)
    assert view is not None
    assert (view["decision"], view["reasons"]) == ("rejected", [])
    assert view["checks"] == [{"name": "x", "status": "", "detail": ""}]
    assert view["backtest"] is None and view["production"] == "production"
    assert retrain_view(None) is None
    first = backtest_rows({"candidate": {"ndcg@10": 0.1, "coverage@10": 0.2}})  # no production
    assert first == {"sides": {"candidate": (0.1, 0.2)}, "difference": None, "ci95": None}


def test_recent_decisions_are_cut_to_the_newest(home: Path) -> None:
    found = decisions(home / "v3", limit=2)
    assert [(d["version"], d["decision"], d["candidate"]) for d in found] == [
        ("v5", "dry-run", True),
        ("v4", "rejected", True),
    ]
    # Served from candidates/ (a forced candidate): the same folder is read.
    assert [d["version"] for d in decisions(home / "candidates" / "v4", limit=3)] == [
        "v5",
        "v4",
        "v3",
    ]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-5, "0 s"),
        (59, "59 s"),
        (61, "1 min"),
        (5 * 3600 + 12 * 60 + 9, "5 h 12 min"),
        (86400, "1 day 0 h"),
        (2 * 86400 + 3 * 3600 + 59, "2 days 3 h"),
    ],
)
def test_human_age(seconds: float, shown: str) -> None:
    assert human_age(seconds) == shown
