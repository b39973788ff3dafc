"""``python -m services.recordings``: fetch call recordings into the blob store (wiring only)."""

from __future__ import annotations

import asyncio
import signal

import httpx
import structlog
from psycopg_pool import AsyncConnectionPool

from plumbing.blobs import FileBlobStore
from plumbing.eventstore import MIGRATIONS as EVENT_STORE_MIGRATIONS
from plumbing.eventstore.postgres import Conn
from plumbing.logging import configure_logging
from plumbing.migrations import apply_migrations_async
from plumbing.projection import MIGRATIONS as CHECKPOINT_MIGRATIONS
from plumbing.projection import checkpoint
from services.recordings.fetch import RecordingFetcher
from services.recordings.follower import RecordingFollower, follow_recordings
from services.recordings.settings import RecordingsSettings

log = structlog.get_logger()


async def run(settings: RecordingsSettings, stop: asyncio.Event) -> None:
    """Follow the log until ``stop``; without Twilio credentials, idle (the local demo has none)."""
    credentials = settings.credentials()
    if credentials is None:
        log.warning("recordings_not_fetched", reason="no Twilio credentials configured (HUB_TWILIO_*)")
        await stop.wait()
        return
    user, password = credentials
    dsn = settings.pg_dsn.get_secret_value()
    await apply_migrations_async(dsn, EVENT_STORE_MIGRATIONS, CHECKPOINT_MIGRATIONS)
    async with (
        AsyncConnectionPool[Conn](dsn, min_size=1, max_size=2) as pool,
        httpx.AsyncClient(timeout=settings.recording_timeout_s) as client,
    ):
        fetcher = RecordingFetcher(
            client,
            user,
            password,
            media_format=settings.recording_media_format,
            allowed_origins=settings.recording_allowed_origins,
            max_bytes=settings.recording_max_bytes,
            attempts=settings.recording_fetch_attempts,
            max_wait_s=settings.recording_retry_max_wait_s,
        )
        follower = RecordingFollower(
            fetcher, FileBlobStore(settings.blob_dir), not_found_grace_s=settings.recording_not_found_grace_s
        )
        log.info("recordings_started", after_position=await checkpoint(pool, follower.name))
        await follow_recordings(
            pool,
            dsn,
            follower,
            stop,
            batch_size=settings.recording_batch_size,
            idle_timeout=settings.recording_idle_timeout_s,
        )
        log.info("recordings_stopped", position=await checkpoint(pool, follower.name))


async def _main(settings: RecordingsSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run(settings, stop)


def main() -> None:
    settings = RecordingsSettings()  # pg_dsn and the optional Twilio credentials come from the environment
    configure_logging("recordings", settings.log_level)
    asyncio.run(_main(settings))


if __name__ == "__main__":
    main()
