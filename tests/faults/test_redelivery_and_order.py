"""At-least-once and unordered delivery: duplicates, a full replay and a shuffled order change nothing."""

from __future__ import annotations

import random
import sys
import time
import uuid
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import InteractionEvent
from hub.local_secrets import LocalSecrets
from hub.stack import Infra
from hub.stack.kafka import run_coro
from hub.stack.processes import start_process, stop_process
from plumbing.eventstore.postgres import Conn
from plumbing.kafka import TopicSpec, ensure_topics
from plumbing.projection import apply_next_batch
from projections.customer_card.store import CustomerCardProjection
from services.timeline.store import record_interactions
from tests.faults.figures import fresh_database, projection_caught_up, survival, wait_until
from tests.support.deployables import RunningHub
from tests.support.store import interaction_counts
from tests.support.traffic import TrafficPlan, publish_events, stored_events

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]


def _traffic(seed: int, deliveries: int) -> list[InteractionEvent]:
    return list(
        stored_events(TrafficPlan(seed=seed, customers=40, deliveries=deliveries), LocalSecrets.generate())
    )


def _publish(hub: RunningHub, events: list[InteractionEvent]) -> None:
    run_coro(lambda: ensure_topics(hub.infra.kafka_bootstrap, [TopicSpec(hub.topics.interactions)]))
    run_coro(lambda: publish_events(hub.infra.kafka_bootstrap, hub.topics.interactions, events))


def _store_state(dsn: str) -> tuple[Any, ...]:
    """Everything a redelivery could change: the log and the card read model."""
    with psycopg.connect(dsn) as conn:
        log = conn.execute("SELECT count(*), max(position), max(recorded_at) FROM events").fetchone()
        cards = conn.execute("SELECT customer_id, card::text FROM customer_cards ORDER BY 1").fetchall()
        identities = conn.execute("SELECT * FROM identity_index ORDER BY 1").fetchall()
    return log, cards, identities


def test_every_event_delivered_twice_then_the_whole_topic_replayed_leaves_store_and_cards_unchanged(
    hub: RunningHub, infra: Infra
) -> None:
    events = _traffic(31, 300)
    _publish(hub, [event for event in events for _ in range(2)])  # every record twice, back to back
    started = time.monotonic()
    wait_until(lambda: interaction_counts(hub.dsn)[0] >= len(events), 120, "every event to be stored")
    wait_until(lambda: projection_caught_up(hub.dsn), 120, "the projection to catch up")
    stored_once = time.monotonic() - started
    before = _store_state(hub.dsn)

    replayer = f"timeline-replay-{uuid.uuid4().hex[:6]}"
    group = f"replay-{uuid.uuid4().hex[:8]}"  # a new group reads from 0
    env = {**hub.env_for("timeline"), "HUB_TIMELINE_GROUP": group}
    start_process(replayer, [sys.executable, "-m", "services.timeline"], env, hub.run_dir)
    try:
        log = hub.run_dir / f"{replayer}.log"
        wait_until(
            lambda: log.exists() and log.read_text().count("interaction_duplicate") >= 2 * len(events),
            180,
            "the replay of the whole topic",
        )
    finally:
        stop_process(replayer, hub.run_dir)

    assert _store_state(hub.dsn) == before
    figures = survival(hub.dsn, infra.pg_dsn, [e.event_id for e in events], stored_once)
    figures.report("delivered twice, then replayed from offset 0")
    assert (figures.lost, figures.duplicated, figures.drift) == (0, 0, 0)


def _people(dsn: str) -> set[tuple[Any, ...]]:
    """Each surviving card as what a person is, independent of ids and arrival order."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT card FROM customer_cards WHERE card->>'merged_into' IS NULL").fetchall()
    return {
        (
            tuple(sorted(i["key"] for i in card["identities"])),
            card["interaction_count"],
            card["purchase_count"],
            tuple(sorted(card["purchase_totals"].items())),
            tuple(sorted((k, v["count"], v["last_at"]) for k, v in card["channels"].items())),
            card["last_interaction_at"],
            tuple(view["event_id"] for view in card["recent_interactions"]),
        )
        for (card,) in rows
    }


async def _ordered_replay(dsn: str, events: list[InteractionEvent]) -> None:
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=2) as pool:
        for event in events:
            await record_interactions(pool, [event])
        while await apply_next_batch(pool, CustomerCardProjection(), 500):
            pass


def test_out_of_order_delivery_across_channels_gives_the_cards_of_an_ordered_replay(
    hub: RunningHub, database: str, infra: Infra
) -> None:
    del database  # the hub's; the ordered replay gets one of its own below
    events = _traffic(41, 250)
    shuffled = random.Random(41).sample(events, len(events))  # purchases (merges) before chats, and so on
    _publish(hub, shuffled)
    started = time.monotonic()
    wait_until(lambda: interaction_counts(hub.dsn)[0] >= len(events), 120, "every event to be stored")
    figures = survival(hub.dsn, infra.pg_dsn, [e.event_id for e in events], time.monotonic() - started)
    figures.report("shuffled across channels")

    with fresh_database(infra.pg_dsn) as ordered:
        run_coro(lambda: _ordered_replay(ordered, sorted(events, key=lambda e: e.occurred_at)))
        people = _people(ordered)
        assert _people(hub.dsn) == people
    assert len(people) > 10
    with psycopg.connect(hub.dsn) as conn:
        merged = conn.execute("SELECT count(*) FROM customer_cards WHERE card->>'merged_into' IS NOT NULL")
        assert merged.fetchone() > (0,), "the traffic must make purchases merge customers"
    assert (figures.lost, figures.duplicated, figures.drift) == (0, 0, 0)
