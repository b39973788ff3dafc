"""How long Kafka keeps what a forget cannot reach is set where topics are made, on a real broker.

The interactions and dead-letter topics hold providers' payloads in clear until they expire, so their
retention is part of the erasure story: every hub topic is created with its ``retention.ms`` and a daily
``segment.ms`` (Kafka deletes whole segments only), and a topic made earlier with other settings is
brought back to them when a deployable ensures its topics.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from hub.stack import Infra
from plumbing.kafka import RETENTION_KEYS, ensure_topics
from plumbing.settings import Topics
from plumbing.topics import DAY_MS, hub_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _fresh() -> Topics:
    tag = uuid.uuid4().hex[:10]
    return Topics(
        interactions=f"test.{tag}.interactions", dead_letter=f"test.{tag}.dlq", timeline=f"test.{tag}.tl"
    )


async def _retention(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        asked = [
            ConfigResource(ConfigResourceType.TOPIC, name, dict.fromkeys(RETENTION_KEYS)) for name in names
        ]
        found: dict[str, dict[str, str]] = {}
        for response in await admin.describe_configs(asked):
            for resource in response.to_object()["resources"]:
                entries = resource["config_entries"]
                found[resource["resource_name"]] = {e["config_names"]: e["config_value"] for e in entries}
        return found
    finally:
        await admin.close()


async def _settled(bootstrap: str, wanted: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The topics' retention settings once they read ``wanted`` (brokers apply a change shortly after
    acknowledging it), or as they read at the deadline."""
    deadline = time.monotonic() + 15
    while True:
        found = await _retention(bootstrap, list(wanted))
        if found == wanted or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


def _spec(days: int) -> dict[str, str]:
    return {"retention.ms": str(days * DAY_MS), "segment.ms": str(DAY_MS), "cleanup.policy": "delete"}


async def test_every_hub_topic_expires_its_records_within_a_day_of_its_retention(infra: Infra) -> None:
    specs = hub_topics(_fresh())
    await ensure_topics(infra.kafka_bootstrap, specs.values())

    wanted = {
        specs[role].name: _spec(days)
        for role, days in (("interactions", 7), ("dead_letter", 30), ("timeline", 7))
    }
    assert await _settled(infra.kafka_bootstrap, wanted) == wanted


async def test_a_topic_made_earlier_with_a_longer_retention_is_brought_back_to_its_spec(infra: Infra) -> None:
    specs = hub_topics(_fresh())
    interactions = specs["interactions"]
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:  # as an older hub made it: a year's retention, the broker's week-long segments
        await admin.create_topics(
            [NewTopic(interactions.name, 1, 1, topic_configs={"retention.ms": str(365 * DAY_MS)})]
        )
    finally:
        await admin.close()

    await ensure_topics(infra.kafka_bootstrap, [interactions])

    wanted = {interactions.name: _spec(7)}
    assert await _settled(infra.kafka_bootstrap, wanted) == wanted
