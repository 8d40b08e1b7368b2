"""The audit log: its guard against secrets, the append-only file and the Redis stream."""

from __future__ import annotations

import asyncio
import json
import stat
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from recsys.errors import DataError
from serving.audit import (
    FIELDS,
    AuditFile,
    AuditStream,
    append_stream,
    audit_entry,
    check_entry,
    read_stream,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: int, **fields: Any) -> dict[str, Any]:
    """An entry ``minutes`` after :data:`T0`."""
    entry = audit_entry("cli:ann", "key.add", f"k{minutes}", fields or None)
    return {**entry, "at": (T0 + timedelta(minutes=minutes)).isoformat()}


@pytest.mark.parametrize(
    "detail",
    [
        {"api_key": "rsk_x"},
        {"Password": "x"},
        {"client_secret": "x"},
        {"TOKEN": "x"},
        {"change": {"new_password": "x"}},
        {"changes": [{"role": "admin"}, {"session_token": "x"}]},
    ],
)
def test_secret_named_details_are_refused(detail: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="named like a secret"):
        audit_entry("cli:ann", "user.passwd", "ann", detail)
    entry = {**audit_entry("cli:ann", "user.passwd", "ann"), "detail": detail}
    log = AuditFile(tmp_path / "audit.jsonl")
    with pytest.raises(ValueError, match="named like a secret"):
        log.append(entry)
    assert not log.path.exists()


def test_entry_shape() -> None:
    entry = audit_entry("web:ann", "user.add", "bob", {"role": "analyst"}, "10.0.0.7")
    assert list(entry) == list(FIELDS)
    assert entry["detail"] == {"role": "analyst"} and entry["address"] == "10.0.0.7"
    written = datetime.fromisoformat(entry["at"])
    assert written.tzinfo is not None and abs(datetime.now(UTC) - written) < timedelta(minutes=1)
    for broken in ({**entry, "who": ""}, {**entry, "at": "noon"}, {**entry, "extra": 1}):
        with pytest.raises(ValueError):
            check_entry(broken)


def test_file_appends_and_reads_since(tmp_path: Path) -> None:
    log = AuditFile(tmp_path / "logs" / "audit.jsonl")
    assert log.read() == []
    entries = [at(0), at(5, note="line\nbreak"), at(10, scopes=["read"])]
    for entry in entries:
        log.append(entry)
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert len(log.path.read_text().splitlines()) == 3
    assert log.read() == entries
    assert log.read(since=T0 + timedelta(minutes=5)) == entries[1:]
    naive = (T0 + timedelta(minutes=6)).replace(tzinfo=None)  # read as UTC
    assert log.read(since=naive) == entries[2:]
    paris = timezone(timedelta(hours=1))  # 13:09 in Paris is 12:09 UTC
    assert log.read(since=datetime(2025, 3, 1, 13, 9, tzinfo=paris)) == entries[2:]


def test_file_only_appends(tmp_path: Path) -> None:
    log = AuditFile(tmp_path / "audit.jsonl")
    log.append(at(0))
    first = log.path.read_bytes()
    log.append(at(1))
    assert log.path.read_bytes().startswith(first)


def test_file_skips_a_cut_last_line_and_names_a_bad_one(tmp_path: Path) -> None:
    log = AuditFile(tmp_path / "audit.jsonl")
    log.append(at(0))
    with log.path.open("a") as out:
        out.write('{"at": "2025-03-')  # a crash in the middle of a write
    assert log.read() == [at(0)]
    with log.path.open("a") as out:
        out.write("\n")
    with pytest.raises(DataError, match="row 2"):
        log.read()


@pytest.fixture
def stream(redis_url: str) -> Any:
    """A stream name no other test uses, deleted afterwards."""
    name = f"test:audit:{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(redis_url)
    client.delete(name)
    client.close()


def test_stream_async_append_and_sync_read(redis_url: str, stream: str) -> None:
    entries = [at(0), at(5, role="admin"), at(10)]

    async def service() -> None:
        client = aioredis.Redis.from_url(redis_url)
        log = AuditStream(client, stream)
        for entry in entries:
            await log.append(entry)
        with pytest.raises(ValueError, match="named like a secret"):
            await log.append({**at(11), "detail": {"raw_key": "x"}})
        await client.aclose()

    asyncio.run(service())
    client = redis.Redis.from_url(redis_url)
    assert read_stream(client, stream) == entries
    assert read_stream(client, stream, since=T0 + timedelta(minutes=1)) == entries[1:]
    ((_, fields),) = client.xrange(stream, count=1) or []
    assert fields is not None and json.loads(fields[b"entry"]) == entries[0]
    client.close()


def test_stream_reads_past_one_page(redis_url: str, stream: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    pipe = client.pipeline()
    entries = [at(i) for i in range(2500)]  # reads go 1000 at a time
    for entry in entries:
        append_stream(pipe, entry, stream)
    pipe.execute()
    assert read_stream(client, stream) == entries
    assert read_stream(client, stream, since=T0 + timedelta(minutes=2400)) == entries[2400:]
    client.close()


def test_stream_names_a_bad_entry(redis_url: str, stream: str) -> None:
    client = redis.Redis.from_url(redis_url)
    ident = client.xadd(stream, {"entry": "{not json"})
    assert isinstance(ident, bytes)
    with pytest.raises(DataError, match=ident.decode()):
        read_stream(client, stream)
    client.close()
