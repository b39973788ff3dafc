"""A fresh, migrated database on the benchmark's PostgreSQL, dropped afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
from psycopg import sql

from hub import deployment


@contextlib.contextmanager
def scratch_database(server_dsn: str, superuser_dsn: str | None = None) -> Iterator[str]:
    """Create ``bench_<random>`` next to ``server_dsn``'s database, migrate it, yield its DSN, drop it.

    The drop ends the sessions still in it, which takes the superuser (``superuser_dsn``) when they are
    the runtime roles' (a deployable still stopping): the owner may not end another role's session."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = server_dsn.rsplit("/", 1)[0] + f"/{name}"
    try:
        deployment.migrate_all(dsn)
        yield dsn
    finally:
        with psycopg.connect(superuser_dsn or server_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
