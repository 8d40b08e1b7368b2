"""Access over real networks: protected mode seen from another network namespace
(a veth pair: the request comes from a non-loopback address and never leaves this
machine), and a key rotated in Redis taking effect on two real replicas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from serving.auth.records import RedisAccess
from tests.conftest import IN_CI, a_client
from tests.servers import free_port, serve, start_redis, until

#: Run inside the namespace: one request, its status and JSON body printed.
CALL = """
import json, sys, urllib.error, urllib.request
url, method, body, key = sys.argv[1:5]
request = urllib.request.Request(url, method=method, data=body.encode() or None,
    headers={"Content-Type": "application/json", **({"X-API-Key": key} if key else {})})
try:
    answer = urllib.request.urlopen(request, timeout=20)
except urllib.error.HTTPError as error:
    answer = error
print(json.dumps({"status": answer.status, "body": json.loads(answer.read() or b"null")}))
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def namespace() -> Iterator[tuple[str, str]]:
    """A namespace joined to this one by a veth pair: (its name, this side's address)."""
    tag = f"rs{os.getpid() % 10000}"
    net = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}"
    try:
        _ip("netns", "add", tag)
        _ip("link", "add", f"{tag}a", "type", "veth", "peer", "name", f"{tag}b")
        _ip("link", "set", f"{tag}b", "netns", tag)
        _ip("addr", "add", f"{net}.1/30", "dev", f"{tag}a")
        _ip("link", "set", f"{tag}a", "up")
        _ip("netns", "exec", tag, "ip", "addr", "add", f"{net}.2/30", "dev", f"{tag}b")
        _ip("netns", "exec", tag, "ip", "link", "set", f"{tag}b", "up")
    except (OSError, subprocess.CalledProcessError) as error:
        subprocess.run(["ip", "netns", "del", tag], capture_output=True, check=False)
        reason = f"cannot make a network namespace here ({error}): needs root and iproute2"
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    yield tag, f"{net}.1"
    subprocess.run(["ip", "link", "del", f"{tag}a"], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "del", tag], capture_output=True, check=False)


def _from(tag: str, url: str, method: str = "GET", body: Any = None, key: str = "") -> Any:
    command = ["ip", "netns", "exec", tag, sys.executable, "-c", CALL, url, method]
    command += [json.dumps(body) if body is not None else "", key]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def _local(url: str, method: str = "GET", body: Any = None, key: str = "") -> int:
    headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        return int(urllib.request.urlopen(request, timeout=20).status)
    except urllib.error.HTTPError as error:
        return error.code


def test_protected_mode_from_another_namespace(
    bundles: Path, tmp_path: Path, namespace: tuple[str, str]
) -> None:
    tag, address = namespace
    port = free_port()
    client, bought = a_client(bundles)
    event = {"client_id": client, "item_id": sorted(bought)[0], "type": "view"}
    server = serve(bundles, tmp_path / "events.jsonl", port, host="0.0.0.0")
    try:
        away = f"http://{address}:{port}"
        refused = _from(tag, f"{away}/v1/events", "POST", event)
        assert refused["status"] == 403
        assert "RECSYS_OPEN_ACCESS" in refused["body"]["detail"]
        read = _from(tag, f"{away}/v1/clients/{client}/recommendations")
        assert read["status"] == 200 and read["body"]["items"]
        assert _local(f"http://127.0.0.1:{port}/v1/events", "POST", event) == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert len((tmp_path / "events.jsonl").read_text().splitlines()) == 1


def test_a_key_rotated_in_redis_reaches_both_replicas(bundles: Path, tmp_path: Path) -> None:
    redis_port, ports = free_port(), (free_port(), free_port())
    store = start_redis(redis_port, tmp_path)
    url = f"redis://127.0.0.1:{redis_port}/0"
    env = {"redis_url": url, "access_reload_seconds": "0.2"}
    replicas = [serve(bundles, tmp_path / f"ev-{p}.jsonl", p, **env) for p in ports]
    access = RedisAccess(redis.Redis.from_url(url))
    client, _ = a_client(bundles)
    urls = [f"http://127.0.0.1:{p}/v1/clients/{client}/recommendations" for p in ports]
    try:
        old = access.add_key("shop", ["read"])
        for each in urls:
            until(lambda u=each: _local(u, key=old) == 200 and _local(u) == 401, 20, "key")
        new = access.add_key("shop-2", ["read"])
        access.revoke_key("shop")
        for each in urls:
            until(lambda u=each: _local(u, key=old) == 403, 20, "revoked everywhere")
            assert _local(each, key=new) == 200
    finally:
        for process in [*replicas, store]:
            process.terminate()
            process.wait(timeout=30)
