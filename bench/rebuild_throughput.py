"""Verified-rebuild throughput on the real local PostgreSQL (a fresh database per run).

Stores N events (half chat messages of N/20 people on their customer streams, half deal events: each
deal opened then moved twice), projects them live, then times ``plumbing.rebuild.rebuild`` of the
customer card and of the pipeline (shadow schema, full replay, row-by-row comparison) and prints
events/s as JSON. Run: ``.venv/bin/python -m bench.rebuild_throughput [N]`` (default 20,000; the issue's
figure asks for 1,000,000, which takes long on a shared machine).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from psycopg_pool import AsyncConnectionPool

from bench.scratch_database import scratch_database
from contracts import DealOpened, DealStageMoved, Money, customer_stream, deal_stream
from hub.replay_projections import SPECS
from hub.samples import chat_events
from hub.stack import ensure_infra
from plumbing.eventstore import NewEvent
from plumbing.eventstore.postgres import Conn, append_locked, lock_appends
from plumbing.projection import apply_next_batch
from plumbing.rebuild import rebuild


def _deal_events(deal_id: uuid.UUID, customer: uuid.UUID) -> list[NewEvent]:
    now = datetime.now(UTC)
    common = {
        "occurred_at": now,
        "received_at": now,
        "correlation_id": "bench",
        "actor": "bench",
        "deal_id": deal_id,
    }
    opened = DealOpened(
        **DealOpened.type_fields(),
        **common,
        event_id=uuid.uuid4(),
        customer_id=customer,
        title="Sofa",
        amount=Money(amount=Decimal("100.00"), currency="EUR"),
        pipeline_id="retail",
        stage_id="lead",
        owner_id="alice",
    )
    moves = [
        DealStageMoved(
            **DealStageMoved.type_fields(), **common, event_id=uuid.uuid4(), from_stage=a, to_stage=b
        )
        for a, b in (("lead", "qualified"), ("qualified", "offer"))
    ]
    return [NewEvent(e) for e in (opened, *moves)]


async def _store(pool: AsyncConnectionPool[Conn], total: int) -> None:
    people = max(1, total // 40)
    chats = chat_events(total // 2, people, uuid.uuid4().hex[:6])
    customers = [uuid.uuid4() for _ in range(people)]
    for start in range(0, len(chats), 500):
        async with pool.connection() as conn, conn.transaction():
            await lock_appends(conn)
            for n, event in enumerate(chats[start : start + 500], start=start):
                await append_locked(conn, customer_stream(customers[n % people]), [NewEvent(event)])
    for start in range(0, total // 2 // 3, 150):
        async with pool.connection() as conn, conn.transaction():
            await lock_appends(conn)
            for n in range(start, min(start + 150, total // 2 // 3)):
                deal = uuid.uuid4()
                await append_locked(conn, deal_stream(deal), _deal_events(deal, customers[n % people]))


async def main(total: int) -> dict[str, object]:
    with scratch_database(ensure_infra().pg_dsn) as dsn:
        async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=4) as pool:
            await _store(pool, total)
            for spec in SPECS.values():
                projection = spec.make()
                while await apply_next_batch(pool, projection, 2000):
                    pass
        figures: dict[str, object] = {"events_in_store": total}
        for name, spec in SPECS.items():
            started = time.perf_counter()
            report = await rebuild(dsn, spec, batch_size=2000)
            seconds = time.perf_counter() - started
            figures[name] = {
                "events_replayed": report.events,
                "seconds": round(seconds, 2),
                "events_per_s": round(report.events / seconds),
                "identical": report.identical,
            }
        return figures


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)), indent=2))
