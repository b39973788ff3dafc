"""The read API in-process (httpx ASGITransport) over a real database, with real cards in it.

Cards are made the way production makes them: sample provider payloads go through the ingress
translators, the timeline writer's `record_interaction`, and the card projection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
from psycopg_pool import AsyncConnectionPool

from contracts import InteractionEvent
from hub import samples
from hub.demo import DEMO_BASKET
from plumbing.access.policy import Policy
from plumbing.eventstore.postgres import Conn
from plumbing.projection import apply_next_batch
from projections.customer_card.store import CustomerCardProjection
from services.api.app import build_app
from services.api.settings import ApiSettings
from services.ingress.translate import chat_widget, email_mta, meta_whatsapp, shopify
from services.timeline.store import record_interaction


@dataclass
class MovableClock:
    """A clock tests move forward to reach expiry times without waiting."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def _events(person: samples.SamplePerson, channel: str, tag: str) -> list[InteractionEvent]:
    """The contract events of one sample webhook; message texts carry ``tag``."""
    received = {"received_at": datetime.now(UTC), "correlation_id": tag, "default_region": "US"}
    if channel == "email":
        raw = samples.email_message(person, f"<{tag}@mail.example.com>", "About my order", f"Hello {tag}")
        return list(email_mta.translate(raw, **received))
    if channel == "chat":
        return list(
            chat_widget.translate(samples.chat_message(person, f"{tag}-chat", f"In stock? {tag}"), **received)
        )
    if channel == "social":
        raw = samples.whatsapp_message(person, f"wamid.{tag}", f"On my way {tag}")
        return list(meta_whatsapp.translate(raw, **received))
    if channel == "pos":
        raw = samples.shopify_order(
            person, int(tag.encode().hex(), 16) % 10**12, DEMO_BASKET, source_name="pos"
        )
        return list(shopify.translate(raw, **received))
    raise ValueError(channel)


async def seed_customer(
    pool: AsyncConnectionPool[Conn], person: samples.SamplePerson, channels: Iterable[str], tag: str
) -> UUID:
    """Record ``person``'s interactions on ``channels`` as the timeline writer does; their customer id.

    Every message text contains ``tag``, so a test can look for it in answers."""
    customer: UUID | None = None
    for n, channel in enumerate(channels):
        for event in _events(person, channel, f"{tag}-{n}"):
            recorded = await record_interaction(pool, event)
            customer = recorded.customer_id
    assert customer is not None
    return customer


async def project(pool: AsyncConnectionPool[Conn]) -> None:
    """Run the card projection until it has applied everything recorded so far."""
    while await apply_next_batch(pool, CustomerCardProjection(), 500):
        pass


@asynccontextmanager
async def api_client(
    dsn: str,
    *,
    policy: Policy | None = None,
    clock: Callable[[], datetime] | None = None,
    **settings: object,
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to a fresh in-process API app (lifespan run) over ``dsn``."""
    app = build_app(ApiSettings(pg_dsn=dsn, **settings), policy=policy, **({"clock": clock} if clock else {}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class Seeded:
    """Two customers: ``chatter`` chatted and bought at the till; ``emailer`` only emailed."""

    chatter: UUID
    chatter_person: samples.SamplePerson
    emailer: UUID
    emailer_person: samples.SamplePerson


async def seed_two_customers(pool: AsyncConnectionPool[Conn], tag: str) -> Seeded:
    chatter_person, emailer_person = samples.sample_person(f"c-{tag}"), samples.sample_person(f"e-{tag}")
    chatter = await seed_customer(pool, chatter_person, ["chat", "pos"], f"c-{tag}")
    emailer = await seed_customer(pool, emailer_person, ["email"], f"e-{tag}")
    await project(pool)
    return Seeded(chatter, chatter_person, emailer, emailer_person)
