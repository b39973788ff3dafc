"""Survival: Kafka down at the ingress, and a timeline writer killed in the middle of its work."""

from __future__ import annotations

import time
import uuid

import httpx
import psycopg
import pytest

from hub import samples
from hub.demo import conversation, new_tag, send, wait_for_card
from hub.stack import LocalKafka, StackSettings
from plumbing.kafka import TopicSpec, ensure_topics
from tests.support.deployables import RunningHub
from tests.support.store import interaction_counts, streams_are_contiguous
from tests.support.traffic import chat_events, publish_events

pytestmark = pytest.mark.faults


def _wait_until(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _local_kafka() -> LocalKafka:
    settings = StackSettings()
    if settings.kafka_bootstrap is not None:
        pytest.skip("Kafka is external (HUB_KAFKA_BOOTSTRAP): this test must stop and start its own broker")
    return LocalKafka(settings)


def test_with_kafka_stopped_a_webhook_gets_503_and_the_providers_retry_succeeds_later(
    hub: RunningHub,
) -> None:
    kafka = _local_kafka()
    tag = new_tag()
    person = samples.sample_person(tag)
    chat = conversation(person, hub.secrets, tag)[1]
    kafka.stop()
    try:
        with httpx.Client(timeout=60) as client:
            started = time.monotonic()
            refused = send(client, hub.ports.ingress_url, chat)
            took = time.monotonic() - started
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "kafka_unavailable"
        assert took < 30, f"the 503 took {took:.1f} s; it must come within a bounded time"
        assert interaction_counts(hub.dsn) == (0, 0)
    finally:
        kafka.start()
    with httpx.Client(timeout=60) as client:
        retried = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the provider retries until it gets a 2xx
            retried = send(client, hub.ports.ingress_url, chat)
            if retried.status_code == 200:
                break
            time.sleep(1)
        assert retried is not None and retried.status_code == 200, retried.text if retried else None
    with httpx.Client(timeout=60, headers=hub.api_headers) as reader:
        card = wait_for_card(reader, hub.ports.api_url, person.email, interactions=1)
    assert card["interaction_count"] == 1
    _wait_until(lambda: interaction_counts(hub.dsn) == (1, 1), 30, "exactly one stored interaction")


async def test_a_timeline_writer_killed_mid_batch_and_restarted_loses_and_doubles_nothing(
    hub: RunningHub,
) -> None:
    total = 2000
    events = chat_events(total, people=150, tag=uuid.uuid4().hex[:8])
    await ensure_topics(hub.infra.kafka_bootstrap, [TopicSpec(hub.topics.interactions)])
    await publish_events(hub.infra.kafka_bootstrap, hub.topics.interactions, events)

    _wait_until(lambda: interaction_counts(hub.dsn)[0] >= 100, 60, "the writer to be busy")
    hub.kill("timeline")
    stored_at_kill, _ = interaction_counts(hub.dsn)
    assert stored_at_kill < total, "the writer finished before it could be killed; raise `total`"

    hub.start("timeline")
    _wait_until(lambda: interaction_counts(hub.dsn)[0] >= total, 120, "every event to be stored")
    time.sleep(1)  # let a doubled write, if any, land before counting
    assert interaction_counts(hub.dsn) == (total, total)
    assert streams_are_contiguous(hub.dsn)
    with psycopg.connect(hub.dsn) as conn:
        customers = conn.execute("SELECT count(DISTINCT customer_id) FROM identity_index").fetchone()
    assert customers == (150,)
