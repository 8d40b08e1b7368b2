"""API key and user records and their stores (a file, and a real redis-server).

Digests are checked against hashlib (and the FIPS 180-2 "abc" vector), passwords
against real argon2id hashing; nothing under test is replaced.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from recsys.errors import ConfigError, NotFoundError
from serving.auth import (
    AccessStore,
    FileAccess,
    KeyRecord,
    RedisAccess,
    UserRecord,
    decode_hash,
    hash_password,
    key_digest,
    new_key,
    parse_records,
    verify_password,
)

PASSWORD = "correct horse battery staple"


# --- keys and passwords -------------------------------------------------------------


def test_key_digest_is_sha256_hex() -> None:
    # FIPS 180-2, appendix B.1: SHA-256("abc").
    abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert key_digest("abc") == abc
    raw = new_key()
    assert key_digest(raw) == hashlib.sha256(raw.encode()).hexdigest()


def test_new_keys_carry_256_random_bits() -> None:
    made = {new_key() for _ in range(200)}
    assert len(made) == 200
    # token_urlsafe(32): 32 bytes → 43 base64url characters after the prefix.
    assert all(k.startswith("rsk_") and len(k) == 4 + 43 for k in made)


def test_password_hash_is_argon2id_and_verifies() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "!")
    assert hash_password(PASSWORD) != stored  # salted


@pytest.mark.parametrize("broken", ["", "not a hash", "$argon2id$v=19$m=1", "$2b$12$abc"])
def test_verify_password_is_false_on_unreadable_hashes(broken: str) -> None:
    assert verify_password(broken, PASSWORD) is False


def test_short_passwords_are_refused() -> None:
    with pytest.raises(ConfigError, match="at least 12"):
        hash_password("elevenchars")
    assert verify_password(hash_password("twelve chars"), "twelve chars")


# --- records ------------------------------------------------------------------------


def test_records_round_trip_through_json() -> None:
    key, raw = KeyRecord.new("web", ["read", "events"])
    assert key.digest == hashlib.sha256(raw.encode()).hexdigest()
    user = UserRecord.new("ann", "analyst", PASSWORD)
    back = parse_records([json.loads(json.dumps(key.to_json()))], [user.to_json()])
    assert back == ({"web": key}, {"ann": user})
    assert raw not in json.dumps(key.to_json())


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"scopes": ["read", "root"]}, "'scopes'"),
        ({"scopes": []}, "'scopes'"),
        ({"scopes": "read"}, "'scopes'"),
        ({"digest": "abc"}, "'digest'"),
        ({"created": ""}, "'created'"),
        ({"name": "two words"}, "two words"),
    ],
)
def test_bad_key_records_name_field_and_record(change: dict[str, object], named: str) -> None:
    record = {**KeyRecord.new("web", ["read"])[0].to_json(), **change}
    with pytest.raises(ConfigError, match=named) as error:
        KeyRecord.from_json(record)
    assert "key" in str(error.value)


def test_bad_user_records_name_field_and_record() -> None:
    good = UserRecord.new("ann", "analyst", PASSWORD).to_json()
    with pytest.raises(ConfigError, match=r"user record 'ann'.*'role'.*'owner'"):
        UserRecord.from_json({**good, "role": "owner"})
    with pytest.raises(ConfigError, match="'password_hash'"):
        UserRecord.from_json({**good, "password_hash": PASSWORD})
    with pytest.raises(ConfigError, match="stored twice"):
        parse_records([], [good, good])


def test_names_of_callers_who_are_no_user_are_reserved_for_them() -> None:
    good = UserRecord.new("ann", "manager", PASSWORD).to_json()
    for name in ("local", "open", "anonymous", "Local"):
        with pytest.raises(ConfigError, match=f"user name '{name}' is reserved: outcomes"):
            UserRecord.new(name, "manager", PASSWORD)
        with pytest.raises(ConfigError, match="is reserved"):  # nor read back from a store
            UserRecord.from_json({**good, "name": name})
        assert KeyRecord.new(name, ["read"])[0].name == name  # keys are named key:NAME


# --- both stores --------------------------------------------------------------------


@pytest.fixture(params=["file", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AccessStore]:
    """A fresh store: a file in a temp directory, or a unique prefix in the real Redis."""
    if request.param == "file":
        yield FileAccess(tmp_path / "access.json")
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    prefix = f"test:{uuid.uuid4().hex}"
    yield RedisAccess(client, prefix=prefix)
    client.delete(f"{prefix}:keys", f"{prefix}:users")
    client.close()


def test_store_starts_empty(store: AccessStore) -> None:
    assert store.keys() == {} and store.users() == {}


def test_store_keeps_only_the_digest(store: AccessStore) -> None:
    raw = store.add_key("web", ["read", "events"])
    (record,) = store.keys().values()
    assert record.name == "web" and record.scopes == {"read", "events"}
    assert record.digest == hashlib.sha256(raw.encode()).hexdigest()
    store.revoke_key("web")
    assert store.keys() == {}


def test_store_refuses_duplicates_and_unknowns(store: AccessStore) -> None:
    store.add_key("web", ["read"])
    with pytest.raises(ConfigError, match="'web' already exists"):
        store.add_key("web", ["admin"])
    assert store.keys()["web"].scopes == {"read"}
    with pytest.raises(ConfigError, match="unknown scope 'write'"):
        store.add_key("other", ["write"])
    with pytest.raises(NotFoundError, match="'ghost'"):
        store.revoke_key("ghost")
    with pytest.raises(NotFoundError, match="'ghost'"):
        store.remove_user("ghost")
    with pytest.raises(NotFoundError, match="'ghost'"):
        store.set_password("ghost", PASSWORD)
    with pytest.raises(ConfigError, match="unknown role 'owner'"):
        store.add_user("bob", "owner", PASSWORD)
    assert set(store.keys()) == {"web"} and store.users() == {}


def test_store_users_and_passwords(store: AccessStore) -> None:
    store.add_user("ann", "manager", PASSWORD)
    with pytest.raises(ConfigError, match="'ann' already exists"):
        store.add_user("ann", "admin", PASSWORD)
    with pytest.raises(ConfigError, match="at least 12"):
        store.set_password("ann", "short")
    first = store.users()["ann"]
    assert verify_password(first.password_hash, PASSWORD)
    store.set_password("ann", "another long password")
    second = store.users()["ann"]
    assert (second.role, second.created) == ("manager", first.created)
    assert verify_password(second.password_hash, "another long password")
    assert not verify_password(second.password_hash, PASSWORD)
    store.remove_user("ann")
    assert store.users() == {}


# --- the file store -----------------------------------------------------------------


def test_file_layout_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "access.json"
    raw = FileAccess(path).add_key("web", ["read"])
    FileAccess(path).add_user("ann", "analyst", PASSWORD)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert raw not in text and PASSWORD not in text
    data = json.loads(text)
    assert [k["digest"] for k in data["keys"]] == [hashlib.sha256(raw.encode()).hexdigest()]
    assert [u["name"] for u in data["users"]] == ["ann"]
    assert {p.name for p in path.parent.iterdir()} == {"access.json", "access.json.lock"}


def test_file_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "access.json"
    store = FileAccess(path)
    store.add_key("web", ["read"])
    before = path.read_bytes()

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)  # the rename is where a write lands
    with pytest.raises(OSError, match="disk full"):
        store.add_key("other", ["read"])
    assert path.read_bytes() == before
    assert {p.name for p in tmp_path.iterdir()} == {"access.json", "access.json.lock"}


def test_file_readers_never_see_half_a_file(tmp_path: Path) -> None:
    store, done = FileAccess(tmp_path / "access.json"), threading.Event()
    seen: list[int | str] = []

    def read() -> None:
        while not done.is_set():
            try:
                seen.append(len(FileAccess(store.path).keys()))
            except ConfigError as error:  # a torn or empty file
                seen.append(str(error))

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(60):
        store.add_key(f"k{i}", ["read"])
    done.set()
    reader.join()
    assert [s for s in seen if isinstance(s, str)] == []
    assert seen and seen == sorted(seen) and len(store.keys()) == 60


def test_file_writers_do_not_lose_changes(tmp_path: Path) -> None:
    def add(worker: int) -> None:
        for i in range(10):
            FileAccess(tmp_path / "access.json").add_key(f"w{worker}-{i}", ["read"])

    threads = [threading.Thread(target=add, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(FileAccess(tmp_path / "access.json").keys()) == 60


def test_bad_file_is_named_and_never_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "access.json"
    path.write_text('{"keys": [{"name": "web", "scopes": ["read"]}], "users": []}')
    with pytest.raises(ConfigError, match="key record 'web': field 'digest'"):
        FileAccess(path).add_key("other", ["read"])
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match=str(path)):
        FileAccess(path).keys()
    assert path.read_text() == "[1, 2]"


# --- the Redis store, as the async server reads it ---------------------------------


def test_redis_hashes_are_what_the_async_server_parses(redis_url: str) -> None:
    client, prefix = redis.Redis.from_url(redis_url), f"test:{uuid.uuid4().hex}"
    store = RedisAccess(client, prefix=prefix)
    raw = store.add_key("web", ["read"])
    store.add_user("ann", "admin", PASSWORD)
    stored = json.loads(client.hget(f"{prefix}:keys", "web"))  # type: ignore[arg-type]
    assert stored["digest"] == hashlib.sha256(raw.encode()).hexdigest()

    async def server_view() -> tuple[dict[str, KeyRecord], dict[str, UserRecord]]:
        reader = aioredis.Redis.from_url(redis_url, decode_responses=True)
        keys = await reader.hgetall(f"{prefix}:keys")
        users = await reader.hgetall(f"{prefix}:users")
        await reader.aclose()
        return parse_records(decode_hash(keys), decode_hash(users))

    assert asyncio.run(server_view()) == (store.keys(), store.users())
    client.delete(f"{prefix}:keys", f"{prefix}:users")
    client.close()
