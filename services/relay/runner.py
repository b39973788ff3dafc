"""Run the relay: prepare schema, topic and producer, then follow the log until stopped.

A batch Kafka refuses is retried (the producer also retries transient errors in place) with a capped
backoff. If Kafka keeps refusing for longer than ``relay_outage_limit_s`` since the last acknowledged
batch, the relay raises and the process exits, so its supervisor restarts it and the outage is visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from faststream.kafka import KafkaBroker
from psycopg_pool import AsyncConnectionPool

from plumbing.eventstore import MIGRATIONS as EVENT_STORE_MIGRATIONS
from plumbing.eventstore.postgres import Conn, read_all_stored
from plumbing.kafka import ensure_topics, make_broker
from plumbing.migrations import apply_migrations_async
from plumbing.projection import MIGRATIONS as CHECKPOINT_MIGRATIONS
from plumbing.projection import BatchObserver, checkpoint, follow
from plumbing.projection_metrics import projection_metrics_served
from plumbing.topics import hub_topics
from services.relay.relay import RelayPublishFailed, TimelineRelay
from services.relay.settings import RelaySettings

log = structlog.get_logger()

BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 5.0


def _backoff_s(attempt: int) -> float:
    """0.2 s, 0.4 s, 0.8 s, … capped at 5 s; ``attempt`` counts from 1."""
    return float(min(BACKOFF_FIRST_S * 2 ** (attempt - 1), BACKOFF_MAX_S))


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def relay_until_stopped(
    pool: AsyncConnectionPool[Conn],
    dsn: str,
    relay: TimelineRelay,
    stop: asyncio.Event,
    settings: RelaySettings,
    observer: BatchObserver | None = None,
) -> None:
    """Follow the log into Kafka until ``stop``; retry refused batches within the outage limit."""
    outage_since: float | None = None
    attempt = 0
    while not stop.is_set():
        try:
            await follow(
                pool,
                dsn,
                relay,
                stop,
                batch_size=settings.relay_batch_size,
                idle_timeout=settings.relay_idle_timeout_s,
                observer=observer,
                read=read_all_stored,  # sealed personal fields leave sealed: a forget reaches the topic too
            )
        except RelayPublishFailed:
            now = time.monotonic()
            if outage_since is None or relay.acknowledged_at > outage_since:
                outage_since, attempt = now, 0  # a batch got through since the last refusal: a new outage
            if now - outage_since >= settings.relay_outage_limit_s:
                log.error("timeline_relay_gave_up", topic=relay.topic, outage_s=round(now - outage_since, 1))
                raise
            attempt += 1
            await _sleep_unless_stopped(stop, _backoff_s(attempt))


async def _close(broker: KafkaBroker, timeout_s: float) -> None:
    """Flush and close the producer within a bound: an idempotent producer retries a batch to a broker that
    is down forever, and whatever it drops is not checkpointed, so it is sent again on the next start."""
    try:
        async with asyncio.timeout(timeout_s):
            await broker.stop()
    except TimeoutError:
        log.warning("timeline_relay_closed_with_unacknowledged_records")


async def run_relay(settings: RelaySettings, stop: asyncio.Event) -> None:
    """The relay's whole life: returns when ``stop`` is set, raises on an outage beyond the limit."""
    dsn = settings.pg_dsn.get_secret_value()
    topic = settings.topics.timeline
    await apply_migrations_async(dsn, EVENT_STORE_MIGRATIONS, CHECKPOINT_MIGRATIONS)
    timeline = hub_topics(settings.topics, timeline_partitions=settings.timeline_partitions)["timeline"]
    await ensure_topics(settings.kafka_bootstrap, [timeline])
    broker = make_broker(settings.kafka_bootstrap, client_id="timeline-relay")
    async with (
        AsyncConnectionPool[Conn](dsn, min_size=1, max_size=2) as pool,
        projection_metrics_served(pool) as observer,
    ):
        await broker.connect()
        try:
            relay = TimelineRelay(broker, topic, publish_timeout_s=settings.relay_publish_timeout_s)
            log.info("timeline_relay_started", topic=topic, after_position=await checkpoint(pool, relay.name))
            await relay_until_stopped(pool, dsn, relay, stop, settings, observer)
            log.info("timeline_relay_stopped", topic=topic, position=await checkpoint(pool, relay.name))
        finally:
            await _close(broker, settings.relay_publish_timeout_s)
