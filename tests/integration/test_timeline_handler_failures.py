"""A handler failure that is not a store outage, on real Kafka and PostgreSQL: bounded redelivery, then
the culprit alone is dead-lettered and the rest of its batch is stored, so the partition flows on.

The fault is injected into the writer's own code path (its call into the store raises for one event, as
a bug triggered by one odd record would); Kafka, PostgreSQL and the store code stay real.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import InteractionEvent, parse_event
from contracts.identity_rules import IdentityRules
from hub.stack import Infra
from plumbing.eventstore.postgres import Conn
from plumbing.kafka import TopicSpec, ensure_topics
from plumbing.settings import Topics
from services.timeline import app as timeline_app
from services.timeline.dlq import ATTEMPTS, MAX_ATTEMPTS, read_dead_letters
from services.timeline.settings import TimelineSettings
from services.timeline.store import Recorded, record_interactions
from tests.support.events import chat_event
from tests.support.traffic import publish_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def _stored_ids(dsn: str) -> set[uuid.UUID]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute("SELECT event_id FROM events WHERE event_type = 'interaction.chat.received'")
        return {row[0] for row in await cur.fetchall()}


async def test_a_failing_batch_is_retried_a_bounded_number_of_times_then_only_its_culprit_is_parked(
    infra: Infra, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:10]
    events = [chat_event(tag, n) for n in range(6)]  # one sender: one partition, in order
    culprit = events[3].event_id
    calls_with_culprit = 0

    async def failing_for_culprit(
        pool: AsyncConnectionPool[Conn], batch: Sequence[InteractionEvent], rules: IdentityRules
    ) -> list[Recorded]:
        nonlocal calls_with_culprit
        if any(event.event_id == culprit for event in batch):
            calls_with_culprit += 1
            raise RuntimeError("a bug this one record triggers")
        return await record_interactions(pool, batch, rules)

    monkeypatch.setattr(timeline_app, "record_interactions", failing_for_culprit)
    topics = Topics(interactions=f"test.{tag}.interactions", dead_letter=f"test.{tag}.dlq")
    settings = TimelineSettings(
        pg_dsn=database, kafka_bootstrap=infra.kafka_bootstrap, topics=topics, timeline_group=f"tl-{tag}"
    )
    specs = [TopicSpec(topics.interactions), TopicSpec(topics.dead_letter)]
    await ensure_topics(infra.kafka_bootstrap, specs)
    await publish_events(infra.kafka_bootstrap, topics.interactions, events)

    app, _ = timeline_app.build_app(settings)
    await app.start()
    try:
        wanted = {event.event_id for event in events} - {culprit}
        deadline = time.monotonic() + 60
        while (await _stored_ids(database)) != wanted and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        letters = await read_dead_letters(infra.kafka_bootstrap, topics.dead_letter)
    finally:
        await app.stop()

    assert await _stored_ids(database) == wanted, "every event but the culprit is stored"
    assert calls_with_culprit >= MAX_ATTEMPTS, "the failing batch was redelivered before anything was parked"
    assert len(letters) == 1
    (letter,) = letters
    assert parse_event(json.loads(letter.value)).event_id == culprit
    assert "a bug this one record triggers" in letter.reason
    assert letter.headers[ATTEMPTS] == str(MAX_ATTEMPTS)

