"""``recsys keys``, ``recsys users`` and ``recsys audit``, run in process against a
temp directory and the real redis-server."""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner, Result

from serving.auth import FileAccess, RedisAccess, verify_password
from training.cli import app

PASSWORD = "correct horse battery staple"
runner = CliRunner()


def recsys(*args: str, stdin: str | None = None) -> Result:
    """Run ``recsys ARGS`` in process; a crash (not a clean exit) fails the test."""
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without access settings: the defaults apply."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_keys_add_prints_the_key_once_and_stores_its_digest(here: Path) -> None:
    result = recsys("keys", "add", "web", "--scopes", "read, events")
    assert result.exit_code == 0, result.output
    raw = result.stdout.strip()
    assert raw.startswith("rsk_") and "not stored" in result.stderr and raw not in result.stderr
    path = here / "artifacts" / "access.json"
    assert raw not in path.read_text()
    (stored,) = json.loads(path.read_text())["keys"]
    assert stored["digest"] == hashlib.sha256(raw.encode()).hexdigest()
    assert stored["scopes"] == ["events", "read"]
    listed = recsys("keys", "list", "--json")
    assert [json.loads(line) for line in listed.stdout.splitlines()] == [
        {"name": "web", "scopes": ["events", "read"], "created": stored["created"]}
    ]
    table = recsys("keys", "list").stdout
    assert "events,read" in table and stored["digest"] not in table


def test_users_and_the_audit_of_every_change(here: Path) -> None:
    assert (
        recsys(
            "users", "add", "ann", "--role", "analyst", "--password-stdin", stdin=PASSWORD + "\n"
        ).exit_code
        == 0
    )
    assert recsys("keys", "add", "web", "--scopes", "read").exit_code == 0
    new = "a different long password"
    assert recsys("users", "passwd", "ann", "--password-stdin", stdin=new + "\n").exit_code == 0
    (user,) = FileAccess(here / "artifacts" / "access.json").users().values()
    assert user.role == "analyst" and verify_password(user.password_hash, new)
    assert not verify_password(user.password_hash, PASSWORD)
    assert PASSWORD not in (here / "artifacts" / "access.json").read_text()
    listed = json.loads(recsys("users", "list", "--json").stdout)
    assert listed == {"name": "ann", "role": "analyst", "created": user.created}
    assert recsys("keys", "revoke", "web").exit_code == 0
    assert recsys("users", "remove", "ann").exit_code == 0

    lines = recsys("audit", "--json").stdout.splitlines()
    entries = [json.loads(line) for line in lines]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("user.add", "ann"),
        ("key.add", "web"),
        ("user.passwd", "ann"),
        ("key.revoke", "web"),
        ("user.remove", "ann"),
    ]
    assert {e["who"] for e in entries} == {"cli:" + getpass.getuser()}
    assert {e["address"] for e in entries} == {None}
    assert PASSWORD not in "".join(lines) and new not in "".join(lines)
    later = recsys("audit", "--json", "--since", entries[3]["at"]).stdout.splitlines()
    assert later == lines[3:]
    table = recsys("audit").stdout.splitlines()
    assert table[0].split() == ["at", "who", "action", "target", "detail", "address"]
    assert len(table) == 1 + 5


def test_settings_come_from_the_environment(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_ACCESS_PATH", str(here / "a" / "keys.json"))
    monkeypatch.setenv("RECSYS_AUDIT_PATH", str(here / "b" / "log.jsonl"))
    assert recsys("keys", "add", "web", "--scopes", "admin").exit_code == 0
    assert set(FileAccess(here / "a" / "keys.json").keys()) == {"web"}
    assert len((here / "b" / "log.jsonl").read_text().splitlines()) == 1
    assert not (here / "artifacts").exists()
    assert len(recsys("audit", "--json").stdout.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "stdin", "code", "named"),
    [
        (["users", "add", "bob", "--role", "boss", "--password-stdin"], PASSWORD, 4, "'boss'"),
        (["users", "add", "bob", "--role", "admin", "--password-stdin"], "short\n", 4, "12"),
        (["users", "add", "b b", "--role", "admin", "--password-stdin"], PASSWORD, 4, "'b b'"),
        (["users", "add", "local", "--role", "admin", "--password-stdin"], None, 4, "reserved"),
        (["users", "passwd", "nobody", "--password-stdin"], PASSWORD, 5, "'nobody'"),
        (["users", "remove", "nobody"], None, 5, "'nobody'"),
        (["keys", "add", "web", "--scopes", "read,write"], None, 4, "'write'"),
        (["keys", "add", "web", "--scopes", ","], None, 4, "no scope"),
        (["keys", "revoke", "nobody"], None, 5, "'nobody'"),
        (["audit", "--since", "yesterday"], None, 4, "--since 'yesterday'"),
        (["keys", "list", "--access", "x.json", "--redis-url", "redis://h"], None, 4, "not both"),
        (["keys", "list", "--redis-url", "http://h"], None, 4, "--redis-url"),
    ],
)
def test_bad_input_exits_naming_it(
    here: Path, args: list[str], stdin: str | None, code: int, named: str
) -> None:
    result = recsys(*args, stdin=stdin)
    assert result.exit_code == code, result.output
    assert named in result.stderr and "Traceback" not in result.output
    assert not (here / "artifacts" / "audit.jsonl").exists()  # nothing changed


def test_a_taken_name_is_refused(here: Path) -> None:
    assert recsys("keys", "add", "web", "--scopes", "read").exit_code == 0
    again = recsys("keys", "add", "web", "--scopes", "admin")
    assert again.exit_code == 4 and "'web' already exists" in again.stderr
    assert again.stdout == ""
    assert len(recsys("audit", "--json").stdout.splitlines()) == 1


def test_a_key_whose_audit_entry_fails_is_still_shown(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is stored before its audit line: lost if not printed, so it is, with a
    warning, and the command succeeds (the key works)."""
    (here / "not-a-directory").write_text("")
    monkeypatch.setenv("RECSYS_AUDIT_PATH", str(here / "not-a-directory" / "audit.jsonl"))
    result = recsys("keys", "add", "web", "--scopes", "read")
    assert result.exit_code == 0, result.output
    raw = result.stdout.strip()
    (stored,) = FileAccess(here / "artifacts" / "access.json").keys().values()
    assert stored.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert "warning: key web is stored, its audit entry missing" in result.stderr


def test_a_broken_file_is_an_error_not_a_traceback(here: Path) -> None:
    (here / "artifacts").mkdir()
    (here / "artifacts" / "access.json").write_text("{")
    result = recsys("keys", "list")
    assert result.exit_code == 4 and "access.json: not JSON" in result.stderr


@pytest.fixture
def redis_settings(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """RECSYS_REDIS_URL set; the hashes and stream the commands write removed after."""
    monkeypatch.setenv("RECSYS_REDIS_URL", redis_url)
    yield redis_url
    client = redis.Redis.from_url(redis_url)
    client.delete("recsys:access:keys", "recsys:access:users", "recsys:audit")
    client.close()


def test_redis_url_keeps_records_and_audit_in_redis(here: Path, redis_settings: str) -> None:
    raw = recsys("keys", "add", "web", "--scopes", "read").stdout.strip()
    added = recsys("users", "add", "ann", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    assert added.exit_code == 0, added.output
    client = redis.Redis.from_url(redis_settings)
    store = RedisAccess(client)
    assert store.keys()["web"].digest == hashlib.sha256(raw.encode()).hexdigest()
    assert verify_password(store.users()["ann"].password_hash, PASSWORD)
    assert client.xlen("recsys:audit") == 2
    client.close()
    entries = [json.loads(line) for line in recsys("audit", "--json").stdout.splitlines()]
    assert [e["action"] for e in entries] == ["key.add", "user.add"]
    assert not (here / "artifacts").exists()
    # An explicit file wins over the environment's Redis.
    local = recsys("keys", "list", "--json", "--access", str(here / "local.json"))
    assert local.exit_code == 0 and local.stdout == ""


def test_an_unreachable_redis_is_an_error_not_a_traceback(here: Path) -> None:
    result = recsys("keys", "list", "--redis-url", "redis://127.0.0.1:1/0")
    assert result.exit_code == 5 and "Redis" in result.stderr


def test_without_stdin_the_password_is_typed_twice(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = iter([PASSWORD, PASSWORD + "?", PASSWORD, PASSWORD])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(typed))  # the terminal
    differ = recsys("users", "add", "ann", "--role", "manager")
    assert differ.exit_code == 4 and "differ" in differ.stderr
    assert recsys("users", "add", "ann", "--role", "manager").exit_code == 0
    (user,) = FileAccess(here / "artifacts" / "access.json").users().values()
    assert verify_password(user.password_hash, PASSWORD)
