"""The principals that authenticate with API keys: their kind, roles, team and channels.

Assigning roles is an upsert of a principal; it takes effect on the next request of every key of
that principal, because keys are looked up with their principal on every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from plumbing.access.principal import PrincipalKind
from plumbing.eventstore.postgres import Conn


@dataclass(frozen=True)
class PrincipalRecord:
    principal_id: str
    kind: PrincipalKind
    roles: list[str]
    team: str | None
    channels: list[str]
    created_at: datetime
    updated_at: datetime
    updated_by: str


_COLUMNS = "principal_id, kind, roles, team, channels, created_at, updated_at, updated_by"


def _record(row: dict[str, Any]) -> PrincipalRecord:
    return PrincipalRecord(**{**row, "kind": PrincipalKind(row["kind"])})


async def upsert_principal(
    conn: Conn,
    principal_id: str,
    *,
    kind: PrincipalKind,
    roles: list[str],
    team: str | None,
    channels: list[str],
    by: str,
) -> PrincipalRecord:
    """Create the principal or replace its kind, roles, team and channels."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"INSERT INTO access_principals (principal_id, kind, roles, team, channels, updated_by)"  # noqa: S608
            f" VALUES (%s, %s, %s, %s, %s, %s)"
            f" ON CONFLICT (principal_id) DO UPDATE SET kind = excluded.kind, roles = excluded.roles,"
            f" team = excluded.team, channels = excluded.channels, updated_at = now(),"
            f" updated_by = excluded.updated_by RETURNING {_COLUMNS}",
            (principal_id, kind.value, sorted(set(roles)), team, sorted(set(channels)), by),
        )
        row = await cur.fetchone()
    assert row is not None  # INSERT ... RETURNING always returns the row
    return _record(row)


async def get_principal(conn: Conn, principal_id: str) -> PrincipalRecord | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM access_principals WHERE principal_id = %s",  # noqa: S608
            (principal_id,),
        )
        row = await cur.fetchone()
    return _record(row) if row else None


async def list_principals(conn: Conn) -> list[PrincipalRecord]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM access_principals ORDER BY principal_id")  # noqa: S608
        rows = await cur.fetchall()
    return [_record(row) for row in rows]
