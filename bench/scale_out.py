"""Scale-out on one machine: 1 vs 2 timeline writers, and 1 vs 3 Kafka brokers.

Writers: N chat events (M people) are published to a fresh six-partition topic while K writer processes
of one consumer group run against a fresh database; prints events/s from the first publish to the last
stored event. Brokers: the safe producer (acks=all, idempotent) against the shared single node (one
replica) and a private three-broker cluster (three replicas, min.insync.replicas 2): the latency of one
awaited send (what a webhook waits for) and the rate of N sends in flight.

Caveat: this machine has 2 cores, shared by Kafka, PostgreSQL and the writers, so a second writer or more
brokers compete for the same CPU; the figures show the cost of replication and the coordination overhead,
not the gain more machines would bring.

Run: ``.venv/bin/python -m bench.scale_out [events] [people]``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped, unused-ignore]

from bench.scratch_database import scratch_database
from hub import deployment
from hub.local_secrets import LocalSecrets
from hub.samples import chat_events
from hub.stack import Infra, LocalKafkaCluster, StackSettings, ensure_infra
from hub.stack.processes import start_process, stop_process
from plumbing.kafka import SAFE_PRODUCER, bootstrap_servers, ensure_topics
from plumbing.settings import Topics
from plumbing.topics import hub_topics


def _stored(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE event_type LIKE 'interaction.%%'").fetchone()
    return int(row[0]) if row else 0


async def _publish(bootstrap: str, topic: str, bodies: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(bootstrap), **SAFE_PRODUCER)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, body, key=key) for key, body in bodies])
    finally:
        await producer.stop()


def writers_rate(infra: Infra, writers: int, count: int, people: int) -> float:
    """Events/s stored by ``writers`` processes of one group, publish to last append."""
    tag = uuid.uuid4().hex[:8]
    topics = Topics(
        interactions=f"bench.{tag}.in", dead_letter=f"bench.{tag}.dlq", timeline=f"bench.{tag}.tl"
    )
    asyncio.run(ensure_topics(infra.kafka_bootstrap, hub_topics(topics).values()))
    events = chat_events(count, people, tag)
    bodies = [(e.sender.identities[0].key.encode(), e.model_dump_json().encode()) for e in events]
    with scratch_database(infra.pg_dsn) as dsn, tempfile.TemporaryDirectory() as run:
        env = deployment.service_env(
            Infra(infra.kafka_bootstrap, dsn),
            LocalSecrets.generate(),
            deployment.Ports(),
            Path(run) / "blobs",
            HUB_TOPICS__INTERACTIONS=topics.interactions,
            HUB_TOPICS__DEAD_LETTER=topics.dead_letter,
            HUB_TIMELINE_GROUP=f"bench-{tag}",
            HUB_LOG_LEVEL="WARNING",
        )
        names = [f"timeline-{n}" for n in range(writers)]
        for name in names:
            start_process(name, [sys.executable, "-m", deployment.DEPLOYABLES["timeline"]], env, Path(run))
        try:
            time.sleep(8)  # let the group form (a join and a rebalance per writer) before the clock starts
            started = time.perf_counter()
            asyncio.run(_publish(infra.kafka_bootstrap, topics.interactions, bodies))
            while _stored(dsn) < count:
                time.sleep(0.1)
            return count / (time.perf_counter() - started)
        finally:
            for name in names:
                stop_process(name, Path(run))


async def _producer_figures(bootstrap: str, count: int) -> tuple[float, float]:
    """(median ms of one awaited send, sends/s with ``count`` in flight) on a fresh hub-shaped topic."""
    topic = f"bench.{uuid.uuid4().hex[:8]}.produce"
    await ensure_topics(bootstrap, [hub_topics(Topics(interactions=topic))["interactions"]])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(bootstrap), **SAFE_PRODUCER)
    await producer.start()
    try:
        body = b"x" * 600  # about one contract event
        latencies = []
        for n in range(200):
            started = time.perf_counter()
            await producer.send_and_wait(topic, body, key=str(n).encode())
            latencies.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        sends = [await producer.send(topic, body, key=str(n).encode()) for n in range(count)]
        await asyncio.gather(*sends)
        return statistics.median(latencies[20:]), count / (time.perf_counter() - started)
    finally:
        await producer.stop()


def three_broker_cluster(root: Path) -> LocalKafkaCluster:
    shared = StackSettings()
    settings = StackSettings(
        state_dir=root,
        kafka_bootstrap=None,
        pg_dsn=None,
        kafka_brokers=3,
        local_kafka_port=39092,
        local_kafka_controller_port=39093,
        kafka_home=shared.kafka_home or shared.paths.kafka,
    )
    return LocalKafkaCluster(settings)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
    people = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    infra = ensure_infra()
    print(f"timeline writers, {count} events of {people} people, six partitions, shared single broker:")
    for writers in (1, 2):
        print(f"  {writers} writer(s): {writers_rate(infra, writers, count, people):8.0f} events/s stored")
    print("safe producer (acks=all, idempotent), 600-byte records, six partitions:")
    latency, rate = asyncio.run(_producer_figures(infra.kafka_bootstrap, 20_000))
    print(f"  1 broker,  1 replica:             {latency:6.2f} ms per awaited send, {rate:8.0f} sends/s")
    with tempfile.TemporaryDirectory() as root:
        cluster = three_broker_cluster(Path(root))
        cluster.start()
        try:
            latency, rate = asyncio.run(_producer_figures(cluster.bootstrap, 20_000))
            figures = f"{latency:6.2f} ms per awaited send, {rate:8.0f} sends/s"
            print(f"  3 brokers, 3 replicas, 2 in sync: {figures}")
            cluster_infra = Infra(cluster.bootstrap, infra.pg_dsn)
            print("timeline writers on the three-broker cluster:")
            for writers in (1, 2):
                stored = writers_rate(cluster_infra, writers, count, people)
                print(f"  {writers} writer(s): {stored:8.0f} events/s stored")
        finally:
            cluster.kill()


if __name__ == "__main__":
    main()
