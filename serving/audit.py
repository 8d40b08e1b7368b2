"""The audit log: who changed access or ran an admin action, when and from where.

One JSON object per action::

    {"at": ISO UTC time, "who": str, "action": str, "target": str,
     "detail": {...}, "address": str | None}

Append-only: a file opened with ``O_APPEND`` (each line one write, so writers do not
interleave) and fsync'd before :meth:`AuditFile.append` returns, or a Redis stream
every replica appends to (never trimmed). An entry never holds a key or a password:
a ``detail`` field named like one (at any depth) is refused before anything is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsys.errors import DataError

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = [
    "FIELDS",
    "SECRET_WORDS",
    "STREAM",
    "AuditFile",
    "AuditStream",
    "append_stream",
    "audit_entry",
    "check_entry",
    "read_stream",
]

#: The fields of every entry, in the order they are written.
FIELDS = ("at", "who", "action", "target", "detail", "address")
#: A detail field whose name contains one of these is refused (case-insensitive).
SECRET_WORDS = ("key", "password", "secret", "token")
#: The Redis stream the service and the CLI append to.
STREAM = "recsys:audit"
_PAGE = 1000  # stream entries per XRANGE call


def _refuse_secrets(value: object, where: str) -> None:
    """ValueError if a mapping inside ``value`` has a field named like a secret."""
    if isinstance(value, Mapping):
        for name, inner in value.items():
            if any(word in str(name).lower() for word in SECRET_WORDS):
                raise ValueError(
                    f"audit {where} field {name!r} is named like a secret "
                    f"({', '.join(SECRET_WORDS)}): never log keys, passwords or tokens"
                )
            _refuse_secrets(inner, where)
    elif isinstance(value, list | tuple):
        for inner in value:
            _refuse_secrets(inner, where)


def check_entry(entry: Mapping[str, Any]) -> None:
    """ValueError unless ``entry`` has exactly :data:`FIELDS`, each of its type, a
    readable time, and no secret-named detail."""
    if set(entry) != set(FIELDS):
        raise ValueError(f"audit entry fields must be {', '.join(FIELDS)}; got {sorted(entry)}")
    for field in ("at", "who", "action", "target"):
        if not isinstance(entry[field], str) or not entry[field]:
            raise ValueError(f"audit entry field {field!r} must be a non-empty string")
    if not isinstance(entry["detail"], dict):
        raise ValueError("audit entry field 'detail' must be an object")
    if entry["address"] is not None and not isinstance(entry["address"], str):
        raise ValueError("audit entry field 'address' must be a string or None")
    _time(entry["at"])
    _refuse_secrets(entry["detail"], "detail")


def audit_entry(
    who: str,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """An entry for an action done now; ValueError for a secret-named detail field."""
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    entry = dict(zip(FIELDS, (at, who, action, target, dict(detail or {}), address), strict=True))
    check_entry(entry)
    return entry


def _encode(entry: Mapping[str, Any]) -> str:
    check_entry(entry)
    # One line whatever the values hold: JSON escapes newlines inside strings.
    return json.dumps({f: entry[f] for f in FIELDS}, ensure_ascii=False, separators=(",", ":"))


def _time(text: str) -> datetime:
    """An entry's time, as an aware datetime (naive ones are UTC)."""
    at = datetime.fromisoformat(text)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _since(entries: Iterable[dict[str, Any]], since: datetime | None) -> list[dict[str, Any]]:
    """The entries at or after ``since`` (naive: UTC); all of them for None."""
    if since is None:
        return list(entries)
    start = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    return [entry for entry in entries if _time(entry["at"]) >= start]


class AuditFile:
    """An audit log in a JSON Lines file (mode 0600, made on the first append)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, entry: Mapping[str, Any]) -> None:
        """Check ``entry``, append it as one line and fsync before returning."""
        line = (_encode(entry) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one write: O_APPEND puts it whole at the end
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """The entries in order, those at or after ``since`` only if given; a missing
        file holds none. DataError names the row of a line that is not an entry."""
        try:
            lines = self.path.read_text(encoding="utf-8").split("\n")
        except FileNotFoundError:
            return []
        # The text after the last newline is empty, or a line cut by a crash mid-write.
        entries = (self._decode(line, row) for row, line in enumerate(lines[:-1], 1) if line)
        return _since(entries, since)

    def _decode(self, line: str, row: int) -> dict[str, Any]:
        try:
            entry = json.loads(line)
            check_entry(entry)
        except (ValueError, TypeError) as error:  # JSONDecodeError is a ValueError
            raise DataError(f"not an audit entry ({error})", file=str(self.path), row=row) from None
        return dict(entry)


class AuditStream:
    """An audit log in a Redis stream, appended to by the async service: each
    stream entry has one field, ``entry``, holding the entry's JSON."""

    def __init__(self, client: redis.asyncio.Redis, stream: str = STREAM) -> None:
        self.client, self.stream = client, stream

    async def append(self, entry: Mapping[str, Any]) -> None:
        """Check ``entry`` and add it at the end of the stream."""
        await self.client.xadd(self.stream, {"entry": _encode(entry)})


def append_stream(client: redis.Redis, entry: Mapping[str, Any], stream: str = STREAM) -> None:
    """:meth:`AuditStream.append` for a synchronous client (the CLI)."""
    client.xadd(stream, {"entry": _encode(entry)})


def read_stream(
    client: redis.Redis, stream: str = STREAM, since: datetime | None = None
) -> list[dict[str, Any]]:
    """The stream's entries in order (at or after ``since`` if given), read a page at
    a time; DataError names a stream entry that is not an audit entry."""
    found: list[dict[str, Any]] = []
    start = "-"
    while batch := _page(client, stream, start):
        found.extend(_stream_entry(stream, ident, fields) for ident, fields in batch)
        start = "(" + _text(batch[-1][0])  # exclusive: after the last one read
    return _since(found, since)


def _page(client: redis.Redis, stream: str, start: str) -> list[Any]:
    return list(client.xrange(stream, min=start, count=_PAGE) or [])


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _stream_entry(stream: str, ident: bytes | str, fields: Mapping[Any, Any]) -> dict[str, Any]:
    raw = fields.get(b"entry", fields.get("entry"))
    try:
        entry = json.loads(_text(raw))
        check_entry(entry)
    except (ValueError, TypeError, AttributeError) as error:
        raise DataError(
            f"stream entry {_text(ident)} is not an audit entry ({error})", file=stream
        ) from None
    return dict(entry)
