"""``python -m projections.customer_card``: follow the log into the customer card read model."""

from __future__ import annotations

import asyncio
import signal

from psycopg_pool import AsyncConnectionPool

from plumbing.eventstore.postgres import Conn
from plumbing.logging import configure_logging
from plumbing.migrations import apply_migrations_async
from plumbing.projection import follow
from plumbing.projection_metrics import projection_metrics_served
from projections.customer_card.settings import CardProjectionSettings
from projections.customer_card.store import MIGRATIONS, CustomerCardProjection


async def run(settings: CardProjectionSettings) -> None:
    dsn = settings.pg_dsn.get_secret_value()
    await apply_migrations_async(dsn, *MIGRATIONS)
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
            CustomerCardProjection(),
            stop,
            batch_size=settings.batch_size,
            idle_timeout=settings.idle_timeout_s,
            observer=observer,
        )


def main() -> None:
    settings = CardProjectionSettings()  # pg_dsn comes from the environment
    configure_logging("projections", settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
