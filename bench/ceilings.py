"""Ceilings: what the same load generator, database and framework do with no hub code in the way.

Each hub figure is reported as a ratio to one of these, measured in the same run on the same machine,
so the ratio holds even when the machine is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg
from aiokafka import AIOKafkaProducer
from psycopg.types.json import Jsonb

from bench.load import Outcome, Request, drive
from bench.private_stack import free_port
from contracts import InteractionEvent
from hub.deployment import wait_http_ok
from hub.stack.processes import start_process, stop_process
from plumbing.kafka import SAFE_PRODUCER, TopicSpec, ensure_topics


async def kafka_produce(bootstrap: str, bodies: Sequence[bytes]) -> float:
    """Events/s of the hub's own producer settings (acks=all, idempotent) to a fresh topic."""
    topic = f"bench.ceiling.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [TopicSpec(topic)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **SAFE_PRODUCER)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [
            await producer.send(topic, body, key=str(n % 64).encode()) for n, body in enumerate(bodies)
        ]
        await asyncio.gather(*futures)
        return len(bodies) / (time.perf_counter() - started)
    finally:
        await producer.stop()


def postgres_copy(dsn: str, events: Sequence[InteractionEvent]) -> float:
    """Rows/s of COPY of the event store's columns for the same events, into a table without triggers."""
    rows = [
        (
            e.event_id,
            f"customer-{uuid.uuid4()}",
            0,
            e.event_type,
            e.schema_version,
            Jsonb(e.model_dump(mode="json")),
        )
        for e in events
    ]
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_copy_ceiling (event_id uuid PRIMARY KEY, stream_id text,"
            " stream_version bigint, event_type text, schema_version int, data jsonb)"
        )
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY bench_copy_ceiling (event_id, stream_id, stream_version, event_type, schema_version,"
                " data) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        conn.commit()
        rate = len(rows) / (time.perf_counter() - started)
        conn.execute("DROP TABLE bench_copy_ceiling")
    return rate


@contextlib.contextmanager
def noop_server(run_dir: Path, workers: int = 1) -> Iterator[str]:
    """The no-op app (:mod:`bench.empty_server`) on a free port, in ``workers`` processes; its base URL."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.empty_server", str(port), str(workers)]
    start_process("bench-noop-http", argv, {}, run_dir)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{url}/", 30, run_dir, "bench-noop-http")
        yield url
    finally:
        stop_process("bench-noop-http", run_dir)


def http_noop(url: str, requests: Sequence[Request], seconds: float, connections: int) -> Outcome:
    """Requests/s of the no-op app at saturation: the generator, unpaced, on the same requests as the hub
    gets (taken over and over: the app keeps nothing), over as many connections."""
    return drive(url, requests, rate=0, seconds=seconds, connections=connections, cycle=True)


def noop_latency(
    url: str, requests: Sequence[Request], rate: float, seconds: float, connections: int
) -> Outcome:
    """The no-op app's latency at ``rate`` requests/s: the floor of the hub's ack latency at that rate."""
    return drive(url, requests, rate=rate, seconds=seconds, connections=connections, cycle=True)
