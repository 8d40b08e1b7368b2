"""Who may call the service: API keys with scopes, users with roles, their stores."""

from serving.auth.records import (
    MIN_PASSWORD,
    ROLES,
    SCOPES,
    AccessStore,
    FileAccess,
    KeyRecord,
    RedisAccess,
    UserRecord,
    decode_hash,
    hash_password,
    key_digest,
    new_key,
    parse_keys,
    parse_records,
    parse_users,
    verify_password,
)

__all__ = [
    "MIN_PASSWORD",
    "ROLES",
    "SCOPES",
    "AccessStore",
    "FileAccess",
    "KeyRecord",
    "RedisAccess",
    "UserRecord",
    "decode_hash",
    "hash_password",
    "key_digest",
    "new_key",
    "parse_keys",
    "parse_records",
    "parse_users",
    "verify_password",
]
