"""Runs a projection over the event store's global log: catch up, then follow it live.

Guarantee: the read model's rows and the projection's checkpoint are written in ONE transaction,
and the checkpoint row is locked for that transaction, so a crash never leaves rows without their
checkpoint (or the reverse) and two instances never apply the same batch. The log is read from the
store, never from Kafka, so a rebuild replays exactly what the live projection saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from plumbing.eventstore import RecordedEvent
from plumbing.eventstore.postgres import NOTIFY_CHANNEL, Conn, read_all, translated_errors

MIGRATIONS = Path(__file__).parent / "projection_migrations"
log = structlog.get_logger()


class Projection(Protocol):
    """A read model fed by the global log."""

    name: str

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        """Write the effect of ``events`` (in position order) inside the caller's transaction."""


async def _locked_checkpoint(conn: Conn, name: str) -> int:
    await conn.execute(
        "INSERT INTO projection_checkpoints (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING",
        (name,),
    )
    cur = await conn.execute("SELECT position FROM projection_checkpoints WHERE name = %s FOR UPDATE", (name,))
    row = await cur.fetchone()
    assert row is not None  # inserted just above
    return int(row[0])


async def checkpoint(pool: AsyncConnectionPool[Conn], name: str) -> int:
    """The last position a projection has applied (0 before its first batch)."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT position FROM projection_checkpoints WHERE name = %s", (name,))
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def apply_next_batch(pool: AsyncConnectionPool[Conn], projection: Projection, batch_size: int) -> int:
    """Apply the next batch after the checkpoint; returns how many events it applied."""
    async with translated_errors(), pool.connection() as conn, conn.transaction():
        position = await _locked_checkpoint(conn, projection.name)
        events = await read_all(conn, position, batch_size)
        if not events:
            return 0
        await projection.apply(conn, events)
        await conn.execute(
            "UPDATE projection_checkpoints SET position = %s, updated_at = now() WHERE name = %s",
            (events[-1].position, projection.name),
        )
    log.debug("projection_batch", projection=projection.name, events=len(events), position=events[-1].position)
    return len(events)


async def _wait_for_append(listener: Conn, timeout: float) -> None:
    """Return on the next append notification, or after ``timeout`` (a safety net for lost ones)."""
    async for _ in listener.notifies(timeout=timeout, stop_after=1):
        return


async def follow(
    pool: AsyncConnectionPool[Conn],
    dsn: str,
    projection: Projection,
    stop: asyncio.Event,
    *,
    batch_size: int = 500,
    idle_timeout: float = 2.0,
) -> None:
    """Catch up, then stay live (woken by LISTEN/NOTIFY) until ``stop`` is set."""
    listener = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    try:
        await listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        while not stop.is_set():
            if await apply_next_batch(pool, projection, batch_size) == 0:
                await _wait_for_append(listener, idle_timeout)
    finally:
        await listener.close()
