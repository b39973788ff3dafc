"""Versioned schema migrations with yoyo: each package ships its own folder of SQL files.

Migration ids are file names, so every package prefixes its files with its own name.

Only the owner role migrates (plumbing/db_roles.py). A deployable that connects as a runtime role still
calls :func:`apply_migrations` when it starts: it then only checks, read-only, that every migration it
needs is applied, and refuses to start with a clear error when one is not (run ``hub migrate`` first).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
from yoyo import get_backend, read_migrations
from yoyo.migrations import MigrationList


class MigrationsPending(RuntimeError):
    """Migrations are missing and this role may not apply them (it is not the owner)."""


def _yoyo_dsn(dsn: str) -> str:
    """yoyo picks its driver from the URL scheme; we use psycopg 3."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or scheme not in {"postgres", "postgresql", "postgresql+psycopg"}:
        raise ValueError("expected a postgresql:// URL for migrations")
    return f"postgresql+psycopg://{rest}"


def _pending(dsn: str, migrations: MigrationList) -> tuple[list[str], bool]:
    """The ids of ``migrations`` not applied yet, and whether this role may create in its schema."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT has_schema_privilege(current_schema(), 'CREATE'),"
            " to_regclass('_yoyo_migration') IS NOT NULL"
        ).fetchone()
        assert row is not None  # a SELECT without FROM returns one row
        may_create, recorded = row
        applied: set[str] = set()
        if recorded:
            try:
                applied = {h for (h,) in conn.execute("SELECT migration_hash FROM _yoyo_migration")}
            except psycopg.errors.InsufficientPrivilege:
                applied = set()  # cannot tell: a runtime role of a store whose grants were never applied
    return [m.id for m in migrations if m.hash not in applied], bool(may_create)


def apply_migrations(dsn: str, *folders: Path) -> None:
    """Apply every migration not applied yet, under yoyo's lock (safe with concurrent starters).

    When all are applied already nothing is locked or written, so a runtime role passes; when some are
    not and this role may not create tables, :class:`MigrationsPending` says which.
    """
    migrations = read_migrations(*(str(folder) for folder in folders))
    if "schema" not in parse_qs(urlsplit(dsn).query):  # yoyo's own parameter (rebuilds): yoyo decides
        pending, may_create = _pending(dsn, migrations)
        if not pending:
            return
        if not may_create:
            raise MigrationsPending(
                f"{len(pending)} migration(s) not applied ({', '.join(pending[:5])}) and this role may not"
                " apply them: run `hub migrate` as the owner role (HUB_PG_DSN of the migration job) first"
            )
    backend = get_backend(_yoyo_dsn(dsn))
    with backend.lock():
        backend.apply_migrations(backend.to_apply(migrations))


async def apply_migrations_async(dsn: str, *folders: Path) -> None:
    """:func:`apply_migrations` off the event loop."""
    await asyncio.to_thread(apply_migrations, dsn, *folders)
