"""What signing in costs a CRM page visit: the client screen as it was before
sign-in existed (commit ``--before``, checked out beside this one with
``git worktree``, no keys: an open page), against this code with a signed-in
user's session, on the same bundle and the same clients, in alternating rounds;
and the session check alone. In process (TestClient), one process per measurement.

    .venv/bin/python bench/pages.py [--events PATH] [--visits 300] [--rounds 5]
                                    [--before 3d9cb64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
from bench.serve import SHARED, train_bundle  # noqa: E402

#: Run in a fresh process with ``sys.path[0]`` the tree measured: ms per visit.
VISITS = r"""
import json, sys, time
from pathlib import Path
root, bundles, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
signed, ids = sys.argv[4] == "1", json.loads(sys.argv[5])
sys.path.insert(0, root)
from fastapi.testclient import TestClient
from serving.app import create_app
from serving.settings import ServingSettings
names = ("events", "catalogue", "outcomes", "impressions", "tombstones")
names += ("access", "audit", "session_secret")
paths = {f"{n}_path": work / n for n in names if f"{n}_path" in ServingSettings.model_fields}
settings = ServingSettings(bundle_path=bundles, reload_interval_seconds=0, **paths)
with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as web:
    if signed:
        page = web.get("/ui/sign-in").text
        token = page.split('name="csrf" value="')[1].split('"')[0]
        form = {"username": "ann", "password": "a long passphrase", "csrf": token}
        assert web.post("/ui/sign-in", data=form).status_code == 200
    cookie = "; ".join(f"{k}={v}" for k, v in web.cookies.items()).encode()

    async def visits(batch):
        # The app itself, called in its own loop: the server's cost of a page, not
        # the test client's (its thread hops and cookie jar cost more than the page).
        start, statuses = time.perf_counter(), []
        for each in batch:
            scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                     "method": "GET", "scheme": "http", "path": f"/ui/clients/{each}",
                     "raw_path": f"/ui/clients/{each}".encode(), "root_path": "",
                     "query_string": b"", "headers": [(b"host", b"testserver"),
                     (b"cookie", cookie)], "client": ("127.0.0.1", 50000),
                     "server": ("testserver", 80), "state": {}}
            async def receive():
                return {"type": "http.request", "body": b"", "more_body": False}
            async def send(message):
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])
            await web.app(scope, receive, send)
        assert set(statuses) == {200}, set(statuses)
        return (time.perf_counter() - start) / len(batch)

    web.portal.call(visits, ids[:20])
    took = web.portal.call(visits, ids)
    check = None
    if signed:
        import timeit
        cookie, users = web.cookies["recsys_session"], web.app.state.context.keys.known.users
        read = web.app.state.sessions.read
        check = min(timeit.repeat(lambda: read(cookie, users, None), number=2000)) / 2000
print(json.dumps({"visit": took, "check": check}))
"""


def _measure(root: Path, bundles: Path, work: Path, signed: bool, ids: list[str]) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    args = [str(root), str(bundles), str(work), "1" if signed else "0", json.dumps(ids)]
    done = subprocess.run([sys.executable, "-c", VISITS, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"measuring {root} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", default=str(SHARED))
    parser.add_argument("--format", default="online-retail")
    parser.add_argument("--visits", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", default="3d9cb64")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        before = tmp / "before"
        git = ["git", "-C", str(ROOT), "worktree"]
        subprocess.run([*git, "add", "--detach", str(before), args.before], check=True)
        try:
            _compare(args, tmp, before)
        finally:
            subprocess.run([*git, "remove", "--force", str(before)], check=False)


def _compare(args: argparse.Namespace, tmp: Path, before: Path) -> None:
    from recsys.bundle import Bundle
    from serving.auth.records import FileAccess

    # Trained by the older code: a bundle both trees read.
    bundle = train_bundle(args.events, args.format, tmp / "bundles", before)
    ids = [str(c) for c in Bundle.load(bundle).data.clients.ids[: args.visits]]
    people = tmp / "now"
    people.mkdir()
    FileAccess(people / "access").add_user("ann", "manager", "a long passphrase")
    rows: dict[str, list[float]] = {"before (open page)": [], "now (signed in)": []}
    checks = []
    for n in range(args.rounds):
        old = _measure(before, tmp / "bundles", tmp / f"old{n}", False, ids)
        new = _measure(ROOT, tmp / "bundles", people, True, ids)
        rows["before (open page)"].append(old["visit"] * 1e3)
        rows["now (signed in)"].append(new["visit"] * 1e3)
        checks.append(new["check"] * 1e6)
    _report(rows, checks)


def _report(rows: dict[str, list[float]], checks: list[float]) -> None:
    medians = {name: statistics.median(values) for name, values in rows.items()}
    for name, ms in medians.items():
        print(f"{name:>20}: {ms:.3f} ms per client screen (median of {len(rows[name])} rounds)")
    before, now = medians.values()
    print(f"difference: {now - before:+.3f} ms per visit (ratio {now / before:.3f})")
    print(f"session check alone: {statistics.median(checks):.1f} µs")


if __name__ == "__main__":
    main()
