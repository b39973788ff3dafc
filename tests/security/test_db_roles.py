"""Immutability binds every deployable: runtime database roles own nothing and may only do their job.

Issue 18, hole 3: every deployable connected as the role that owned ``events`` and the verifier's functions,
so in one transaction it could ``GRANT UPDATE ON events TO CURRENT_USER; ALTER TABLE events DISABLE TRIGGER
…; UPDATE …``. Now the owner only migrates, and each deployable connects as a runtime role
(hub/deployment.py ``DATABASE_ROLES``, privileges declared once in plumbing/db_roles.py). Connected as each
runtime role, these tests try what a thief of that process's credentials would, and check that every try is
refused and the chain still verifies; then that each role can still do its job.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from hub import deployment
from hub.replay_projections import SPECS
from hub.stack import Infra
from plumbing.db_roles import OWNER_ONLY, TABLES, Runtime
from plumbing.eventstore import EventStoreError, PostgresEventStore
from plumbing.eventstore.audit import verify_chains
from plumbing.eventstore.postgres import MIGRATIONS as EVENT_STORE
from plumbing.eventstore.postgres import Conn, read_all
from plumbing.migrations import MigrationsPending, apply_migrations
from plumbing.rebuild import rebuild
from tests.support.deployables import RunningHub
from tests.support.events import new_events, stream_name
from tests.support.infra import with_database

pytestmark = pytest.mark.security

PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
FORGE = "UPDATE events SET data = data || '{\"forged\": true}'::jsonb"

#: What a thief of a deployable's credentials tries; each must fail with insufficient_privilege.
ATTACKS = {
    "update events": FORGE,
    "delete events": "DELETE FROM events",
    "truncate events": "TRUNCATE events CASCADE",
    "disable the immutability trigger": "ALTER TABLE events DISABLE TRIGGER events_immutable",
    "disable every trigger": "ALTER TABLE events DISABLE TRIGGER ALL",
    "drop the immutability trigger": "DROP TRIGGER events_immutable ON events",
    "add a trigger": "CREATE TRIGGER forge BEFORE INSERT ON events"
    " FOR EACH ROW EXECUTE FUNCTION events_chain_link()",
    "alter events": "ALTER TABLE events ADD COLUMN forged text",
    "take events over": "ALTER TABLE events OWNER TO CURRENT_USER",
    "drop events": "DROP TABLE events CASCADE",
    "replace event_content": "CREATE OR REPLACE FUNCTION event_content(e events) RETURNS text"
    " LANGUAGE sql IMMUTABLE AS $$ SELECT '' $$",
    "replace event_chain_link": "CREATE OR REPLACE FUNCTION event_chain_link(previous bytea, e events)"
    " RETURNS bytea LANGUAGE sql IMMUTABLE AS $$ SELECT previous $$",
    "replace event_chain_genesis": "CREATE OR REPLACE FUNCTION event_chain_genesis() RETURNS bytea"
    " LANGUAGE sql IMMUTABLE AS $$ SELECT ''::bytea $$",
    "replace the chaining trigger function": "CREATE OR REPLACE FUNCTION events_chain_link() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    "replace the refusing trigger function": "CREATE OR REPLACE FUNCTION events_refuse_change()"
    " RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    "make a verifier function run as its owner": "ALTER FUNCTION event_content(events) SECURITY DEFINER",
    "drop a verifier function": "DROP FUNCTION event_content(events) CASCADE",
    "create a shadowing function": "CREATE FUNCTION public.sha256(bytea) RETURNS bytea"
    " LANGUAGE sql AS $$ SELECT $1 $$",
    "create a table": "CREATE TABLE public.forged (x int)",
    "create a schema": "CREATE SCHEMA forged",
    "create a temporary table": "CREATE TEMPORARY TABLE events (x int)",
    "switch triggers off": "SET session_replication_role = replica",
    "become the owner": "SET ROLE hub",
    "change the access log": "UPDATE access_log SET outcome = 'ok'",
    "empty the access log": "DELETE FROM access_log",
}

#: The issue's attack, as one transaction.
THE_ISSUES_ATTACK = (
    "GRANT UPDATE ON events TO CURRENT_USER",
    "ALTER TABLE events DISABLE TRIGGER events_immutable",
    FORGE,
)

APPENDERS = [role for role in Runtime if "INSERT" in TABLES["events"].get(role, frozenset())]


def _database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


def role_dsns(infra: Infra, database: str) -> dict[Runtime, str]:
    """Each runtime role's DSN in the test's database, as the deployables get them."""
    if not infra.runtime_dsns:
        pytest.fail("no runtime role DSNs: with HUB_PG_DSN given, give HUB_PG_WRITER_DSN... too")
    by_deployable = deployment.deployable_dsns(
        {role: with_database(dsn, _database_name(database)) for role, dsn in infra.runtime_dsns.items()}
    )
    return {deployment.DATABASE_ROLES[name]: dsn for name, dsn in by_deployable.items()}


@pytest.fixture(scope="module")
def dsns(infra: Infra, module_database: str) -> dict[Runtime, str]:
    return role_dsns(infra, module_database)


@pytest.fixture(scope="module")
async def seeded(module_database: str, dsns: dict[Runtime, str]) -> str:
    """A customer stream of three events, appended by the timeline writer's role; the stream's id."""
    stream = stream_name()
    async with AsyncConnectionPool[Conn](dsns[Runtime.WRITER], min_size=1, max_size=2) as pool:
        await PostgresEventStore(pool).append(stream, new_events(3))
    return stream


async def _chains_intact(owner_dsn: str) -> tuple[int, int, str]:
    """(events, streams, digest of the heads) after checking that every chain verifies."""
    async with await psycopg.AsyncConnection.connect(owner_dsn) as conn, conn.transaction():
        report = await verify_chains(conn)
    assert report.intact, report.broken
    return report.events, report.streams, report.digest


def _refused(dsn: str, *statements: str) -> psycopg.Error:
    """The error the statements end with, run in one transaction that is then rolled back."""
    with psycopg.connect(dsn) as conn:
        try:
            for statement in statements:
                conn.execute(statement.encode())
        except psycopg.Error as exc:
            return exc
        finally:
            conn.rollback()
    raise AssertionError(f"{statements[-1]!r} was not refused")


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("role", list(Runtime))
async def test_a_runtime_role_is_refused_every_change_to_the_log_its_guards_and_the_schema(
    module_database: str, dsns: dict[Runtime, str], seeded: str, role: Runtime, attack: str
) -> None:
    before = await _chains_intact(module_database)
    error = _refused(dsns[role], ATTACKS[attack])
    assert isinstance(error, psycopg.errors.InsufficientPrivilege), f"{attack}: {error!r}"
    assert await _chains_intact(module_database) == before


@pytest.mark.parametrize("role", list(Runtime))
async def test_the_issues_attack_in_one_transaction_fails_for_every_runtime_role(
    module_database: str, dsns: dict[Runtime, str], seeded: str, role: Runtime
) -> None:
    before = await _chains_intact(module_database)
    error = _refused(dsns[role], *THE_ISSUES_ATTACK)
    assert isinstance(error, psycopg.errors.InsufficientPrivilege), repr(error)
    assert await _chains_intact(module_database) == before


@pytest.mark.parametrize("role", list(Runtime))
@pytest.mark.parametrize("grantee", ["CURRENT_USER", "PUBLIC"])
def test_a_runtime_role_cannot_grant_anything_on_events(
    module_database: str, dsns: dict[Runtime, str], role: Runtime, grantee: str
) -> None:
    """PostgreSQL answers a GRANT without grant option with a warning, not an error: what counts is that
    nothing was granted, checked in the same transaction."""
    with psycopg.connect(dsns[role]) as conn:
        try:
            conn.execute(f"GRANT ALL ON events TO {grantee}".encode())
        except psycopg.errors.InsufficientPrivilege:
            conn.rollback()
        for privilege in ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER"):
            row = conn.execute("SELECT has_table_privilege('events', %s)", (privilege,)).fetchone()
            assert row == (False,), privilege
        conn.rollback()


def test_runtime_roles_are_plain_logins_that_own_nothing_and_belong_to_no_role(
    module_database: str,
) -> None:
    names = [role.role for role in Runtime]
    with psycopg.connect(module_database) as conn:
        attributes = conn.execute(
            "SELECT rolname, rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls,"
            " rolcanlogin FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname",
            (names,),
        ).fetchall()
        owned = conn.execute(
            "WITH r AS (SELECT oid FROM pg_roles WHERE rolname = ANY(%s))"
            " SELECT 'relation ' || relname FROM pg_class WHERE relowner IN (TABLE r)"
            " UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proowner IN (TABLE r)"
            " UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspowner IN (TABLE r)"
            " UNION ALL SELECT 'type ' || typname FROM pg_type WHERE typowner IN (TABLE r)"
            " UNION ALL SELECT 'database ' || datname FROM pg_database WHERE datdba IN (TABLE r)"
            " UNION ALL SELECT 'large object ' || oid FROM pg_largeobject_metadata"
            "  WHERE lomowner IN (TABLE r)",
            (names,),
        ).fetchall()
        memberships = conn.execute(
            "SELECT member::regrole::text, roleid::regrole::text FROM pg_auth_members"
            " WHERE member::regrole::text = ANY(%s)",
            (names,),
        ).fetchall()
    assert attributes == [(name, False, True) for name in sorted(names)]
    assert owned == []
    assert memberships == []


def test_the_verifiers_functions_belong_to_the_owner_and_run_with_their_callers_rights(
    module_database: str,
) -> None:
    with psycopg.connect(module_database) as conn:
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'events'").fetchone()
        functions = conn.execute(
            "SELECT proname, proowner::regrole::text, prosecdef FROM pg_proc"
            " WHERE pronamespace = 'public'::regnamespace ORDER BY proname"
        ).fetchall()
    assert owner is not None and owner[0] not in {role.role for role in Runtime}
    names = {name for name, _, _ in functions}
    assert {"event_content", "event_chain_link", "event_chain_genesis", "events_chain_link"} <= names
    assert [(name, who, definer) for name, who, definer in functions if who != owner[0] or definer] == []


def test_every_table_has_declared_privileges_and_every_declaration_a_table(module_database: str) -> None:
    """A new table nobody declared in plumbing/db_roles.py fails here, so it cannot be forgotten."""
    with psycopg.connect(module_database) as conn:
        found = {
            name
            for (name,) in conn.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                " AND relkind IN ('r', 'p', 'v', 'm', 'f')"
            )
        }
    declared = TABLES.keys() | OWNER_ONLY
    assert found - declared == set(), "tables without declared privileges (plumbing/db_roles.py)"
    assert declared - found == set(), "declared tables no migration creates"


def test_each_runtime_role_holds_exactly_the_declared_privileges(module_database: str) -> None:
    held = _held(module_database, list(TABLES))
    with psycopg.connect(module_database) as conn:
        sequences = conn.execute(
            "SELECT c.relname, r FROM pg_class c, unnest(%s::text[]) r"
            " WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace"
            " AND has_sequence_privilege(r, c.oid, 'USAGE, SELECT, UPDATE')",
            ([role.role for role in Runtime],),
        ).fetchall()
    expected = {
        (table, role.role, privilege): privilege in TABLES[table].get(role, frozenset())
        for table in TABLES
        for role in Runtime
        for privilege in PRIVILEGES
    }
    assert {key for key, granted in held.items() if granted != expected[key]} == set()
    assert sequences == []  # identity columns need none


def test_granting_again_changes_nothing(module_database: str) -> None:
    def acls() -> list[tuple[str, str]]:
        with psycopg.connect(module_database) as conn:
            return conn.execute(
                "SELECT relname, coalesce(relacl::text, '') FROM pg_class"
                " WHERE relnamespace = 'public'::regnamespace ORDER BY relname"
            ).fetchall()

    before = acls()
    deployment.migrate_all(module_database)
    assert acls() == before


@pytest.mark.parametrize("role", APPENDERS)
async def test_the_appending_roles_append_and_read_the_log(
    module_database: str, dsns: dict[Runtime, str], role: Runtime
) -> None:
    """The timeline writer, the pipeline and media followers and the API append (sealing personal fields
    with a new customer key) and read back."""
    stream, events = stream_name(), new_events(2)
    async with AsyncConnectionPool[Conn](dsns[role], min_size=1, max_size=2) as pool:
        store = PostgresEventStore(pool)
        await store.append(stream, events)
        read = await store.read_stream(stream)
    assert [e.data for e in read] == [e.event.model_dump(mode="json") for e in events]  # opened again
    await _chains_intact(module_database)


async def test_the_projector_reads_the_log_and_writes_read_models_but_cannot_append(
    module_database: str, dsns: dict[Runtime, str], seeded: str
) -> None:
    async with await psycopg.AsyncConnection.connect(dsns[Runtime.PROJECTOR]) as conn:
        events = await read_all(conn, 0, 1000)
        assert seeded in {event.stream_id for event in events}
        await conn.execute(
            "INSERT INTO projection_checkpoints (name, position) VALUES ('roles-test', %s)"
            " ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            (events[-1].position,),
        )
        await conn.execute(
            "INSERT INTO customer_cards (customer_id, card, last_position) VALUES (%s, '{}', 1)",
            (uuid.uuid4(),),
        )
        await conn.commit()
    async with AsyncConnectionPool[Conn](dsns[Runtime.PROJECTOR], min_size=1, max_size=1) as pool:
        with pytest.raises(EventStoreError, match="InsufficientPrivilege"):
            await PostgresEventStore(pool, retry_s=5).append(stream_name(), new_events(1))


def _held(dsn: str, tables: list[str]) -> dict[tuple[str, str, str], bool]:
    with psycopg.connect(dsn) as conn:
        return {
            (table, role, privilege): bool(granted)
            for table, role, privilege, granted in conn.execute(
                "SELECT t, r, p, has_table_privilege(r, format('public.%%I', t), p)"
                " FROM unnest(%s::text[]) t, unnest(%s::text[]) r, unnest(%s::text[]) p",
                (tables, [role.role for role in Runtime], list(PRIVILEGES)),
            )
        }


async def test_tables_a_rebuild_switches_in_carry_the_privileges_of_the_ones_they_replace(
    database: str, dsns_of_database: dict[Runtime, str]
) -> None:
    tables = ["customer_cards", "card_identities", "card_timeline", "card_search"]
    before = _held(database, tables)
    report = await rebuild(database, SPECS["customer_card"], switch=True)
    assert report.switched
    assert _held(database, tables) == before
    async with await psycopg.AsyncConnection.connect(dsns_of_database[Runtime.PROJECTOR]) as conn:
        await conn.execute("INSERT INTO card_search (customer_id, term) VALUES (%s, 'x')", (uuid.uuid4(),))


@pytest.fixture
def dsns_of_database(infra: Infra, database: str) -> dict[Runtime, str]:
    return role_dsns(infra, database)


def test_a_runtime_role_starting_before_the_migrations_is_told_to_run_them(infra: Infra) -> None:
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(infra.pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        writer = with_database(infra.runtime_dsns[Runtime.WRITER], name)
        with pytest.raises(MigrationsPending, match="hub migrate"):
            apply_migrations(writer, EVENT_STORE)
    finally:
        with psycopg.connect(infra.pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_a_running_hubs_deployables_connect_as_runtime_roles_never_as_the_owner(hub: RunningHub) -> None:
    """Every role connected to the hub's database, but the test's own session, is a runtime role."""
    wanted = {role.role for role in deployment.DATABASE_ROLES.values()}
    deadline = time.monotonic() + 60
    with psycopg.connect(hub.dsn, autocommit=True) as conn:
        while True:
            seen = {
                user
                for (user,) in conn.execute(
                    "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database()"
                    " AND usename IS NOT NULL AND pid <> pg_backend_pid()"  # NULL: autovacuum
                )
            }
            if wanted <= seen or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert wanted <= seen
    assert seen <= {role.role for role in Runtime}
