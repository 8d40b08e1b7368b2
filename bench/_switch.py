"""bench/serve.py's scenarios where every cache key changes under a cached load.

``steady``: wrk cycles through the ``?k=10`` lists of 500 clients, all cached first.
``promote``: the same for twice as long, and a quarter in a new bundle version is
named in ``CURRENT`` and ``POST /v1/model/reload`` loads it (warm-up, then the switch).
``experiment``: the same, an experiment (two arms, one with its own blend) written to
the experiments file and reloaded a quarter in. Beside wrk, a watcher
asks a sample of the clients every 20 ms and records what it got, so the run can
say how many stale and degraded answers there were and whether a stale one came
after the staleness bound.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

MANY = """
local ids = {%s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/clients/" .. ids[(n %% #ids) + 1] .. "/recommendations?k=10")
end
"""


def many_script(tmp: Path, ids: list[str]) -> str:
    """The wrk script cycling through ``ids``' lists."""
    path = tmp / "many.lua"
    path.write_text(MANY % ", ".join(f'"{i}"' for i in ids))
    return str(path)


def prime(port: int, ids: list[str]) -> None:
    """Ask each client's list once, so the load that follows is all hits."""
    for client in ids:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/clients/{client}/recommendations?k=10")


def new_version(bundles: Path, name: str) -> None:
    """The first bundle's files as another version, ``name`` (not served yet)."""
    original = next(p for p in sorted(bundles.iterdir()) if (p / "manifest.json").exists())
    target = bundles / name
    shutil.copytree(original, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["version"] = name
    (target / "manifest.json").write_text(json.dumps(manifest))


def reload(port: int) -> None:
    """``POST /v1/model/reload`` (loopback: no key needed)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/model/reload", method="POST")
    urllib.request.urlopen(request, timeout=60).read()


def promote(port: int, bundles: Path, name: str) -> None:
    """Serve the version ``name`` (already in ``bundles``)."""
    (bundles / "CURRENT").write_text(name)
    reload(port)


def no_experiments(tmp: Path) -> Path:
    """The experiments file the served app starts with: none running."""
    path = tmp / "experiments.json"
    path.write_text(json.dumps({"experiments": []}))
    return path


def experiment(port: int, path: Path, name: str | None) -> None:
    """Start the experiment ``name`` (a new one each time: its arms are new keys), or
    stop every experiment (``None``)."""
    if name is None:
        path.write_text(json.dumps({"experiments": []}))
    else:
        arms = [
            {"name": f"{name}-a", "share": 50},
            {"name": f"{name}-b", "share": 50, "blend": {"ease": 1.0, "popular": 0.1}},
        ]
        body = {"name": name, "control": f"{name}-a", "start": "2000-01-01", "arms": arms}
        path.write_text(json.dumps({"experiments": [body]}))
    reload(port)


class Watcher(threading.Thread):
    """Asks a sample of clients every 20 ms while the load runs; records each answer's
    time, version and flags."""

    def __init__(self, port: int, ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.port, self.ids, self.seen = port, ids, []  # type: ignore[var-annotated]
        self.done = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.done.is_set():
            client = self.ids[n % len(self.ids)]
            url = f"http://127.0.0.1:{self.port}/v1/clients/{client}/recommendations?k=10"
            body = json.loads(urllib.request.urlopen(url, timeout=30).read())
            self.seen.append(
                (time.monotonic(), body.get("stale", False), body.get("degraded", False))
            )
            n += 1
            time.sleep(0.02)


def switch_run(
    run_load: Any, seconds: int, port: int, ids: list[str], action: Any, bound: float
) -> dict[str, float]:
    """``run_load()`` (wrk) with ``action()`` halfway, the watcher beside it: wrk's
    figures plus the watched answers: stale, degraded, stale after the bound."""
    prime(port, ids)
    watcher, switched = Watcher(port, ids[::25]), {}

    def later() -> None:
        time.sleep(seconds / 2)
        switched["at"] = time.monotonic()
        action()
        switched["done"] = time.monotonic()

    trigger = threading.Thread(target=later, daemon=True)
    watcher.start()
    trigger.start()
    found = run_load()
    trigger.join(60)
    watcher.done.set()
    watcher.join(60)
    late = [t for t, stale, _ in watcher.seen if stale and t > switched["done"] + bound]
    found |= {
        "watched": len(watcher.seen),
        "stale_seen": sum(s for _, s, _ in watcher.seen),
        "degraded_seen": sum(d for _, _, d in watcher.seen),
        "stale_after_bound": len(late),
        "switch_s": switched["done"] - switched["at"],
    }
    return found
