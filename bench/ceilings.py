"""Ceilings: what the same client, database and framework do with no hub code in the way.

Each hub figure is reported as a ratio to one of these, measured in the same run on the same machine,
so the ratio holds even when the machine is busy.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import psycopg
from aiokafka import AIOKafkaProducer
from psycopg.types.json import Jsonb

from bench.load import saturate
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


def http_empty(run_dir: Path, seconds: float, concurrency: int) -> float:
    """Requests/s of FastAPI on uvicorn answering an empty 200, driven by the same load client."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.empty_server", str(port)]
    start_process("bench-empty-http", argv, {}, run_dir)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/", 30, run_dir, "bench-empty-http")
        request = ("POST", f"http://127.0.0.1:{port}/", b"{}", {"Content-Type": "application/json"})
        outcome = asyncio.run(saturate(lambda _n: request, seconds=seconds, concurrency=concurrency))
        return outcome.rate
    finally:
        stop_process("bench-empty-http", run_dir)
