"""The access log: one append-only row per read of a customer's card or timeline.

Rows are written on the connection that served the read, before the answer leaves the API: if the
row cannot be written, the caller gets an error instead of the data, so no read goes unrecorded.
A bulk read (a segment's members, an export) writes one row per customer it returned, all with the
request's id, so "who read this customer" finds bulk reads too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import dict_row

from plumbing.access.principal import Principal
from plumbing.eventstore.postgres import Conn


class Outcome(StrEnum):
    OK = "ok"
    NOT_FOUND = "not_found"
    #: The customer exists but is outside the caller's rows; the caller was told "not found".
    HIDDEN = "hidden"
    #: The caller lacks the route's permission.
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class AccessEntry:
    id: int
    at: datetime
    principal_id: str
    principal_kind: str
    key_id: str | None
    token_subject: str | None
    route: str
    customer_id: UUID | None
    served_customer_id: UUID | None
    outcome: Outcome
    request_id: str | None


async def append(
    conn: Conn,
    principal: Principal,
    *,
    route: str,
    customer_id: UUID | None,
    served_customer_id: UUID | None,
    outcome: Outcome,
    request_id: str | None,
) -> None:
    await conn.execute(
        "INSERT INTO access_log (principal_id, principal_kind, key_id, token_subject, route, customer_id,"
        " served_customer_id, outcome, request_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            principal.id,
            principal.kind.value,
            principal.key_id,
            principal.token_subject,
            route,
            customer_id,
            served_customer_id,
            outcome.value,
            request_id,
        ),
    )


async def append_many(
    conn: Conn, principal: Principal, *, route: str, customer_ids: Sequence[UUID], request_id: str | None
) -> None:
    """One ``ok`` row per customer of a bulk read, in one statement."""
    await conn.execute(
        "INSERT INTO access_log (principal_id, principal_kind, key_id, token_subject, route, customer_id,"
        " served_customer_id, outcome, request_id)"
        " SELECT %s, %s, %s, %s, %s, c, c, %s, %s"
        " FROM unnest(%s::uuid[]) WITH ORDINALITY AS u(c, n) ORDER BY n",
        (
            principal.id,
            principal.kind.value,
            principal.key_id,
            principal.token_subject,
            route,
            Outcome.OK.value,
            request_id,
            list(customer_ids),
        ),
    )


@dataclass(frozen=True)
class AccessQuery:
    """Filters of the auditors' query; ``before_id`` pages backwards (newest first)."""

    customer_id: UUID | None = None
    principal_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 100


def _where(query: AccessQuery) -> tuple[sql.Composable, dict[str, Any]]:
    clauses: list[sql.Composable] = []
    if query.customer_id is not None:
        clauses.append(sql.SQL("(customer_id = %(customer)s OR served_customer_id = %(customer)s)"))
    if query.principal_id is not None:
        clauses.append(sql.SQL("principal_id = %(principal)s"))
    if query.since is not None:
        clauses.append(sql.SQL("at >= %(since)s"))
    if query.until is not None:
        clauses.append(sql.SQL("at < %(until)s"))
    if query.before_id is not None:
        clauses.append(sql.SQL("id < %(before)s"))
    params = {
        "customer": query.customer_id,
        "principal": query.principal_id,
        "since": query.since,
        "until": query.until,
        "before": query.before_id,
    }
    return sql.SQL(" AND ").join(clauses or [sql.SQL("TRUE")]), params


async def search(conn: Conn, query: AccessQuery) -> tuple[list[AccessEntry], int | None]:
    """Entries newest first, and the ``before_id`` of the next page (None on the last page)."""
    where, params = _where(query)
    statement = sql.SQL(
        "SELECT id, at, principal_id, principal_kind, key_id, token_subject, route, customer_id,"
        " served_customer_id, outcome, request_id FROM access_log WHERE {} ORDER BY id DESC LIMIT %(limit)s"
    ).format(where)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, {**params, "limit": query.limit + 1})
        rows = await cur.fetchall()
    entries = [AccessEntry(**{**row, "outcome": Outcome(row["outcome"])}) for row in rows[: query.limit]]
    return entries, entries[-1].id if len(rows) > query.limit else None
