"""Several replicas (real uvicorn processes) sharing one real Redis: a purchase posted to
one is reflected by the others, rate limits are shared, and events survive Redis going
away. Loopback only, bounded in time.

Nothing here sleeps a fixed time before a check: each test polls for what it waits
for, up to a deadline that only a stuck system reaches (the machine may be two cores
shared with other work). How fast a purchase propagates is measured by
``bench/replicas.py``, not asserted here."""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from recsys.bundle import Bundle
from tests.conftest import a_client
from tests.servers import free_port, serve, start_redis, until

ADMIN = {"X-API-Key": "admin"}
#: Seconds a purchase may take to reach another replica before a test fails (it takes
#: milliseconds; this is a deadline for a stuck follower, not a latency target).
PROPAGATION = 15


def _call(port: int, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data)
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or ADMIN).items():
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


def _items(port: int, client: str) -> list[str]:
    body = _call(port, f"/v1/clients/{client}/recommendations?k=5")
    return [item["item_id"] for item in body["items"]]


@pytest.fixture
def replicas(bundles: Path, tmp_path: Path) -> Iterator[tuple[int, int, str]]:
    """Two replicas on one Redis (each with its own in-process cache level)."""
    redis_port, a, b = free_port(), free_port(), free_port()
    server = start_redis(redis_port, tmp_path)
    url = f"redis://127.0.0.1:{redis_port}/0"
    env = {"redis_url": url, "admin_api_key": "admin", "rate_limit_per_minute": "30"}
    processes = [serve(bundles, tmp_path / f"events-{port}.jsonl", port, **env) for port in (a, b)]
    try:
        yield a, b, url
    finally:
        for process in [*processes, server]:
            process.kill()
            process.wait(timeout=30)


def test_a_purchase_on_one_replica_reaches_the_others(
    replicas: tuple[int, int, str], bundles: Path
) -> None:
    a, b, url = replicas
    who, _ = a_client(bundles)
    before = _items(b, who)  # now cached in B's in-process level (and Redis)
    assert _items(b, who) == before
    top = before[0]
    assert _call(a, "/v1/events", {"client_id": who, "item_id": top}) == {"accepted": 1}
    until(lambda: top not in _items(b, who), PROPAGATION, "replica B drops the bought item")
    assert not any(top in _items(b, who) for _ in range(20))  # and it stays dropped
    stream = redis.Redis.from_url(url).xrange("recsys:events")
    assert [json.loads(fields[b"e"])["item_id"] for _, fields in stream] == [top]


def test_rate_limits_are_shared(replicas: tuple[int, int, str]) -> None:
    a, b, _ = replicas
    headers = {"X-API-Key": "admin"}
    # The windows are calendar minutes: all 40 requests must fall in one. Start with 10 s
    # left at least; should the minute still turn (a very slow run), the counts were
    # split between two windows: try once more from the start of a fresh minute.
    for attempt in range(2):
        if attempt or 60 - time.time() % 60 < 10:
            time.sleep(60 - time.time() % 60 + 0.05)
        minute, statuses = int(time.time() // 60), []
        for port in [a] * 20 + [b] * 20:
            try:
                _call(port, "/v1/clients/anyone/recommendations?k=3", headers=headers)
                statuses.append(200)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
        if int(time.time() // 60) == minute:
            break
    else:
        pytest.fail("the minute turned during both runs of 40 requests")
    assert statuses == [200] * 30 + [429] * 10  # B refuses once A and B made 30 together


def test_events_survive_redis_going_away(bundles: Path, tmp_path: Path) -> None:
    redis_port, port = free_port(), free_port()
    server = start_redis(redis_port, tmp_path)
    url = f"redis://127.0.0.1:{redis_port}/0"
    replica = serve(bundles, tmp_path / "pending.jsonl", port, redis_url=url, admin_api_key="a")
    clients = [str(c) for c in Bundle.load(next(bundles.iterdir())).data.clients.ids[:6]]
    headers = {"X-API-Key": "a"}
    try:
        _call(port, "/v1/events", {"client_id": clients[0], "item_id": "X1"}, headers)
        server.kill()
        server.wait(timeout=30)
        for who in clients[1:4]:  # acknowledged while Redis is down: kept locally
            assert _call(port, "/v1/events", {"client_id": who, "item_id": "X2"}, headers)
        assert _call(port, "/readyz", headers=headers)["events"].startswith("local file")
        pending = tmp_path / "pending.jsonl"
        assert len(pending.read_text().splitlines()) == 3
        server = start_redis(redis_port, tmp_path)  # empty: the first event is gone with it
        _call(port, "/v1/events", {"client_id": clients[4], "item_id": "X3"}, headers)
        stream = redis.Redis.from_url(url)
        until(
            lambda: stream.xlen("recsys:events") >= 4 and not pending.read_bytes(),
            30,
            "the kept events replayed into the stream and the local file emptied",
        )
        events = [json.loads(f[b"e"]) for _, f in stream.xrange("recsys:events")]
    finally:
        replica.kill()
        server.kill()
    assert sorted(e["client_id"] for e in events) == sorted(clients[1:5])
    assert len({e["event_id"] for e in events}) == 4
    assert (tmp_path / "pending.jsonl").read_bytes() == b""  # replayed, then emptied


def _haproxy(config: Path, port: int, replicas: list[int], workdir: Path) -> Any:
    """A real HAProxy on ``port`` with the repository's config, its servers being ``replicas``."""
    import shutil
    import subprocess

    from tests.conftest import IN_CI
    from tests.servers import wait_for_port

    binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if binary is None:
        if IN_CI:
            pytest.fail("haproxy is missing; CI must have it")
        pytest.skip("haproxy is missing")
    servers = "\n".join(
        f"    server replica{n} 127.0.0.1:{p}" for n, p in enumerate(replicas, start=1)
    )
    text = config.read_text().replace("bind :8080", f"bind 127.0.0.1:{port}")
    docker_dns = ("resolvers docker", "nameserver dns", "hold valid")
    lines = [
        servers if line.strip().startswith("server-template") else line
        for line in text.splitlines()
    ]
    text = "\n".join(line for line in lines if not line.strip().startswith(docker_dns))
    path = workdir / "haproxy.cfg"
    path.write_text(text + "\n")
    process = subprocess.Popen([binary, "-f", str(path), "-db"], stdout=subprocess.DEVNULL)
    wait_for_port(port)
    return process


def _load(port: int, clients: list[str], stop: Any, log: list[tuple[str, int]]) -> None:
    """GET lists and POST a view event in turn until ``stop``; record every status. A
    POST that gets no answer is retried with the same event_id, as a client would: up to
    three more times, 0.2 s apart (HAProxy may pick the dead replica again until its
    checks mark it down)."""
    n = 0
    while not stop.is_set():
        who = clients[n % len(clients)]
        n += 1
        if n % 5:
            log.append(("get", _status(port, f"/v1/clients/{who}/recommendations?k=5")))
            continue
        event = {"client_id": who, "item_id": f"V{port}-{n}", "type": "view", "event_id": f"e{n}"}
        status = _status(port, "/v1/events", event)
        if status != 200:
            log.append(("post retried", status))
        for _ in range(3):
            if status == 200:
                break
            time.sleep(0.2)
            status = _status(port, "/v1/events", event)
        log.append((f"{event['item_id']}:post", status))


def _status(port: int, path: str, body: Any = None) -> int:
    try:
        _call(port, path, body)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0
    return 200


def test_behind_haproxy_a_killed_replica_costs_no_request(bundles: Path, tmp_path: Path) -> None:
    import threading

    from tests.servers import ROOT

    redis_port, front = free_port(), free_port()
    ports = [free_port() for _ in range(3)]
    server = start_redis(redis_port, tmp_path)
    env = {"redis_url": f"redis://127.0.0.1:{redis_port}/0", "admin_api_key": "admin"}
    replicas = [serve(bundles, tmp_path / f"e{p}.jsonl", p, **env) for p in ports]
    proxy = _haproxy(ROOT / "deploy" / "haproxy.cfg", front, ports, tmp_path)
    clients = [str(c) for c in Bundle.load(next(bundles.iterdir())).data.clients.ids[:30]]
    stop, log = threading.Event(), []  # type: ignore[var-annotated]
    threads = [threading.Thread(target=_load, args=(front, clients, stop, log)) for _ in range(4)]
    try:
        # Every replica answers through HAProxy (round robin: 6 answers in a row visit
        # each of the 3 twice), then the load runs until it has made 100 requests.
        until(lambda: all(_status(front, "/readyz") == 200 for _ in range(6)), 30, "HAProxy up")
        for thread in threads:
            thread.start()
        until(lambda: len(log) >= 100, 60, "100 requests before the kill")
        replicas[0].kill()  # SIGKILL under load
        killed, at_kill = time.monotonic(), len(log)
        # On until 200 more requests are in and HAProxy has had the time to mark the
        # replica down (2 failed checks 500 ms apart, each up to 1 s: deploy/haproxy.cfg),
        # so requests both before and after the mark-down are judged.
        until(
            lambda: len(log) >= at_kill + 200 and time.monotonic() > killed + 4,
            60,
            "200 requests after the kill",
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        stream = redis.Redis.from_url(env["redis_url"])
        stored = {json.loads(f[b"e"])["item_id"] for _, f in stream.xrange("recsys:events")}
        for process in [proxy, *replicas, server]:
            process.kill()
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    retried = [entry for entry in log if entry[0] == "post retried"]
    failed = [entry for entry in log if entry[1] != 200 and entry[0] != "post retried"]
    acknowledged = {name.split(":")[0] for name, status in log if ":" in name and status == 200}
    print(
        f"\n{len(log)} requests through HAProxy; {len(failed)} failed; POSTs in flight on the"
        f" killed replica, retried by the client: {len(retried)}"
    )
    assert len(log) >= 300 and not failed  # GETs: HAProxy retries them on another replica
    assert len(retried) <= len(threads)  # at most the requests in flight at the kill
    assert acknowledged <= stored  # every acknowledged event is in the stream


def test_events_export_reads_every_replica_once_and_trims_on_request(
    replicas: tuple[int, int, str], bundles: Path, sample_data: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from recsys.data import read_events
    from training.cli import app

    a, b, url = replicas
    batch = {
        "events": [
            {"client_id": "c1", "item_id": "NEW-1", "event_id": "x1"},
            {"client_id": "c2", "item_id": "NEW-2", "event_id": "x2"},
        ]
    }
    _call(a, "/v1/events", batch)
    _call(b, "/v1/events", batch)  # a client retrying the batch elsewhere: same ids
    _call(b, "/v1/events", {"client_id": "c3", "item_id": "NEW-3"})
    out = tmp_path / "events.parquet"
    runner = CliRunner()
    result = runner.invoke(app, ["events", "export", "--out", str(out), "--redis-url", url])
    assert result.exit_code == 0, result.output
    assert "3 events (5 stream entries)" in result.output
    exported = read_events(out, "events-log")
    assert sorted(exported["item_id"].astype(str)) == ["NEW-1", "NEW-2", "NEW-3"]
    assert redis.Redis.from_url(url).xlen("recsys:events") == 5  # nothing removed unasked
    trimmed = runner.invoke(
        app, ["events", "export", "--out", str(out), "--redis-url", url, "--trim"]
    )
    assert trimmed.exit_code == 0 and redis.Redis.from_url(url).xlen("recsys:events") == 0
    _call(a, "/v1/events", {"client_id": "c4", "item_id": "NEW-4"})
    args = [
        "train",
        "--events",
        str(sample_data),
        "--format",
        "online-retail",
        "--models",
        "popular",
    ]
    args += ["--out", str(tmp_path / "b"), "--extra-events", url]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECSYS_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
        trained = runner.invoke(app, args)
    assert trained.exit_code == 0, trained.output
    bundle = Bundle.load(next(p for p in (tmp_path / "b").iterdir() if p.is_dir()))
    assert "NEW-4" in set(bundle.data.items.ids.tolist())  # read back from the stream
    missing = runner.invoke(
        app, ["events", "export", "--out", str(out)], env={"RECSYS_REDIS_URL": ""}
    )
    assert missing.exit_code == 4 and "RECSYS_REDIS_URL" in missing.output


class _KeepAlive:
    """One kept-alive HTTP connection: every request on it is answered by the worker
    that accepted it (a reconnect, which could land elsewhere, fails the test)."""

    def __init__(self, port: int) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.http.connect()
        assert self.http.sock is not None
        self.local = self.http.sock.getsockname()

    def get(self, path: str) -> bytes:
        self.http.request("GET", path, headers=ADMIN)
        answer = self.http.getresponse()
        body = answer.read()
        assert answer.status == 200, (path, answer.status, body[:200])
        sock = self.http.sock
        assert sock is not None and sock.getsockname() == self.local, "the connection dropped"
        return body

    def items(self, client: str) -> list[str]:
        body = json.loads(self.get(f"/v1/clients/{client}/recommendations?k=5"))
        return [item["item_id"] for item in body["items"]]

    def answered(self) -> float:
        """Requests this connection's worker has counted (its own /metrics)."""
        text = self.get("/metrics").decode()
        return sum(float(n) for n in re.findall(r"^recsys_requests_total\{.*\} (\S+)$", text, re.M))

    def close(self) -> None:
        self.http.close()


def _same_worker(one: _KeepAlive, other: _KeepAlive) -> bool:
    """Whether ``other`` reaches ``one``'s worker: 10 requests on ``other`` show in the
    count of ``one``'s worker, or nothing but ``one``'s own /metrics calls does."""
    before = one.answered()
    for _ in range(10):
        other.get("/healthz")
    return one.answered() - before >= 10


def test_serve_with_two_workers_is_two_coherent_replicas(bundles: Path, tmp_path: Path) -> None:
    """`recsys serve --workers 2`: whichever worker answers, a purchase shows. One kept-
    alive connection to each worker (told apart by their own request counters), so both
    are checked for certain, not by the luck of which worker accepts."""
    import subprocess
    import sys

    from tests.servers import ROOT, clean_environ, wait_for_port

    redis_port, port = free_port(), free_port()
    server = start_redis(redis_port, tmp_path)
    env = {
        **clean_environ(),
        "RECSYS_BUNDLE_PATH": str(bundles),
        "RECSYS_EVENTS_PATH": str(tmp_path / "pending.jsonl"),
        "RECSYS_CATALOGUE_PATH": str(tmp_path / "catalogue.jsonl"),
        "RECSYS_TOMBSTONES_PATH": str(tmp_path / "tombstones.txt"),
        "RECSYS_IMPRESSIONS_PATH": str(tmp_path / "impressions.jsonl"),
        "RECSYS_OUTCOMES_PATH": str(tmp_path / "outcomes.jsonl"),
        "RECSYS_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "RECSYS_RELOAD_INTERVAL_SECONDS": "0",
        "RECSYS_LIST_BUDGET_MS": "0",  # lists wait: the test compares them
        "RECSYS_ADMIN_API_KEY": "admin",
    }
    cli = "from training.cli import app; app()"
    command = [sys.executable, "-c", cli, "serve", "--port", str(port), "--workers", "2"]
    service = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
    connections: list[_KeepAlive] = []
    try:
        wait_for_port(port, 60)  # the socket is bound: some worker may still be loading
        who, _ = a_client(bundles)

        def both_workers() -> bool:  # a new connection each time, until one lands elsewhere
            try:
                if not connections:
                    connections.append(_KeepAlive(port))
                candidate = _KeepAlive(port)
                if not _same_worker(connections[0], candidate):
                    connections.append(candidate)
                    return True
                candidate.close()
            except (OSError, http.client.HTTPException):  # not up yet, or dropped: anew
                for connection in connections:
                    connection.close()
                connections.clear()
            return False

        until(both_workers, 60, "a connection to each of the two workers")
        one, two = connections[0], connections[-1]
        top = one.items(who)[0]
        assert two.items(who)[0] == top  # the same list, now cached by each worker
        _call(port, "/v1/events", {"client_id": who, "item_id": top})
        until(lambda: top not in one.items(who), PROPAGATION, "the first worker drops it")
        until(lambda: top not in two.items(who), PROPAGATION, "the second worker drops it")
        seen = [top in w.items(who) for w in (one, two) for _ in range(20)]
        seen += [top in _items(port, who) for _ in range(20)]  # new connections too
    finally:
        for connection in connections:
            connection.close()
        service.terminate()
        service.wait(timeout=20)
        server.kill()
    assert not any(seen)


def test_a_replica_started_later_knows_earlier_purchases(bundles: Path, tmp_path: Path) -> None:
    """Its follower starts at the bundle's training time, not at the stream's end."""
    redis_port, a, b = free_port(), free_port(), free_port()
    server = start_redis(redis_port, tmp_path)
    env = {"redis_url": f"redis://127.0.0.1:{redis_port}/0", "admin_api_key": "admin"}
    first = serve(bundles, tmp_path / "a.jsonl", a, **env)
    late = None
    try:
        who, _ = a_client(bundles)
        top = _items(a, who)[0]
        _call(a, "/v1/events", {"client_id": who, "item_id": top})
        late = serve(bundles, tmp_path / "b.jsonl", b, **env)
        until(lambda: top not in _items(b, who), PROPAGATION, "the late replica drops it")
        assert not any(top in _items(b, who) for _ in range(20))  # and it stays dropped
    finally:
        for process in (first, late, server):
            if process is not None:
                process.kill()
