"""``python -m projections.pipeline``: follow the log into the pipeline read model, and run the
purchase rule that closes deals as won (two followers, each with its own checkpoint)."""

from __future__ import annotations

import asyncio
import signal

from psycopg_pool import AsyncConnectionPool

from contracts.ids import require_id_key
from plumbing.eventstore.postgres import Conn
from plumbing.logging import configure_logging
from plumbing.migrations import apply_migrations_async
from plumbing.projection import Projection, follow
from plumbing.projection_metrics import projection_metrics_served
from plumbing.runtime import tune_collector
from projections.pipeline.autoclose import AutoCloseOnPurchase
from projections.pipeline.settings import PipelineProjectionSettings
from projections.pipeline.store import MIGRATIONS, PipelineProjection


async def run(settings: PipelineProjectionSettings) -> None:
    dsn = settings.pg_dsn.get_secret_value()
    followers: list[Projection] = [PipelineProjection(), AutoCloseOnPurchase(settings.pipelines())]
    await apply_migrations_async(dsn, *MIGRATIONS)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with (
        AsyncConnectionPool[Conn](dsn, min_size=1, max_size=2 * len(followers)) as pool,
        projection_metrics_served(pool) as observer,
    ):
        # A follower that fails stops the other too, so the process exits and its supervisor restarts it.
        async with asyncio.TaskGroup() as group:
            for follower in followers:
                group.create_task(
                    follow(
                        pool,
                        dsn,
                        follower,
                        stop,
                        batch_size=settings.batch_size,
                        idle_timeout=settings.idle_timeout_s,
                        observer=observer,
                    )
                )


def main() -> None:
    settings = PipelineProjectionSettings()  # pg_dsn comes from the environment
    require_id_key()  # without HUB_ID_KEY, fail the start rather than the first message
    configure_logging("pipeline", settings.log_level)
    tune_collector()
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
