"""Verified rebuild: replay a projection from position zero into a shadow schema while the live one keeps
serving, compare the two row by row, and (when asked) switch to the rebuilt tables atomically.

How, with the least machinery:

* The shadow schema ``rebuild_<projection>`` gets the projection's own yoyo migrations (yoyo's
  ``?schema=`` sets its search_path), so its tables, indexes and names are exactly the live ones, and it
  holds its own ``projection_checkpoints``.
* The rebuild connection's search_path is ``<shadow>, <live schema>``: the projection's unchanged
  ``apply`` writes the shadow tables, while everything it only reads (``events``) is the live schema's.
* The rebuild follows the live projection's checkpoint, never passes it. The last stretch runs in one
  transaction that locks the live checkpoint row (the live projection pauses, readers do not): the
  shadow catches up to exactly that position, the tables are compared at that same position, and a
  switch moves the live tables to a ``retired_<projection>_<time>`` schema and the shadow tables into
  the live schema (``ALTER TABLE … SET SCHEMA``: indexes and constraints move with them) before the
  commit. The live checkpoint already names the position the moved tables hold, so rows and
  checkpoint stay consistent; nothing is copied.

The retired tables stay for a manual rollback (move them back the same way) or ``DROP SCHEMA … CASCADE``.

One rebuild per projection and database at a time: the shadow schema has one name, so a second rebuild
would drop the first one's shadow under it. A rebuild holds a session advisory lock on its projection for
its whole run (released when its connection ends, even when the process dies) and a second one is
refused at once with :class:`RebuildRunning`, naming the backend that holds it. Rebuilds of different
projections run side by side.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import structlog
from psycopg import sql

from plumbing.db_roles import apply_grants_async
from plumbing.eventstore.postgres import Conn, read_all
from plumbing.migrations import apply_migrations
from plumbing.projection import Projection, read_window
from plumbing.rebuild_diff import TableDiff, compare_table

log = structlog.get_logger()
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
#: First key of the rebuild locks (two-int advisory keys, apart from the store's one-bigint ones): "HUBR".
_LOCK_CLASS = 0x4855_4252


class RebuildRunning(RuntimeError):
    """Another rebuild of the same projection runs in this database (its shadow schema is in use)."""


@dataclass(frozen=True)
class RebuildSpec:
    """A rebuildable projection: its checkpoint name, how to make it and its migrations. Its tables are
    those its migrations create, except ``not_owned`` ones (another follower's state that shares the
    migrations folder); ``volatile`` names per table the columns a rebuild cannot reproduce (left out of
    the comparison)."""

    name: str
    make: Callable[[], Projection]
    migrations: tuple[Path, ...]
    volatile: dict[str, tuple[str, ...]] = field(default_factory=dict)
    not_owned: frozenset[str] = frozenset()

    @property
    def slug(self) -> str:
        slug = re.sub(r"[^a-z0-9_]", "_", self.name.lower())
        if not _IDENTIFIER.match(slug):
            raise ValueError(f"cannot name a schema after projection {self.name!r}")
        return slug


@dataclass(frozen=True)
class Progress:
    """Where a rebuild is: events applied, the position reached and the one it heads for."""

    events: int
    position: int
    target: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        """Events per second so far."""
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds to the target at the current rate (positions stand in for events: gaps are rare)."""
        return (self.target - self.position) / self.rate if self.rate > 0 else None


@dataclass
class RebuildReport:
    projection: str
    shadow_schema: str
    events: int = 0
    elapsed_s: float = 0.0
    position: int = 0
    tables: list[TableDiff] = field(default_factory=list)
    switched: bool = False
    retired_schema: str | None = None

    @property
    def identical(self) -> bool:
        return all(table.differing == 0 for table in self.tables)

    @property
    def rate(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _schema_dsn(dsn: str, schema: str) -> str:
    return f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"


async def _prepare_shadow(dsn: str, spec: RebuildSpec, shadow: str) -> None:
    """A fresh shadow schema with the projection's tables (and its own checkpoint table)."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(shadow)))
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(shadow)))
    await asyncio.to_thread(apply_migrations, _schema_dsn(dsn, shadow), *spec.migrations)


@asynccontextmanager
async def _only_rebuild_of(dsn: str, spec: RebuildSpec) -> AsyncIterator[None]:
    """Hold the rebuild lock of ``spec`` for the block; :class:`RebuildRunning` when another holds it."""
    async with await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, application_name=f"hub rebuild {spec.slug}"
    ) as conn:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (_LOCK_CLASS, spec.slug))
        if not (await cur.fetchone() or (False,))[0]:
            raise RebuildRunning(await _holder(conn, spec))
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (_LOCK_CLASS, spec.slug))


async def _holder(conn: Conn, spec: RebuildSpec) -> str:
    """Why a rebuild is refused, naming the backend holding the lock when it is still there."""
    cur = await conn.execute(
        "SELECT a.pid, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.database = ("
        "SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND l.classid = %s::bigint::oid AND l.objid = (hashtext(%s)::bigint & 4294967295)::oid",
        (_LOCK_CLASS, spec.slug),
    )
    row = await cur.fetchone()
    held = f" (PostgreSQL backend {row[0]}, connected {row[1]:%Y-%m-%d %H:%M:%S %Z})" if row else ""
    return (
        f"a rebuild of {spec.name} is already running in this database{held}: its shadow schema"
        f" rebuild_{spec.slug} is in use; wait for it to finish, then run this again"
    )


class _Run:
    """One rebuild's state: the projection, its position, counts and the progress callback."""

    def __init__(
        self, spec: RebuildSpec, live: str, batch_size: int, on_progress: Callable[[Progress], None]
    ):
        self.spec = spec
        self.projection = spec.make()
        self.live = live
        self.batch_size = batch_size
        self.on_progress = on_progress
        self.position = 0
        self.events = 0
        self.started = time.monotonic()

    async def live_checkpoint(self, conn: Conn, *, lock: bool) -> int:
        query = sql.SQL("SELECT position FROM {} WHERE name = %s{}").format(
            sql.Identifier(self.live, "projection_checkpoints"), sql.SQL(" FOR UPDATE" if lock else "")
        )
        cur = await conn.execute(query, (self.spec.name,))
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def apply_batch(self, conn: Conn, target: int) -> bool:
        """Apply the next batch up to ``target`` into the shadow (caller's transaction); False when done."""
        window = await read_window(conn, self.projection, self.position, self.batch_size, read_all, target)
        if not window.scanned:
            return False
        if window.events:
            await self.projection.apply(conn, window.events)
        self.position = window.scanned_to
        self.events += window.scanned
        await conn.execute(
            "INSERT INTO projection_checkpoints (name, position) VALUES (%s, %s)"
            " ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()",
            (self.spec.name, self.position),
        )
        self.on_progress(Progress(self.events, self.position, target, time.monotonic() - self.started))
        return True

    async def catch_up(self, conn: Conn) -> None:
        """Batches of their own transactions until the shadow is within a batch of the live checkpoint."""
        while True:
            async with conn.transaction():
                target = await self.live_checkpoint(conn, lock=False)
                if target - self.position <= self.batch_size or not await self.apply_batch(conn, target):
                    return


async def _tables(conn: Conn, spec: RebuildSpec, shadow: str) -> list[str]:
    """The projection's tables, as its migrations made them in the shadow schema."""
    cur = await conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (shadow,)
    )
    bookkeeping = {"projection_checkpoints", *spec.not_owned}
    return [name for (name,) in await cur.fetchall() if name not in bookkeeping and "yoyo" not in name]


async def _switch(
    conn: Conn, spec: RebuildSpec, tables: list[str], schemas: tuple[str, str], position: int
) -> str:
    """Move the live tables out and the rebuilt ones in (caller's transaction); the retired schema."""
    live, shadow = schemas
    retired = f"retired_{spec.slug}_{datetime.now(UTC):%Y%m%d%H%M%S}"
    await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(retired)))
    for table in tables:
        cur = await conn.execute("SELECT to_regclass(%s)", (sql.Identifier(live, table).as_string(conn),))
        if (await cur.fetchone() or (None,))[0] is not None:
            await conn.execute(
                sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                    sql.Identifier(live, table), sql.Identifier(retired)
                )
            )
        await conn.execute(
            sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                sql.Identifier(shadow, table), sql.Identifier(live)
            )
        )
    await conn.execute(
        sql.SQL(
            "INSERT INTO {} (name, position) VALUES (%s, %s)"
            " ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()"
        ).format(sql.Identifier(live, "projection_checkpoints")),
        (spec.name, position),
    )
    await apply_grants_async(conn, live)  # the moved-in tables carry no grants yet: the live ones' roles
    return retired


def _quiet(_progress: Progress) -> None:
    """The default progress callback: say nothing."""


async def rebuild(
    dsn: str,
    spec: RebuildSpec,
    *,
    switch: bool = False,
    batch_size: int = 2000,
    live_schema: str = "public",
    diff_limit: int = 20,
    on_progress: Callable[[Progress], None] = _quiet,
) -> RebuildReport:
    """Rebuild ``spec`` into its shadow schema, compare it with the live tables at the live checkpoint,
    and switch to it when ``switch`` (whatever the comparison found: that is how a changed projection is
    deployed). See the module docstring for how the live projection keeps serving meanwhile."""
    async with _only_rebuild_of(dsn, spec):
        report = await _rebuild(dsn, spec, switch, batch_size, live_schema, diff_limit, on_progress)
    log.info(
        "projection_rebuilt",
        projection=spec.name,
        events=report.events,
        position=report.position,
        identical=report.identical,
        switched=report.switched,
    )
    return report


async def _rebuild(
    dsn: str,
    spec: RebuildSpec,
    switch: bool,
    batch_size: int,
    live_schema: str,
    diff_limit: int,
    on_progress: Callable[[Progress], None],
) -> RebuildReport:
    """:func:`rebuild`, once its lock is held."""
    shadow = f"rebuild_{spec.slug}"
    report = RebuildReport(spec.name, shadow)
    await _prepare_shadow(dsn, spec, shadow)
    options = f"-c search_path={shadow},{live_schema}"
    async with await psycopg.AsyncConnection.connect(dsn, options=options) as conn:
        run = _Run(spec, live_schema, batch_size, on_progress)
        await run.catch_up(conn)
        async with conn.transaction():
            target = await run.live_checkpoint(conn, lock=True)  # the live projection waits from here
            while await run.apply_batch(conn, target):
                pass
            tables = await _tables(conn, spec, shadow)
            for table in tables:
                volatile = spec.volatile.get(table, ())
                report.tables.append(
                    await compare_table(conn, table, live_schema, shadow, volatile, diff_limit)
                )
            if switch:
                schemas = (live_schema, shadow)
                report.retired_schema = await _switch(conn, spec, tables, schemas, run.position)
                report.switched = True
        report.events, report.position = run.events, run.position
        report.elapsed_s = time.monotonic() - run.started
    return report
