"""Survival: Kafka down at the ingress, and a timeline writer killed in the middle of its work."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bench.private_stack import PrivateStack
from hub import samples
from hub.demo import Webhook, conversation, new_tag, send, wait_for_card
from hub.local_secrets import LocalSecrets
from hub.stack import Infra
from hub.stack.kafka import run_coro
from plumbing.kafka import TopicSpec, ensure_topics
from tests.faults.figures import survival
from tests.support.deployables import RunningHub
from tests.support.store import interaction_counts, streams_are_contiguous
from tests.support.traffic import TrafficPlan, generate, publish_events, stored_events

pytestmark = pytest.mark.faults

OUTAGE_S = 20.0


def _wait_until(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _post(url: str, hook: Webhook) -> int:
    """One provider's POST on a connection of its own (called from several threads at once)."""
    return httpx.post(url + hook.path, content=hook.body, headers=hook.headers, timeout=60).status_code


@pytest.mark.deployables("timeline", "projections", "ingress", "api")
def test_with_kafka_stopped_a_webhook_gets_503_and_the_providers_retry_succeeds_later(
    private: PrivateStack, private_hub: RunningHub
) -> None:
    hub, kafka = private_hub, private.kafka  # a broker of this session alone: stopping it disturbs nobody
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


@pytest.mark.deployables("projections")  # the writer is started below, with smaller batches
def test_a_timeline_writer_killed_mid_batch_several_times_loses_doubles_and_drifts_nothing(
    hub: RunningHub, infra: Infra
) -> None:
    events = list(stored_events(TrafficPlan(seed=21, customers=80, deliveries=1200), LocalSecrets.generate()))
    run_coro(lambda: ensure_topics(hub.infra.kafka_bootstrap, [TopicSpec(hub.topics.interactions)]))
    run_coro(lambda: publish_events(hub.infra.kafka_bootstrap, hub.topics.interactions, events))
    hub.extra_env["HUB_BATCH_SIZE"] = "100"  # several batches between kills, one of them in flight
    hub.start("timeline")

    kills = 0
    for _ in range(3):
        # each writer works before it dies: a kill while it still starts would prove nothing
        target = min(interaction_counts(hub.dsn)[0] + 100, len(events))
        _wait_until(lambda t=target: interaction_counts(hub.dsn)[0] >= t, 90, f"{target} stored events")
        if interaction_counts(hub.dsn)[0] >= len(events):
            break
        hub.kill("timeline")
        kills += 1
        hub.start("timeline")
    assert kills == 3, "the writer finished before it could be killed three times; raise the traffic"
    restarted = time.monotonic()
    _wait_until(lambda: interaction_counts(hub.dsn)[0] >= len(events), 120, "every event to be stored")
    figures = survival(hub.dsn, infra.pg_dsn, [e.event_id for e in events], time.monotonic() - restarted)
    figures.report(f"timeline writer SIGKILLed {kills} times")
    assert (figures.lost, figures.duplicated, figures.drift) == (0, 0, 0)
    assert streams_are_contiguous(hub.dsn)


@pytest.mark.deployables("timeline", "projections", "ingress")
def test_webhooks_arriving_through_a_20_s_kafka_outage_are_refused_retried_and_stored_exactly_once(
    private: PrivateStack, private_hub: RunningHub
) -> None:
    hub = private_hub
    traffic = generate(TrafficPlan(seed=101, customers=15, deliveries=40), hub.secrets)
    run_coro(lambda: ensure_topics(private.infra.kafka_bootstrap, [TopicSpec(hub.topics.interactions)]))
    acknowledged: set[uuid.UUID] = set()
    refused = 0
    with httpx.Client(timeout=60) as client:
        for delivery in traffic.deliveries[:10]:  # before the outage
            assert send(client, hub.ports.ingress_url, delivery.webhook).status_code == 200
            acknowledged.update(delivery.event_ids)
        waiting = list(traffic.deliveries[10:])
        private.kafka.stop()
        down_at = time.monotonic()
        try:
            # Providers keep sending during the outage, three deliveries a second, without waiting for the
            # answers (each takes the publish timeout): Kafka stays down until every one is answered.
            with ThreadPoolExecutor(max_workers=16) as senders:
                answers = []
                while time.monotonic() - down_at < OUTAGE_S:
                    answers += [senders.submit(_post, hub.ports.ingress_url, d.webhook) for d in waiting[:3]]
                    time.sleep(1)
                statuses = [answer.result() for answer in answers]
            assert statuses == [503] * len(statuses), statuses
            refused = len(statuses)
        finally:
            private.kafka.start()
        for delivery in waiting:  # each provider retries until it gets a 2xx
            deadline = time.monotonic() + 60
            while send(client, hub.ports.ingress_url, delivery.webhook).status_code != 200:
                assert time.monotonic() < deadline, "the retry never succeeded"
                time.sleep(1)
            acknowledged.update(delivery.event_ids)
    recovered = time.monotonic() - down_at
    _wait_until(lambda: interaction_counts(hub.dsn)[0] >= len(acknowledged), 60, "every acknowledged event")
    figures = survival(hub.dsn, private.infra.pg_dsn, acknowledged, recovered)
    figures.report(f"Kafka down 20 s: {refused} deliveries refused with 503, then retried")
    assert refused > 0
    assert (figures.lost, figures.duplicated, figures.drift) == (0, 0, 0)
