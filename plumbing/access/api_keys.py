"""API keys: ``hub_<key id>_<secret>``, shown once, stored as a SHA-256, with expiry and scopes.

The key id is public (it is logged and listed); the secret is 256 random bits from :mod:`secrets`,
so a plain SHA-256 is as strong as a slow KDF here and keeps authentication to one indexed lookup.
Rotation issues a new key for the same principal and cuts the old key's expiry to "now + overlap",
so clients can switch over without a window where neither key works.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import dict_row

from plumbing.access.policy import Permission
from plumbing.eventstore.postgres import Conn

KEY_PREFIX = "hub_"
_KEY = re.compile(r"^hub_(?P<key_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class IssuedKey:
    """A key as issued: the only time ``key`` (the full secret) is available."""

    key_id: str
    key: str
    principal_id: str
    expires_at: datetime
    scopes: frozenset[Permission] | None
    rotated_from: str | None = None


@dataclass(frozen=True)
class StoredKey:
    """A key row (never the secret), with its principal's attributes."""

    key_id: str
    principal_id: str
    principal_kind: str
    roles: tuple[str, ...]
    team: str | None
    channels: tuple[str, ...]
    scopes: frozenset[Permission] | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    rotated_from: str | None
    key_sha256: bytes

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "active" if now < self.expires_at else "expired"


def generate_key() -> tuple[str, str]:
    """A fresh ``(key_id, key)``."""
    key_id = secrets.token_hex(8)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def looks_like_key(token: str) -> bool:
    """Whether a bearer token is meant as an API key (rather than a JWT)."""
    return token.startswith(KEY_PREFIX)


def key_id_of(token: str) -> str | None:
    """The key id of a well-formed key; None for anything else."""
    match = _KEY.fullmatch(token)
    return match["key_id"] if match else None


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def matches(stored: StoredKey, presented: str) -> bool:
    """Constant-time comparison of the presented key with the stored digest."""
    return hmac.compare_digest(stored.key_sha256, key_digest(presented))


def _scopes(values: list[str] | None) -> frozenset[Permission] | None:
    return None if values is None else frozenset(Permission(v) for v in values)


_SELECT = (
    "SELECT k.key_id, k.principal_id, p.kind AS principal_kind, p.roles, p.team, p.channels, k.scopes,"
    " k.created_at, k.expires_at, k.revoked_at, k.rotated_from, k.key_sha256"
    " FROM access_api_keys k JOIN access_principals p USING (principal_id)"
)


def _stored(row: dict[str, Any]) -> StoredKey:
    return StoredKey(
        **{
            **row,
            "roles": tuple(row["roles"]),
            "channels": tuple(row["channels"]),
            "scopes": _scopes(row["scopes"]),
        }
    )


async def find_key(conn: Conn, key_id: str) -> StoredKey | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SELECT + " WHERE k.key_id = %s", (key_id,))
        row = await cur.fetchone()
    return _stored(row) if row else None


async def list_keys(conn: Conn, principal_id: str | None = None) -> list[StoredKey]:
    """Keys newest first, of one principal or of all."""
    where = " WHERE k.principal_id = %s" if principal_id else ""
    params = (principal_id,) if principal_id else ()
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SELECT + where + " ORDER BY k.created_at DESC, k.key_id", params)
        rows = await cur.fetchall()
    return [_stored(row) for row in rows]


async def issue_key(
    conn: Conn,
    principal_id: str,
    *,
    lifetime: timedelta,
    scopes: frozenset[Permission] | None,
    created_by: str,
    now: datetime,
    rotated_from: str | None = None,
) -> IssuedKey:
    """Store a new key for an existing principal and return it, secret included, this once."""
    if lifetime <= timedelta(0):
        raise ValueError("a key's lifetime must be positive")
    key_id, key = generate_key()
    expires_at = now + lifetime
    await conn.execute(
        "INSERT INTO access_api_keys (key_id, principal_id, key_sha256, scopes, created_at, expires_at,"
        " rotated_from, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            key_id,
            principal_id,
            key_digest(key),
            None if scopes is None else sorted(scopes),
            now,
            expires_at,
            rotated_from,
            created_by,
        ),
    )
    return IssuedKey(key_id, key, principal_id, expires_at, scopes, rotated_from)


async def revoke_key(conn: Conn, key_id: str, *, by: str, now: datetime) -> bool:
    """Revoke at once; False when there is no such key (revoking twice keeps the first time)."""
    cur = await conn.execute(
        "UPDATE access_api_keys SET revoked_at = coalesce(revoked_at, %s),"
        " revoked_by = coalesce(revoked_by, %s) WHERE key_id = %s RETURNING key_id",
        (now, by, key_id),
    )
    return await cur.fetchone() is not None


async def rotate_key(
    conn: Conn, key_id: str, *, overlap: timedelta, by: str, now: datetime
) -> IssuedKey | None:
    """A new key like ``key_id`` (same principal, scopes and lifetime); the old one keeps working
    for ``overlap`` only. None when the key is unknown, revoked or expired. One transaction."""
    if overlap < timedelta(0):
        raise ValueError("the overlap cannot be negative")
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT scopes, expires_at - created_at, principal_id FROM access_api_keys"
            " WHERE key_id = %s AND revoked_at IS NULL AND expires_at > %s FOR UPDATE",
            (key_id, now),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        scopes, lifetime, principal_id = row
        issued = await issue_key(
            conn,
            principal_id,
            lifetime=lifetime,
            scopes=_scopes(scopes),
            created_by=by,
            now=now,
            rotated_from=key_id,
        )
        await conn.execute(
            "UPDATE access_api_keys SET expires_at = least(expires_at, %s) WHERE key_id = %s",
            (now + overlap, key_id),
        )
    return issued
