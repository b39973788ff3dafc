"""Sales fixtures' helpers: staff keys, a seeded customer, and counting what the store holds."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool

from hub import samples
from plumbing.eventstore.postgres import Conn
from plumbing.projection import apply_next_batch
from projections.pipeline.autoclose import AutoCloseOnPurchase
from projections.pipeline.store import PipelineProjection
from services.api.sales_config import load_rules
from services.ingress.translate import shopify
from services.timeline.store import record_interaction
from tests.support.access import issue_key_async
from tests.support.api_app import api_client, bearer, project, seed_customer


def stream_events(dsn: str, prefix: str = "") -> int:
    """How many events the store holds in streams whose id starts with ``prefix``."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE stream_id LIKE %s", (f"{prefix}%",)).fetchone()
    assert row is not None
    return int(row[0])


def event_types(dsn: str, stream_id: str) -> list[str]:
    """The types of a stream's events, oldest first."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT event_type FROM events WHERE stream_id = %s ORDER BY stream_version", (stream_id,)
        ).fetchall()
    return [row[0] for row in rows]


async def seed_customers(dsn: str, tag: str, count: int) -> list[UUID]:
    """``count`` customers who chatted once (their stream and card exist, so deals can be opened for
    them); the n-th is ``samples.sample_person(f"{tag}-{n}")``."""
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=2) as pool:
        customers = [
            await seed_customer(pool, samples.sample_person(f"{tag}-{n}"), ["chat"], f"{tag}-{n}")
            for n in range(count)
        ]
        await project(pool)  # their cards too
    return customers


@dataclass
class Staff:
    """API keys of staff principals (ids as in deploy/staff.toml), by principal id."""

    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str, idempotency_key: str | None = None) -> dict[str, str]:
        extra = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return {**bearer(self.keys[who]), **extra}


async def issue_staff(dsn: str, people: Sequence[tuple[str, str, str | None]]) -> Staff:
    """Keys for ``(principal_id, role, team)`` triples."""
    staff = Staff()
    for principal_id, role, team in people:
        # a year: tests move the API's clock by days, and key expiry follows that clock
        issued = await issue_key_async(dsn, principal_id, [role], team=team, lifetime=timedelta(days=365))
        staff.keys[principal_id] = issued.key
    return staff


@asynccontextmanager
async def sales_client(dsn: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process over ``dsn`` (``pipelines_file`` / ``staff_file`` may point at test files)."""
    async with api_client(dsn, **settings) as client:
        yield client


def open_body(customer_id: UUID, /, **overrides: Any) -> dict[str, Any]:
    """A valid POST /v1/deals body for the retail pipeline."""
    return {
        "customer_id": str(customer_id),
        "title": f"Deal {uuid.uuid4().hex[:6]}",
        "amount": "1200.50",
        "currency": "EUR",
        "pipeline_id": "retail",
        **overrides,
    }


async def project_pipeline(dsn: str, batch_size: int = 500) -> None:
    """Run the pipeline projection until it has applied everything stored so far."""
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=2) as pool:
        while await apply_next_batch(pool, PipelineProjection(), batch_size):
            pass


async def record_purchase(
    dsn: str,
    person: samples.SamplePerson,
    order_id: int,
    total: str,
    currency: str,
    created_at: datetime | None = None,
) -> UUID:
    """A paid Shopify order of ``person`` for ``total`` (dated ``created_at``, default now), recorded by the
    timeline writer now; its customer."""
    raw = samples.shopify_order(
        person, order_id, [("SKU-1", "Corner sofa", 1, total)], currency, created_at=created_at
    )
    (event,) = shopify.translate(
        raw, received_at=datetime.now(UTC), correlation_id=f"order-{order_id}", default_region="US"
    )
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=1) as pool:
        recorded = await record_interaction(pool, event)
    assert recorded.customer_id is not None
    return recorded.customer_id


async def run_autoclose(dsn: str, pipelines_file: Any = None) -> None:
    """Run the purchase rule until it has followed everything stored so far."""
    rule = AutoCloseOnPurchase(load_rules(pipelines_file).pipelines)
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=2) as pool:
        while await apply_next_batch(pool, rule, 500):
            pass
