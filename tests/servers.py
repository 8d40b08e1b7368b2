"""Real processes for the tests: free ports, redis-server, and the service under uvicorn."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


#: The address an in-process ``TestClient`` calls from: the service's protected mode
#: lets loopback callers write without keys, as a local ``recsys serve`` does.
LOOPBACK = ("127.0.0.1", 50000)


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environ() -> dict[str, str]:
    """This process's environment without any ``RECSYS_*`` setting: a service a test
    starts sees only the settings the test gives it, whatever the shell exports."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_")}


def until(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll ``condition`` every 20 ms until it is true; fail after ``seconds`` (a
    deadline for a stuck system, not a measurement: keep it generous)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.02)


def wait_for_port(port: int, seconds: float = 10) -> None:
    """Until something accepts connections on ``port``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def start_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """A real redis-server on ``port`` (no persistence), once it accepts connections."""
    binary = shutil.which("redis-server") or "redis-server"
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    process = subprocess.Popen(
        [*command, "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port)
    except AssertionError:
        process.kill()
        raise
    return process


def serve(
    bundles: Path,
    events: Path,
    port: int,
    log: Path | None = None,
    *,
    host: str = "127.0.0.1",
    **env: str,
) -> subprocess.Popen[bytes]:
    """The service under uvicorn on ``host:port``, once ``/readyz`` answers on loopback;
    extra ``RECSYS_*`` settings as keyword arguments; its output goes to ``log`` when
    given."""
    settings = {
        "RECSYS_BUNDLE_PATH": str(bundles),
        "RECSYS_EVENTS_PATH": str(events),
        "RECSYS_CATALOGUE_PATH": str(events.parent / "catalogue.jsonl"),
        "RECSYS_TOMBSTONES_PATH": str(events.parent / "tombstones.txt"),
        "RECSYS_IMPRESSIONS_PATH": str(events.parent / "impressions.jsonl"),
        "RECSYS_OUTCOMES_PATH": str(events.parent / "outcomes.jsonl"),
        "RECSYS_ACCESS_PATH": str(events.parent / "access.json"),
        "RECSYS_SESSION_SECRET_PATH": str(events.parent / "session.key"),
        "RECSYS_AUDIT_PATH": str(events.parent / "audit.jsonl"),
        "RECSYS_RELOAD_INTERVAL_SECONDS": "0",
        "RECSYS_LIST_BUDGET_MS": "0",  # as tests.conftest.settings_for: lists wait
        **{f"RECSYS_{key.upper()}": value for key, value in env.items()},
    }
    command = [sys.executable, "-m", "uvicorn", "serving.app:create_app", "--factory"]
    command += ["--host", host, "--port", str(port), "--log-level", "info" if log else "warning"]
    out = log.open("wb") if log else None
    process = subprocess.Popen(
        command, env={**clean_environ(), **settings}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
    )
    for _ in range(300):
        if process.poll() is not None:  # it failed (its port taken…): at once, not in 30 s
            raise AssertionError(f"server on port {port} exited with {process.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("server did not start")
