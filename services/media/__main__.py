"""``python -m services.media``: fetch call recordings and message files into the blob store (wiring only).

One follower per source, each with its own checkpoint, so one provider's outage stalls only its files.
"""

from __future__ import annotations

import asyncio
import signal

import httpx
import structlog
from psycopg_pool import AsyncConnectionPool

from contracts.ids import require_id_key
from plumbing.blobs import FileBlobStore
from plumbing.eventstore import MIGRATIONS as EVENT_STORE_MIGRATIONS
from plumbing.eventstore.postgres import Conn
from plumbing.logging import configure_logging
from plumbing.metrics_server import WorkerMetrics, metrics_served
from plumbing.migrations import apply_migrations_async
from plumbing.projection import MIGRATIONS as CHECKPOINT_MIGRATIONS
from plumbing.projection import checkpoint
from plumbing.projection_metrics import projection_metrics_served
from services.media.compose import sources
from services.media.follower import MediaFollower, follow_media
from services.media.settings import MediaSettings

log = structlog.get_logger()


async def run(settings: MediaSettings, stop: asyncio.Event) -> None:
    """Follow the log until ``stop``; with no source configured, idle."""
    dsn = settings.pg_dsn.get_secret_value()
    blobs = FileBlobStore(settings.blob_dir)
    async with httpx.AsyncClient(timeout=settings.media_timeout_s) as client:
        followers = [MediaFollower(source, blobs) for source in sources(settings, client)]
        if not followers:  # still answers /health and /metrics, for the probes
            async with metrics_served(WorkerMetrics()):
                await stop.wait()
            return
        await apply_migrations_async(dsn, EVENT_STORE_MIGRATIONS, CHECKPOINT_MIGRATIONS)
        async with (
            AsyncConnectionPool[Conn](dsn, min_size=1, max_size=len(followers) + 1) as pool,
            projection_metrics_served(pool) as observer,
        ):
            for follower in followers:
                log.info(
                    "media_follower_started",
                    follower=follower.name,
                    after=await checkpoint(pool, follower.name),
                )
            async with asyncio.TaskGroup() as group:
                for follower in followers:
                    group.create_task(
                        follow_media(
                            pool,
                            dsn,
                            follower,
                            stop,
                            batch_size=settings.media_batch_size,
                            idle_timeout=settings.media_idle_timeout_s,
                            observer=observer,
                        )
                    )
            log.info("media_stopped", followers=[follower.name for follower in followers])


async def _main(settings: MediaSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run(settings, stop)


def main() -> None:
    settings = MediaSettings()  # pg_dsn and the optional provider credentials come from the environment
    require_id_key()  # without HUB_ID_KEY, fail the start rather than the first message
    configure_logging("media", settings.log_level)
    asyncio.run(_main(settings))


if __name__ == "__main__":
    main()
