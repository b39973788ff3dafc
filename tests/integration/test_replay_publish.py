"""Re-publishing a range of the log onto a Kafka topic for a team that lost its state, through real Kafka."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner

from hub.cli import app
from hub.stack import Infra
from plumbing.blobs import FileBlobStore
from plumbing.eventstore.postgres import Conn
from plumbing.eventstore.sealing import SEALED
from tests.support.audit import chat_with_evidence, email
from tests.support.kafka import topic_end_offsets

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


async def _read_topic(bootstrap: str, topic: str) -> list[tuple[bytes, dict[str, str], bytes]]:
    """Every record of ``topic`` (key, headers, value), partition by partition, in offset order."""
    ends = await topic_end_offsets(bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[tuple[bytes, dict[str, str], bytes]] = []
    try:
        for partition, end in sorted(ends.items()):
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=5000)
                for message in batch.get(tp, []):
                    headers = {name: value.decode() for name, value in message.headers}
                    records.append((message.key or b"", headers, message.value or b""))
    finally:
        await consumer.stop()
    return records


async def test_a_range_of_the_log_is_republished_with_the_original_event_ids_in_store_order(
    infra: Infra, database: str, pool: AsyncConnectionPool[Conn], tmp_path: Path
) -> None:
    blobs = FileBlobStore(tmp_path / "blobs")
    tag = uuid.uuid4().hex[:6]
    for n in range(8):
        await chat_with_evidence(pool, blobs, f"p{n}-{tag}", f"message {n}", email(f"{tag}-{n % 3}"))
    with psycopg.connect(database) as conn:
        stored = conn.execute(
            "SELECT position, event_id, stream_id, data, metadata FROM events ORDER BY position"
        ).fetchall()  # as stored: a replay publishes personal fields sealed, as the relay does
    first, last = stored[2][0], stored[-3][0]
    wanted = [row for row in stored if first <= row[0] <= last]
    topic = f"hub.replay.test.{tag}"

    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        [
            "replay",
            "publish",
            "--from-position",
            str(first),
            "--to-position",
            str(last),
            "--topic",
            topic,
            "--partitions",
            "3",
        ],
        env={"HUB_PG_DSN": database, "HUB_KAFKA_BOOTSTRAP": infra.kafka_bootstrap},
    )
    assert result.exit_code == 0, result.output
    records = await _read_topic(infra.kafka_bootstrap, topic)

    assert sorted(headers["event_id"] for _, headers, _ in records) == sorted(str(row[1]) for row in wanted)
    by_id = {str(row[1]): row for row in wanted}
    for key, headers, value in records:
        position, _, stream_id, data, metadata = by_id[headers["event_id"]]
        assert (int(headers["position"]), headers["stream_id"]) == (position, stream_id)
        assert key.decode() == stream_id.removeprefix("customer-")
        assert json.loads(value) == data  # the stored row's data: personal fields sealed
        assert json.loads(headers["sealed"]) == metadata[SEALED]
    per_key: dict[bytes, list[int]] = {}
    for key, headers, _ in records:
        per_key.setdefault(key, []).append(int(headers["position"]))
    assert all(positions == sorted(positions) for positions in per_key.values())
