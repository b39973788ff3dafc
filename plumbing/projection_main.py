"""The process of one log-following projection: migrate, follow until SIGTERM/SIGINT, serve its metrics.

Every single-projection deployable (customer card, analytics) is this same loop over its own
projection, migrations and settings, so it lives here once.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from pathlib import Path

from psycopg_pool import AsyncConnectionPool
from pydantic import Field

from plumbing.eventstore.postgres import Conn
from plumbing.logging import configure_logging
from plumbing.migrations import apply_migrations_async
from plumbing.projection import Projection, follow
from plumbing.projection_metrics import projection_metrics_served
from plumbing.runtime import tune_collector
from plumbing.settings import StoreSettings


class ProjectionSettings(StoreSettings):
    """What every projection process reads from the environment."""

    batch_size: int = Field(default=500, ge=1, le=10_000)
    catch_up_batch_size: int | None = Field(
        default=None,
        ge=1,
        le=20_000,
        description="while catching up, batches double up to this (e.g. 4000); unset: they stay batch_size",
    )
    idle_timeout_s: float = Field(default=2.0, gt=0, description="poll interval if a NOTIFY is missed")


async def run_projection(
    settings: ProjectionSettings, projection: Projection, migrations: Sequence[Path]
) -> None:
    """Apply ``migrations``, then follow the log into ``projection`` until the process is asked to stop."""
    dsn = settings.pg_dsn.get_secret_value()
    await apply_migrations_async(dsn, *migrations)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with (
        AsyncConnectionPool[Conn](dsn, min_size=1, max_size=2) as pool,
        projection_metrics_served(pool) as observer,
    ):
        await follow(
            pool,
            dsn,
            projection,
            stop,
            batch_size=settings.batch_size,
            catch_up_batch_size=settings.catch_up_batch_size,
            idle_timeout=settings.idle_timeout_s,
            observer=observer,
        )


def projection_process(
    service: str, settings: ProjectionSettings, projection: Projection, migrations: Sequence[Path]
) -> None:
    """The body of a projection's ``main()``: JSON logs named ``service``, then :func:`run_projection`."""
    configure_logging(service, settings.log_level)
    tune_collector()
    asyncio.run(run_projection(settings, projection, migrations))
