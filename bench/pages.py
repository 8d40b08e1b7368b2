"""What signing in costs a CRM page visit: the client screen visited with a valid
session of a signed-in user, against the same screen on a service with no users
(a loopback visitor: the page as it was before sign-in, plus its own CSRF cookie),
and the session check alone. In process (TestClient), the same bundle, the same
clients, alternating rounds; prints medians and the difference per visit.

    .venv/bin/python bench/pages.py [--events PATH] [--visits 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.serve import SHARED, train_bundle
from serving.app import create_app
from serving.auth.records import FileAccess
from serving.settings import ServingSettings

LOOPBACK = ("127.0.0.1", 50000)


def _app(tmp: Path, bundles: Path, name: str) -> TestClient:
    work = tmp / name
    work.mkdir()
    fields = {f"{k}_path": work / f"{k}.x" for k in ("events", "catalogue", "outcomes")}
    settings = ServingSettings(
        bundle_path=bundles,
        access_path=work / "access.json",
        reload_interval_seconds=0,
        session_secret_path=work / "session.key",
        audit_path=work / "audit.jsonl",
        impressions_path=work / "imp.jsonl",
        tombstones_path=work / "t.txt",
        **fields,
    )
    return TestClient(create_app(settings), client=LOOPBACK)


def _visits(client: TestClient, ids: list[str]) -> float:
    start = time.perf_counter()
    for each in ids:
        assert client.get(f"/ui/clients/{each}").status_code == 200
    return (time.perf_counter() - start) / len(ids)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", default=str(SHARED))
    parser.add_argument("--format", default="online-retail")
    parser.add_argument("--visits", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        bundle = train_bundle(args.events, args.format, tmp / "bundles")
        FileAccess(tmp / "people" / "access.json").add_user("ann", "manager", "a long passphrase")
        plain, signed = _app(tmp, tmp / "bundles", "plain"), _app(tmp, tmp / "bundles", "people")
        with plain, signed:
            page = signed.get("/ui/sign-in").text
            token = page.split('name="csrf" value="')[1].split('"')[0]
            form = {"username": "ann", "password": "a long passphrase", "csrf": token}
            assert signed.post("/ui/sign-in", data=form).status_code == 200
            from recsys.bundle import Bundle

            ids = [str(c) for c in Bundle.load(bundle).data.clients.ids[: args.visits]]
            _visits(plain, ids[:20]), _visits(signed, ids[:20])  # warm both
            times: dict[str, list[float]] = {"no users": [], "signed in": []}
            for _ in range(args.rounds):
                times["no users"].append(_visits(plain, ids))
                times["signed in"].append(_visits(signed, ids))
            _report(times, signed)


def _report(times: dict[str, list[float]], signed: TestClient) -> None:
    medians = {name: statistics.median(each) * 1e3 for name, each in times.items()}
    for name, ms in medians.items():
        print(f"{name:>10}: {ms:.3f} ms per client screen (median of {len(times[name])} rounds)")
    print(f"difference: {medians['signed in'] - medians['no users']:+.3f} ms per visit")
    app = signed.app
    cookie = signed.cookies["recsys_session"]
    users = app.state.context.keys.known.users  # type: ignore[attr-defined]
    check = app.state.sessions.read  # type: ignore[attr-defined]
    alone = min(timeit.repeat(lambda: check(cookie, users, None), number=2000)) / 2000
    print(f"session check alone: {alone * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
