"""The database roles and what each may do: the one place the store's privileges are declared.

An owner role (``hub``, whoever runs the migrations) owns every table, sequence and function. The
deployables connect as runtime roles that own nothing, so none of them can grant itself a privilege,
alter or drop a table, disable a trigger, or replace a function the chain verifier trusts; on ``events``
they get at most INSERT and SELECT, and UPDATE, DELETE and TRUNCATE nobody (the owner gave them up too,
eventstore_0003). The split follows what each process does:

* ``hub_writer``: the timeline writer, which resolves identities and appends interactions;
* ``hub_projector``: the card and analytics projections and the relay: they read the log and write
  their own read models, and cannot append;
* ``hub_automation``: the pipeline (a purchase closes deals) and the media follower (files it fetched):
  projections that append what they decide;
* ``hub_api``: the read API and staff commands (which append), access control, forgetting.

:func:`apply_grants` makes the privileges exactly :data:`TABLES` (revoke everything, grant the declared,
in one transaction): ``migrate_all`` runs it after the migrations, and a rebuild's switch after moving
rebuilt tables in. A table nobody declared gets nothing and is logged; tests/security/test_db_roles.py
fails on it, so a new table cannot be forgotten.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Any, Final

import psycopg
import structlog
from psycopg import sql

log = structlog.get_logger()


class Runtime(StrEnum):
    """A runtime role, named after the job of the processes that connect as it."""

    WRITER = "writer"
    PROJECTOR = "projector"
    AUTOMATION = "automation"
    API = "api"

    @property
    def role(self) -> str:
        """The PostgreSQL role name (the same in every database of a cluster)."""
        return f"hub_{self.value}"


WRITER, PROJECTOR, AUTOMATION, API = Runtime.WRITER, Runtime.PROJECTOR, Runtime.AUTOMATION, Runtime.API

READ: Final = frozenset({"SELECT"})
APPEND: Final = frozenset({"SELECT", "INSERT"})
UPSERT: Final = frozenset({"SELECT", "INSERT", "UPDATE"})  # also ON CONFLICT DO UPDATE, SELECT FOR UPDATE
READ_WRITE: Final = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})

_CARD: Final = {PROJECTOR: READ_WRITE, API: READ}
_ANALYTICS: Final = {PROJECTOR: READ_WRITE, API: READ}
_PIPELINE: Final = {AUTOMATION: READ_WRITE, API: READ}

#: table -> runtime role -> privileges. Every table of the schema is here or in :data:`OWNER_ONLY`.
TABLES: Final[Mapping[str, Mapping[Runtime, frozenset[str]]]] = {
    # the event store (plumbing/eventstore): appended and read, never changed
    "events": {WRITER: APPEND, AUTOMATION: APPEND, API: APPEND, PROJECTOR: READ},
    "streams": {WRITER: UPSERT, AUTOMATION: UPSERT, API: UPSERT},
    "customer_keys": {WRITER: APPEND, AUTOMATION: APPEND, API: UPSERT, PROJECTOR: READ},  # API: forget
    # the write side's identity state (services/timeline, staff corrections and merges in the API)
    "identity_index": {WRITER: READ_WRITE, API: READ_WRITE},
    "transaction_references": {WRITER: READ_WRITE, API: READ_WRITE},  # the index's order and payment ids
    "customer_separations": {WRITER: READ, API: READ_WRITE},
    # followers' positions (plumbing/projection_migrations); the API reads them for read-your-writes
    "projection_checkpoints": {PROJECTOR: UPSERT, AUTOMATION: UPSERT, API: READ},
    # read models
    "customer_cards": _CARD,
    "card_identities": _CARD,
    "card_timeline": _CARD,
    "card_search": _CARD,
    "analytics_touches": _ANALYTICS,
    "analytics_sales": _ANALYTICS,
    "analytics_deals": _ANALYTICS,
    "analytics_tasks": _ANALYTICS,
    "analytics_threads": _ANALYTICS,
    "analytics_responses": _ANALYTICS,
    "analytics_aliases": _ANALYTICS,
    "analytics_traits": _ANALYTICS,
    "analytics_first_touches": _ANALYTICS,
    "analytics_touch_days": _ANALYTICS,
    "pipeline_deals": _PIPELINE,
    "pipeline_notes": _PIPELINE,
    "pipeline_tasks": _PIPELINE,
    "autoclose_candidates": {AUTOMATION: READ_WRITE},
    "autoclose_merges": {AUTOMATION: READ_WRITE},
    # the API's own state
    "analytics_saved_segments": {API: READ_WRITE},
    "sales_command_keys": {API: READ_WRITE},
    "access_principals": {API: UPSERT},
    "access_api_keys": {API: UPSERT},
    "access_log": {API: APPEND},  # append-only (triggers refuse changes, and no role may make them)
    # yoyo's record of applied migrations: a runtime role checks at start that none is pending
    "_yoyo_migration": dict.fromkeys(Runtime, READ),
}

#: Tables only the owner touches (yoyo's bookkeeping while migrating).
OWNER_ONLY: Final = frozenset({"_yoyo_log", "_yoyo_version", "yoyo_lock"})

#: Serialises concurrent grant runs on one database (two starters of ``hub migrate``).
_GRANTS_LOCK_KEY: Final = 0x4855_4247_5241_4E54  # "HUBGRANT"


class MissingRuntimeRoles(RuntimeError):
    """The runtime roles do not exist in the cluster: an operator creates them once (the message says how)."""


def privileges_of(role: Runtime) -> dict[str, frozenset[str]]:
    """table -> what ``role`` may do there (only the tables it may touch)."""
    return {table: grants[role] for table, grants in TABLES.items() if role in grants}


def _roles() -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(runtime.role) for runtime in Runtime)


def grant_statements(database: str, schema: str, tables: Collection[str]) -> list[sql.Composed]:
    """What makes the runtime roles' privileges exactly the declared ones, for the ``tables`` that exist."""
    db, space, roles = sql.Identifier(database), sql.Identifier(schema), _roles()
    statements: list[sql.Composed] = [
        sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db),  # no TEMP: nothing to shadow with
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, roles),
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC, {}").format(space, roles),  # as PG 15+, everywhere
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(space, roles),
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM PUBLIC, {}").format(space, roles),
        sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM PUBLIC, {}").format(space, roles),
    ]
    for table in sorted(set(tables) & TABLES.keys()):
        for runtime, privileges in TABLES[table].items():
            statements.append(
                sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                    sql.SQL(", ").join(sql.SQL(p) for p in sorted(privileges)),
                    sql.Identifier(schema, table),
                    sql.Identifier(runtime.role),
                )
            )
    return statements


_CATALOG = (
    "SELECT current_database(),"
    " ARRAY(SELECT tablename::text FROM pg_tables WHERE schemaname = %(schema)s),"
    " ARRAY(SELECT rolname::text FROM pg_roles WHERE rolname = ANY(%(roles)s))"
)


def _checked(schema: str, tables: list[str], roles: list[str]) -> None:
    missing = sorted({runtime.role for runtime in Runtime} - set(roles))
    if missing:
        raise MissingRuntimeRoles(
            f"runtime roles {', '.join(missing)} do not exist: create each once as a superuser, e.g."
            f" CREATE ROLE {missing[0]} LOGIN NOINHERIT PASSWORD '…' (deploy/local/README.md)"
        )
    undeclared = sorted(set(tables) - TABLES.keys() - OWNER_ONLY)
    if undeclared:
        log.warning("tables_without_declared_privileges", schema=schema, tables=undeclared)


def apply_grants(conn: psycopg.Connection[Any], schema: str = "public") -> None:
    """Make the runtime roles' privileges on ``schema`` the declared ones, in one transaction (owner)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_GRANTS_LOCK_KEY,))
        names = [runtime.role for runtime in Runtime]
        row = conn.execute(_CATALOG, {"schema": schema, "roles": names}).fetchone()
        assert row is not None  # a SELECT without FROM returns one row
        database, tables, roles = row
        _checked(schema, tables, roles)
        for statement in grant_statements(database, schema, tables):
            conn.execute(statement)


async def apply_grants_async(conn: psycopg.AsyncConnection[Any], schema: str = "public") -> None:
    """:func:`apply_grants` inside the caller's transaction (a rebuild's switch)."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_GRANTS_LOCK_KEY,))
    names = [runtime.role for runtime in Runtime]
    cur = await conn.execute(_CATALOG, {"schema": schema, "roles": names})
    row = await cur.fetchone()
    assert row is not None
    database, tables, roles = row
    _checked(schema, tables, roles)
    for statement in grant_statements(database, schema, tables):
        await conn.execute(statement)


def grant_runtime_privileges(dsn: str, schema: str = "public") -> None:
    """:func:`apply_grants` over a connection of its own (the owner's DSN)."""
    with psycopg.connect(dsn) as conn:
        apply_grants(conn, schema)
