"""``recsys keys``, ``recsys users`` and ``recsys audit``: who may call the service.

Records go to the access file (``--access``, else RECSYS_ACCESS_PATH, else
artifacts/access.json) or, given a Redis URL (``--redis-url``, else RECSYS_REDIS_URL),
to the hashes every replica reads; an explicit file wins over RECSYS_REDIS_URL. Each
change appends an audit entry beside the records: to the audit file
(RECSYS_AUDIT_PATH, else artifacts/audit.jsonl) or to the Redis stream.
"""

from __future__ import annotations

import functools
import getpass
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import redis
import typer
from redis.exceptions import RedisError

from recsys.errors import ConfigError, NotFoundError, RecsysError
from serving.audit import AuditFile, append_stream, audit_entry, read_stream
from training.cli._access_print import print_rows
from training.cli._access_print import since as parse_since
from training.cli._errors import handle_errors

if TYPE_CHECKING:
    from serving.auth.records import AccessStore

__all__ = ["audit", "keys", "record_action", "users"]

P = ParamSpec("P")
T = TypeVar("T")
Log = Callable[[dict[str, Any]], None]

keys = typer.Typer(help="API keys: shown once when made, stored as digests.", no_args_is_help=True)
users = typer.Typer(help="People who sign in, each with a role.", no_args_is_help=True)

AccessOption = Annotated[
    Path | None,
    typer.Option(
        "--access", help="Access file (default: RECSYS_ACCESS_PATH, else artifacts/access.json)."
    ),
]
RedisOption = Annotated[
    str | None,
    typer.Option("--redis-url", help="Records and audit in Redis (default: RECSYS_REDIS_URL)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
StdinOption = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from stdin's first line, no prompt."),
]
NameArgument = Annotated[str, typer.Argument(help="Its name: letters, digits, '_', '.', '@', '-'.")]


def _guarded(command: Callable[P, T]) -> Callable[P, T]:
    """:func:`handle_errors`, with Redis and file-system failures as one-line errors."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return command(*args, **kwargs)
        except RedisError as error:
            raise RecsysError(f"Redis: {error}") from None
        except OSError as error:
            raise RecsysError(f"{error.filename or 'file'}: {error.strerror or error}") from None

    return handle_errors(wrapper)


def _redis_url(path: Path | None, redis_url: str | None, option: str) -> str | None:
    """The Redis URL to use, or None for files: an explicit path wins over the
    environment's URL, and is refused with an explicit one."""
    if path is not None and redis_url is not None:
        raise ConfigError(f"give {option} or --redis-url, not both")
    if path is not None:
        return None
    return redis_url or os.environ.get("RECSYS_REDIS_URL") or None


def _audit_path() -> Path:
    return Path(os.environ.get("RECSYS_AUDIT_PATH") or "artifacts/audit.jsonl")


def _connect(url: str) -> redis.Redis:
    try:
        return redis.Redis.from_url(url)
    except ValueError as error:  # the URL itself, not the server: never echo it (passwords)
        raise ConfigError(f"--redis-url: {error}") from None


@contextmanager
def _records(access: Path | None, redis_url: str | None) -> Iterator[tuple[AccessStore, Log]]:
    """The access store to change, and where its audit entries go."""
    from serving.auth.records import FileAccess, RedisAccess  # argon2: only when needed

    url = _redis_url(access, redis_url, "--access")
    if url is None:
        default = Path(os.environ.get("RECSYS_ACCESS_PATH") or "artifacts/access.json")
        yield FileAccess(access or default), AuditFile(_audit_path()).append
        return
    with closing(_connect(url)) as client:
        yield RedisAccess(client), functools.partial(append_stream, client)


def _who() -> str:
    """``cli:`` and the OS user running the command."""
    try:
        return "cli:" + getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "cli:unknown"


def _log(log: Log, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    log(audit_entry(_who(), action, target, detail))


def _logged(log: Log, action: str, target: str, detail: dict[str, Any]) -> str | None:
    """:func:`_log`, saying why it failed (None once written) instead of raising: for a
    change already made, whose output must not be lost with the audit line."""
    try:
        _log(log, action, target, detail)
    except (OSError, RedisError) as error:
        return str(error) or type(error).__name__
    return None


def record_action(action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """Append another command's admin action (a promotion) to the audit log the
    environment names: the Redis stream with RECSYS_REDIS_URL, else the audit file."""
    url = os.environ.get("RECSYS_REDIS_URL")
    if url is None:
        _log(AuditFile(_audit_path()).append, action, target, detail)
        return
    with closing(_connect(url)) as client:
        _log(functools.partial(append_stream, client), action, target, detail)


@keys.command("add")
@_guarded
def add_key(
    name: NameArgument,
    scopes: Annotated[str, typer.Option("--scopes", help="Comma-separated, e.g. read,events.")],
    access: AccessOption = None,
    redis_url: RedisOption = None,
) -> None:
    """Make a key with these scopes (read, events, catalogue, admin) and print it once."""
    given = sorted({s.strip() for s in scopes.split(",") if s.strip()})
    with _records(access, redis_url) as (store, log):
        raw = store.add_key(name, given)
        unlogged = _logged(log, "key.add", name, {"scopes": given})
    typer.echo(raw)  # stored: shown even without its audit line, else it is lost
    typer.echo(
        "Keep this key now: it is not stored (only its digest) and is not shown again.", err=True
    )
    if unlogged is not None:  # exit 0 all the same: the key exists and works
        typer.echo(f"warning: key {name} is stored, its audit entry missing: {unlogged}", err=True)


@keys.command("revoke")
@_guarded
def revoke_key(
    name: NameArgument, access: AccessOption = None, redis_url: RedisOption = None
) -> None:
    """Delete a key: callers using it are refused from the next reload on."""
    with _records(access, redis_url) as (store, log):
        store.revoke_key(name)
        _log(log, "key.revoke", name)
    typer.echo(f"key {name} revoked", err=True)


@keys.command("list")
@_guarded
def list_keys(
    access: AccessOption = None, redis_url: RedisOption = None, as_json: JsonOption = False
) -> None:
    """Name, scopes and creation time of every key (never the key or its digest)."""
    with _records(access, redis_url) as (store, _):
        found = sorted(store.keys().values(), key=lambda k: k.name)
    rows = [{"name": k.name, "scopes": sorted(k.scopes), "created": k.created} for k in found]
    print_rows(rows, as_json)


def _password(from_stdin: bool) -> str:
    """The new password: stdin's first line, or typed twice at a prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise ConfigError("password: the two entries differ")
    return first


@users.command("add")
@_guarded
def add_user(
    name: NameArgument,
    role: Annotated[str, typer.Option("--role", help="manager, analyst or admin.")],
    password_stdin: StdinOption = False,
    access: AccessOption = None,
    redis_url: RedisOption = None,
) -> None:
    """Add a person who signs in with a password (stored only as an argon2id hash)."""
    from serving.auth.records import check_name, check_role

    check_name(name, "user")  # both before asking for a password
    check_role(role, f"user {name!r}")
    password = _password(password_stdin)
    with _records(access, redis_url) as (store, log):
        store.add_user(name, role, password)
        _log(log, "user.add", name, {"role": role})
    typer.echo(f"user {name} added as {role}", err=True)


@users.command("remove")
@_guarded
def remove_user(
    name: NameArgument, access: AccessOption = None, redis_url: RedisOption = None
) -> None:
    """Remove a person: they can no longer sign in."""
    with _records(access, redis_url) as (store, log):
        store.remove_user(name)
        _log(log, "user.remove", name)
    typer.echo(f"user {name} removed", err=True)


@users.command("passwd")
@_guarded
def set_password(
    name: NameArgument,
    password_stdin: StdinOption = False,
    access: AccessOption = None,
    redis_url: RedisOption = None,
) -> None:
    """Set a person's password."""
    with _records(access, redis_url) as (store, log):
        if name not in store.users():  # before asking for a password
            raise NotFoundError(f"no user named {name!r}")
        store.set_password(name, _password(password_stdin))
        _log(log, "user.passwd", name)
    typer.echo(f"password of {name} changed", err=True)


@users.command("list")
@_guarded
def list_users(
    access: AccessOption = None, redis_url: RedisOption = None, as_json: JsonOption = False
) -> None:
    """Name, role and creation time of every person (never password hashes)."""
    with _records(access, redis_url) as (store, _):
        found = sorted(store.users().values(), key=lambda u: u.name)
    print_rows([{"name": u.name, "role": u.role, "created": u.created} for u in found], as_json)


@_guarded
def audit(
    path: Annotated[
        Path | None,
        typer.Option(
            "--path", help="Audit file (default: RECSYS_AUDIT_PATH, else artifacts/audit.jsonl)."
        ),
    ] = None,
    redis_url: RedisOption = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only entries at or after this ISO time (UTC).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the audit log: when, who, what, to what, from where, and details."""
    start, url = parse_since(since), _redis_url(path, redis_url, "--path")
    if url is None:
        print_rows(AuditFile(path or _audit_path()).read(start), as_json)
        return
    with closing(_connect(url)) as client:
        print_rows(read_stream(client, since=start), as_json)
