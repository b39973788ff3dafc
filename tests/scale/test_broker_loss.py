"""Three brokers, replication 3, min.insync.replicas 2: losing one broker under load changes nothing a
provider can see; losing two makes webhooks answer 503 (Kafka refuses with NOT_ENOUGH_REPLICAS) instead
of accepting what could be lost; after the brokers return, every acknowledged event is in the store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped, unused-ignore]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped, unused-ignore]

from hub import deployment
from hub.stack import Infra, LocalKafkaCluster
from plumbing.kafka import bootstrap_servers
from tests.scale.instances import create_hub_topics, send_all, start_instance, stop_instances, wait_until
from tests.support.deployables import RunningHub
from tests.support.store import interaction_counts, streams_are_contiguous
from tests.support.traffic import PUBLIC_BASE, SignedDelivery, TrafficPlan, generate

pytestmark = [pytest.mark.scale, pytest.mark.timeout(600)]

#: Longer than a broker failover here (4 s session timeout, election, metadata refresh), so losing one
#: broker delays a webhook instead of failing it. The capacity plan (deploy/CAPACITY.md) says the same.
PUBLISH_TIMEOUT_S = "15"


@pytest.fixture
def hub(
    kafka_cluster: LocalKafkaCluster, infra: Infra, database: str, tmp_path: Path
) -> Iterator[RunningHub]:
    cluster = replace(infra, kafka_bootstrap=kafka_cluster.bootstrap)  # the same PostgreSQL and roles
    running = RunningHub(infra=cluster, dsn=database, run_dir=tmp_path)
    yield running
    stop_instances(running, ["ingress", "timeline"])


def _start(hub: RunningHub) -> None:
    start_instance(hub, "timeline", "timeline")
    extra = {"HUB_PUBLISH_TIMEOUT_S": PUBLISH_TIMEOUT_S, "HUB_PUBLIC_BASE_URL": PUBLIC_BASE}
    start_instance(hub, "ingress", "ingress", **extra)
    deployment.wait_http_ok(f"{hub.ports.ingress_url}/health", 60, hub.run_dir, "ingress")


def _stored_ids(dsn: str) -> set[UUID]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT event_id FROM events WHERE event_type LIKE 'interaction.%%'").fetchall()
    return {row[0] for row in rows}


async def _in_sync_replicas(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(bootstrap))
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        return [len(partition["isr"]) for partition in described["partitions"]]
    finally:
        await admin.close()


def _ids(deliveries: list[SignedDelivery]) -> set[UUID]:
    return {event_id for delivery in deliveries for event_id in delivery.event_ids}


async def test_one_broker_lost_under_load_is_invisible_two_lost_answer_503_and_nothing_acknowledged_is_lost(
    hub: RunningHub, kafka_cluster: LocalKafkaCluster
) -> None:
    await create_hub_topics(hub)
    _start(hub)
    traffic = generate(TrafficPlan(seed=11, customers=60, deliveries=168), hub.secrets).deliveries
    before, during, refused = list(traffic[:40]), list(traffic[40:160]), list(traffic[160:])
    # refused ones are sent at once: each waits out the publish timeout before its 503
    url = hub.ports.ingress_url

    # one broker of three crashes while webhooks keep coming: every one is acknowledged
    warm = await send_all(url, before)
    assert [status for _, status in warm] == [200] * len(before)
    assert kafka_cluster.kill_broker(1)
    answers = await send_all(url, during)
    assert [status for _, status in answers] == [200] * len(during), "losing one broker surfaced errors"

    # a second one crashes: once the controller has fenced it, only one replica is in sync anywhere
    assert kafka_cluster.kill_broker(2)
    survivor = kafka_cluster.broker_address(3)

    async def isr_shrunk() -> bool:
        try:
            return set(await _in_sync_replicas(survivor, hub.topics.interactions)) == {1}
        except KafkaError:  # metadata still names the dead broker as a node to ask: not yet
            return False

    await wait_until(isr_shrunk, 60, "the ISRs to shrink to the surviving broker")
    answers = await send_all(url, refused, concurrency=len(refused))
    assert [status for _, status in answers] == [503] * len(refused), "accepted with one replica in sync"
    assert "NotEnoughReplicas" in hub.log("ingress"), "the 503s were not Kafka refusing for replicas"

    # the brokers come back; the providers retry what was refused, as they do after a 503
    await asyncio.gather(*(asyncio.to_thread(kafka_cluster.start_broker, number) for number in (1, 2)))
    retried = await send_all(url, refused)
    assert [status for _, status in retried] == [200] * len(refused)

    acknowledged = _ids(before) | _ids(during) | _ids(refused)

    async def all_stored() -> bool:
        return acknowledged <= _stored_ids(hub.dsn)

    await wait_until(all_stored, 120, "every acknowledged event in the store")
    stored, distinct = interaction_counts(hub.dsn)
    assert stored == distinct == len(acknowledged)
    assert streams_are_contiguous(hub.dsn)
