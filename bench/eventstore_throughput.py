"""Figures of the PostgreSQL event store on the real local cluster (a fresh database per run).

Prints, as JSON:
* append throughput (events/s) for single-event and 100-event batches, with 1 and 8 concurrent writers,
  both WITH the append lock (what the store does) and WITHOUT it (the write cost of the alternative,
  reading below ``pg_snapshot_xmin``), so the lock's price is a measured number;
* global-log read throughput (events/s, pages of 1000);
* subscription latency, append commit -> delivered to a live subscriber (p50/p99 ms), idle and while
  8 writers keep appending.

Run: ``.venv/bin/python -m bench.eventstore_throughput [EVENTS_PER_CASE]``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Sequence

from psycopg_pool import AsyncConnectionPool

from bench.scratch_database import scratch_database
from hub.samples import chat_events
from hub.stack import ensure_infra
from plumbing.eventstore import NewEvent, PostgresEventStore, RecordedEvent
from plumbing.eventstore.postgres import Conn, append_locked, lock_appends

WRITERS = (1, 8)
BATCHES = (1, 100)
LATENCY_SAMPLES = 300


def _batches(total: int, batch_size: int, tag: str) -> list[list[NewEvent]]:
    events = [NewEvent(event) for event in chat_events(total, max(1, total // 10), tag)]
    return [events[i : i + batch_size] for i in range(0, len(events), batch_size)]


async def _writer(pool: AsyncConnectionPool[Conn], batches: Sequence[list[NewEvent]], locked: bool) -> None:
    stream = f"customer-{uuid.uuid4()}"
    for n, batch in enumerate(batches):
        if n % 50 == 0:
            stream = f"customer-{uuid.uuid4()}"  # streams of realistic length, not one giant stream
        async with pool.connection() as conn, conn.transaction():
            if locked:
                await lock_appends(conn)
            await append_locked(conn, stream, batch)


async def append_rate(
    pool: AsyncConnectionPool[Conn], total: int, batch: int, writers: int, locked: bool
) -> float:
    """Events/s of ``total`` events appended in batches of ``batch`` by ``writers`` concurrent writers."""
    batches = _batches(total, batch, uuid.uuid4().hex[:8])
    shares = [batches[w::writers] for w in range(writers)]
    started = time.perf_counter()
    await asyncio.gather(*(_writer(pool, share, locked) for share in shares))
    return total / (time.perf_counter() - started)


async def read_rate(store: PostgresEventStore) -> tuple[int, float]:
    """How many events the global log holds, and events/s reading all of it in pages of 1000."""
    read, after = 0, 0
    started = time.perf_counter()
    while page := await store.read_all(after_position=after, limit=1000):
        read += len(page)
        after = page[-1].position
    return read, read / (time.perf_counter() - started)


async def _deliveries(events: object, count: int, sent: dict[uuid.UUID, float]) -> list[float]:
    latencies: list[float] = []
    async for event in events:  # type: ignore[attr-defined]
        recorded: RecordedEvent = event
        if recorded.event_id in sent:
            latencies.append((time.perf_counter() - sent[recorded.event_id]) * 1000)
            if len(latencies) == count:
                break
    return latencies


async def subscription_latency(
    pool: AsyncConnectionPool[Conn], store: PostgresEventStore, background_writers: int
) -> dict[str, float]:
    """p50/p99 ms from an append's commit to its delivery, one sample every 10 ms."""
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT coalesce(max(position), 0) FROM events")).fetchone()
    after = int(row[0]) if row else 0
    subscription = store.subscribe(after, idle_s=30)
    sent: dict[uuid.UUID, float] = {}
    stop = asyncio.Event()

    async def background() -> None:
        while not stop.is_set():
            await _writer(pool, _batches(10, 1, uuid.uuid4().hex[:8]), True)

    load = [asyncio.ensure_future(background()) for _ in range(background_writers)]
    receiver = asyncio.ensure_future(_deliveries(subscription, LATENCY_SAMPLES, sent))
    await asyncio.sleep(0.2)  # the subscription is live before the first sample
    stream = f"customer-{uuid.uuid4()}"
    for new in _batches(LATENCY_SAMPLES, 1, uuid.uuid4().hex[:8]):
        sent[new[0].event_id] = time.perf_counter()  # set before the append: delivery may beat its return
        await store.append(stream, new)
        await asyncio.sleep(0.01)
    latencies = await asyncio.wait_for(receiver, 120)
    stop.set()
    await asyncio.gather(*load)
    await subscription.aclose()  # type: ignore[attr-defined]
    quantiles = statistics.quantiles(latencies, n=100)
    return {"p50_ms": round(quantiles[49], 2), "p99_ms": round(quantiles[98], 2), "samples": len(latencies)}


def _cost(locked: float, unlocked: float) -> float:
    """How much slower the locked path is, in percent of the unlocked one."""
    return round(100 * (1 - locked / unlocked), 1)


async def measure(dsn: str, per_case: int) -> dict[str, object]:
    figures: dict[str, object] = {"events_per_case": per_case}
    async with AsyncConnectionPool[Conn](dsn, min_size=10, max_size=10) as pool:
        store = PostgresEventStore(pool)
        appends: dict[str, float] = {}
        for batch in BATCHES:
            for writers in WRITERS:
                for locked in (True, False):
                    rate = await append_rate(pool, per_case, batch, writers, locked)
                    case = f"batch_{batch}_writers_{writers}_{'locked' if locked else 'unlocked'}"
                    appends[case] = round(rate)
        figures["append_events_per_s"] = appends
        cases = [f"batch_{b}_writers_{w}" for b in BATCHES for w in WRITERS]
        figures["lock_cost_percent"] = {
            case: _cost(appends[f"{case}_locked"], appends[f"{case}_unlocked"]) for case in cases
        }
        total, rate = await read_rate(store)
        figures["global_log_read"] = {"events": total, "events_per_s": round(rate)}
        figures["subscription_latency_idle"] = await subscription_latency(pool, store, 0)
        figures["subscription_latency_under_8_writers"] = await subscription_latency(pool, store, 8)
    return figures


def main(per_case: int) -> dict[str, object]:
    infra = ensure_infra()
    with scratch_database(infra.pg_dsn) as dsn:
        return asyncio.run(measure(dsn, per_case))


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 4000), indent=2))
