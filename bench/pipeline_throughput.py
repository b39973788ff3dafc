"""Throughput of the write path on the real local stack: Kafka -> timeline writer -> store -> card.

Publishes N chat events (M people, so identities repeat) straight to a fresh topic, with the timeline
writer and the card projection running as processes against a fresh database, and prints:
events/s stored by the writer, events/s projected into cards (end to end), and the raw produce
rate of the same client as a ceiling. Run: ``.venv/bin/python -m bench.pipeline_throughput [N] [M]``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from aiokafka import AIOKafkaProducer

from bench.scratch_database import scratch_database
from hub import deployment
from hub.local_secrets import LocalSecrets
from hub.samples import chat_events
from hub.stack import Infra, ensure_infra
from plumbing.kafka import SAFE_PRODUCER, TopicSpec, ensure_topics


def _events(count: int, people: int, tag: str) -> list[bytes]:
    return [event.model_dump_json().encode() for event in chat_events(count, people, tag)]


async def _produce(bootstrap: str, topic: str, bodies: list[bytes]) -> float:
    """Publish all, acks=all + idempotent; returns events/s."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **SAFE_PRODUCER)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [
            await producer.send(topic, body, key=str(i % 64).encode()) for i, body in enumerate(bodies)
        ]
        await asyncio.gather(*futures)
        return len(bodies) / (time.perf_counter() - started)
    finally:
        await producer.stop()


def _count(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def _wait_for(dsn: str, query: str, target: int, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _count(dsn, query) >= target:
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError(f"{query} did not reach {target} in {timeout_s} s")


def main(count: int, people: int) -> dict[str, float]:
    infra = ensure_infra()
    with scratch_database(infra.pg_dsn) as dsn:
        return _measure(infra, dsn, count, people)


def _measure(infra: Infra, dsn: str, count: int, people: int) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    topic = f"bench.{tag}.interactions"
    bodies = _events(count, people, tag)
    asyncio.run(ensure_topics(infra.kafka_bootstrap, [TopicSpec(topic), TopicSpec(f"{topic}.ceiling")]))
    ceiling = asyncio.run(_produce(infra.kafka_bootstrap, f"{topic}.ceiling", bodies[: min(count, 20_000)]))
    asyncio.run(_produce(infra.kafka_bootstrap, topic, bodies))
    run_dir = Path(tempfile.mkdtemp(prefix="bench-run-"))
    env = deployment.service_env(
        Infra(infra.kafka_bootstrap, dsn),
        LocalSecrets.generate(),
        deployment.Ports(0, 0),
        run_dir / "blobs",
        HUB_TOPICS__INTERACTIONS=topic,
        HUB_TIMELINE_GROUP=f"bench-{tag}",
        HUB_LOG_LEVEL="WARNING",
    )
    started = time.monotonic()
    deployment.start_all(run_dir, env, ("timeline", "projections"))
    try:
        stored = _wait_for(
            dsn, "SELECT count(*) FROM events WHERE event_type LIKE 'interaction.%'", count, 600
        )
        projected = _wait_for(dsn, "SELECT count(*) FROM card_timeline", count, 600)
    finally:
        deployment.stop_all(run_dir)
    figures: dict[str, float] = {
        "events": count,
        "people": people,
        "kafka_produce_ceiling_events_per_s": round(ceiling),
        "timeline_writer_events_per_s": round(count / (stored - started)),
        "kafka_to_card_events_per_s": round(count / (projected - started)),
    }
    figures["writer_ratio_to_ceiling"] = round(figures["timeline_writer_events_per_s"] / ceiling, 4)
    return figures


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000
    print(json.dumps(main(n, m), indent=2))
