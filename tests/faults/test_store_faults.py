"""The store under attack from inside: connections killed mid-transaction, and many writers at once."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import InteractionEvent
from hub.local_secrets import LocalSecrets
from hub.stack import Infra
from hub.stack.kafka import run_coro
from hub.stack.processes import process_status
from plumbing.eventstore.postgres import Conn
from plumbing.kafka import TopicSpec, ensure_topics
from services.timeline.store import record_interactions
from tests.faults.figures import projection_caught_up, stored_interactions, survival, wait_until
from tests.support.deployables import RunningHub
from tests.support.store import interaction_counts, streams_are_contiguous
from tests.support.traffic import TrafficPlan, publish_events, stored_events

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

WRITERS = 6


def _traffic(seed: int, deliveries: int) -> list[InteractionEvent]:
    plan = TrafficPlan(seed=seed, customers=80, deliveries=deliveries)
    return list(stored_events(plan, LocalSecrets.generate()))


def _terminate_others(dsn: str) -> int:
    """pg_terminate_backend on every other session of this database (the writer's, the projection's...);
    only this test's database is touched, so the shared server's other users are not. ``dsn`` must be
    allowed to signal the deployables' runtime roles (a superuser's)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).fetchall()
    return sum(1 for (done,) in rows if done)


@pytest.mark.deployables("projections")  # the writer is started below, with small batches
def test_backends_terminated_mid_transaction_are_retried_within_bounds_and_nothing_is_lost_or_doubled(
    hub: RunningHub, infra: Infra, superuser_dsn: str
) -> None:
    events = _traffic(81, 700)
    run_coro(lambda: ensure_topics(infra.kafka_bootstrap, [TopicSpec(hub.topics.interactions)]))
    run_coro(lambda: publish_events(infra.kafka_bootstrap, hub.topics.interactions, events))
    hub.extra_env["HUB_BATCH_SIZE"] = "25"  # many transactions: cuts land inside them
    hub.start("timeline")
    wait_until(lambda: interaction_counts(hub.dsn)[0] > 0, 60, "the writer to be busy")
    writer_pid = process_status("timeline", hub.run_dir).pid
    terminated, rounds = 0, 0
    while rounds < 8 and interaction_counts(hub.dsn)[0] < len(events):
        terminated += _terminate_others(superuser_dsn)  # the writer's role is not ours to signal
        rounds += 1
        time.sleep(0.3)  # the writer reconnects and appends again in between
    assert rounds >= 2 and terminated >= 2, "the writer finished before its connections could be cut"
    last_cut = time.monotonic()
    wait_until(lambda: interaction_counts(hub.dsn)[0] >= len(events), 120, "every event stored")
    figures = survival(hub.dsn, infra.pg_dsn, [e.event_id for e in events], time.monotonic() - last_cut)
    figures.report(f"{terminated} backends terminated in {rounds} rounds")
    assert (figures.lost, figures.duplicated, figures.drift) == (0, 0, 0)
    assert streams_are_contiguous(hub.dsn)
    # Retries are bounded per delivery (then the batch is NACKed and redelivered); the writer never dies.
    assert process_status("timeline", hub.run_dir).pid == writer_pid


async def _write_concurrently(dsn: str, events: list[InteractionEvent]) -> None:
    async with AsyncConnectionPool[Conn](dsn, min_size=WRITERS, max_size=WRITERS) as pool:

        async def writer(share: list[InteractionEvent]) -> None:
            for event in share:
                await record_interactions(pool, [event])  # one commit per event: many chances to interleave

        await asyncio.gather(*(writer(events[w::WRITERS]) for w in range(WRITERS)))


def test_concurrent_writers_against_a_tailing_projection_skip_no_event(
    infra: Infra, database: str, tmp_path: Path
) -> None:
    hub = RunningHub(infra=infra, dsn=database, run_dir=tmp_path / "run")
    hub.start("projections")  # tailing the log live while the writers commit
    try:
        events = _traffic(91, 600)
        started = time.monotonic()
        writers = threading.Thread(target=lambda: run_coro(lambda: _write_concurrently(database, events)))
        writers.start()
        writers.join(240)
        assert not writers.is_alive()
        caught_up = wait_until(lambda: projection_caught_up(database), 120, "the projection to catch up")
        with psycopg.connect(database) as conn:
            projected = {row[0] for row in conn.execute("SELECT event_id FROM card_timeline")}
        skipped = set(stored_interactions(database)) - projected
        figures = survival(database, infra.pg_dsn, [e.event_id for e in events], time.monotonic() - started)
        figures.report(f"{WRITERS} concurrent writers, projection caught up {caught_up:.1f}s after them")
        assert skipped == set()
        assert (figures.lost, figures.duplicated, figures.drift) == (0, 0, 0)
    finally:
        hub.stop()
