"""Seeded, realistic multichannel traffic for the fault tests and the benchmarks.

:func:`generate` makes signed webhook deliveries exactly as the providers would POST them: website chat
(email + visitor id), WhatsApp (phone), email through our MTA (email), Telegram (a handle of its own)
and Shopify orders (email + phone: a purchase proves that a person's chat customer and WhatsApp
customer are one, so purchases cause merges). Who writes is Zipf-distributed over many customers, so a
few people are very active and most write once or twice. The same seed gives the same bytes, and every
delivery knows the ids of the events it must become (the ingress's own translators are run offline),
so a test can say precisely what was lost or doubled.

:func:`chat_events` and :func:`publish_events` remain for tests that push contract events to Kafka
themselves; :func:`contract_events` gives the generated traffic's events for the same use.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from uuid import UUID

from aiokafka import AIOKafkaProducer
from starlette.datastructures import Headers

from contracts import InteractionEvent, event_id_for
from hub import samples
from hub import samples_chat_social as social
from hub.demo import Webhook
from hub.local_secrets import LocalSecrets
from hub.samples import chat_events
from plumbing.kafka import SAFE_PRODUCER
from services.ingress.delivery import Delivery
from services.ingress.endpoints import ENDPOINTS
from services.ingress.verify import sign_base64, sign_hex

__all__ = [
    "Channel",
    "SignedDelivery",
    "Traffic",
    "TrafficPlan",
    "chat_events",
    "contract_events",
    "generate",
    "publish_events",
    "stored_events",
]

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
"""Deliveries are dated from here, one second apart, so the bytes depend on the seed only."""

PUBLIC_BASE = "https://hub.example.com"
BASKETS = (
    [("SKU-1", "Blue jacket", 1, "129.90")],
    [("SKU-2", "Scarf", 2, "19.95"), ("SKU-3", "Gloves", 1, "24.00")],
    [("SKU-4", "Mug", 4, "8.50")],
)


class Channel:
    """The channels the generator speaks, with their share of the deliveries (purchases separately)."""

    CHAT = "chat"
    WHATSAPP = "whatsapp"
    EMAIL = "email"
    TELEGRAM = "telegram"
    PURCHASE = "purchase"

    MIX: tuple[tuple[str, float], ...] = ((CHAT, 0.4), (WHATSAPP, 0.3), (EMAIL, 0.15), (TELEGRAM, 0.15))


@dataclass(frozen=True)
class TrafficPlan:
    """What to generate; ``first_person`` shifts the population so two plans in one store never meet.

    Person numbers stay below 100,000 (``hub.samples.sample_person`` gives those distinct phones), so
    ``first_person + customers`` must too.
    """

    seed: int = 1
    customers: int = 1_000
    deliveries: int = 5_000
    zipf_s: float = 1.1
    purchase_share: float = 0.12
    first_person: int = 0
    cover_all: bool = False
    """The first ``customers`` deliveries come from each person once, so every customer exists."""

    def __post_init__(self) -> None:
        if self.first_person + self.customers > 100_000:
            raise ValueError("first_person + customers must stay below 100,000 (distinct sample phones)")


@dataclass(frozen=True)
class SignedDelivery:
    """One POST as the provider sends it, who sent it, and the events it must become."""

    path: str
    body: bytes
    headers: dict[str, str]
    channel: str
    person: int

    @cached_property
    def events(self) -> tuple[InteractionEvent, ...]:
        """Made on first use (the email parser is slow): benches that only send need not pay for it."""
        return _translate(self.path, self.body, self.headers)

    @property
    def event_ids(self) -> tuple[UUID, ...]:
        return tuple(event.event_id for event in self.events)

    @property
    def webhook(self) -> Webhook:
        return Webhook(self.path, self.body, self.headers)


@dataclass(frozen=True)
class Traffic:
    """The generated deliveries in sending order."""

    plan: TrafficPlan
    deliveries: tuple[SignedDelivery, ...]

    @cached_property
    def event_ids(self) -> frozenset[UUID]:
        return frozenset(i for delivery in self.deliveries for i in delivery.event_ids)

    @property
    def events(self) -> list[InteractionEvent]:
        return [event for delivery in self.deliveries for event in delivery.events]

    def people(self) -> set[int]:
        return {delivery.person for delivery in self.deliveries}


def _zipf_sampler(rng: random.Random, customers: int, s: float, cover_all: bool = False) -> Iterable[int]:
    if cover_all:
        yield from range(customers)
    cumulative = list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, customers + 1)))
    total = cumulative[-1]
    ranks = list(range(customers))
    rng.shuffle(ranks)  # the busiest person is not always person 0
    while True:
        yield ranks[min(bisect.bisect_left(cumulative, rng.random() * total), customers - 1)]


def _translate(path: str, body: bytes, headers: dict[str, str]) -> tuple[InteractionEvent, ...]:
    """The events the ingress makes of this delivery: its own translator, run offline."""
    (endpoint,) = [e for e in ENDPOINTS if e.path == path]
    delivery = Delivery(body, Headers(headers), PUBLIC_BASE + path, {})
    translate = endpoint.translator_for(delivery)
    return tuple(translate(body, received_at=T0, correlation_id="traffic", default_region="US"))


def _signed(channel: str, person_no: int, n: int, secrets: LocalSecrets, seed: int) -> SignedDelivery:
    person = samples.sample_person(person_no)
    at = T0 + timedelta(seconds=n)
    tag = f"s{seed}-{n}"
    if channel == Channel.CHAT:
        body = samples.chat_message(person, f"chat-{tag}", f"question {n}", sent_at=at)
        hook = Webhook("/webhooks/chat/widget", body, _hex(body, secrets.widget))
    elif channel == Channel.WHATSAPP:
        body = samples.whatsapp_message(person, f"wamid.{tag}", f"message {n}", sent_at=at)
        hook = Webhook("/webhooks/social/meta", body, _hex(body, secrets.meta_app))
    elif channel == Channel.EMAIL:
        body = samples.email_message(
            person, f"<{tag}@mail.example.com>", f"Order question {n}", "Hi", sent_at=at
        )
        hook = Webhook("/webhooks/email/mta", body, _hex(body, secrets.mta, "message/rfc822"))
    elif channel == Channel.TELEGRAM:
        body = social.telegram_message(
            social.social_person(person_no), seed * 10**8 + n, n, f"hi {n}", sent_at=at
        )
        hook = social.telegram_hook(body, secrets.telegram)
    else:
        order_id = seed * 10**9 + n + 1
        body = samples.shopify_order(person, order_id, BASKETS[n % len(BASKETS)], created_at=at)
        hook = Webhook(
            "/webhooks/pos/shopify",
            body,
            {"X-Shopify-Hmac-Sha256": sign_base64(body, secrets.shopify), "Content-Type": "application/json"},
        )
    return SignedDelivery(hook.path, hook.body, hook.headers, channel, person_no)


def _hex(body: bytes, secret: str, content_type: str = "application/json") -> dict[str, str]:
    return {"X-Hub-Signature-256": sign_hex(body, secret), "Content-Type": content_type}


def generate(plan: TrafficPlan, secrets: LocalSecrets) -> Traffic:
    """Deterministic in ``plan`` (and the secrets, which only sign)."""
    rng = random.Random(plan.seed)
    who = iter(_zipf_sampler(rng, plan.customers, plan.zipf_s, plan.cover_all))
    channels, weights = zip(*Channel.MIX, strict=True)
    deliveries = []
    for n in range(plan.deliveries):
        person = plan.first_person + next(who)
        if rng.random() < plan.purchase_share:
            channel = Channel.PURCHASE
        else:
            channel = rng.choices(channels, weights)[0]
        deliveries.append(_signed(channel, person, n, secrets, plan.seed))
    return Traffic(plan, tuple(deliveries))


@functools.lru_cache(maxsize=200_000)
def _values(person_no: int) -> dict[str, str]:
    """The identity values one person shows the providers, by the sample field they come from."""
    person, handle = samples.sample_person(person_no), social.social_person(person_no)
    return {
        "email": person.email,
        "phone": person.phone,
        "visitor": person.visitor_id,
        "wa": person.wa_id,
        "shopify": str(person.shopify_customer_id),
        "telegram": str(handle.telegram_id),
        "username": f"@{handle.telegram_username.lower()}",
    }


def stored_events(plan: TrafficPlan, secrets: LocalSecrets) -> Iterator[InteractionEvent]:
    """Events of the same shapes, people and mix as :func:`generate`, without webhooks or translation.

    For seeding stores of a million events in minutes: one translated template per channel, whose
    identities and ids are swapped for each event's person and number.
    """
    rng = random.Random(plan.seed)
    who = iter(_zipf_sampler(rng, plan.customers, plan.zipf_s, plan.cover_all))
    channels, weights = zip(*Channel.MIX, strict=True)
    templates = {
        channel: _signed(channel, 0, n, secrets, plan.seed).events[0]
        for n, channel in enumerate((*channels, Channel.PURCHASE))
    }
    template_values = _values(0)
    for n in range(plan.deliveries):
        person = plan.first_person + next(who)
        channel = (
            Channel.PURCHASE if rng.random() < plan.purchase_share else rng.choices(channels, weights)[0]
        )
        template = templates[channel]
        values = _values(person)
        swap = {old: values[field] for field, old in template_values.items()}
        message_id = f"seeded-{plan.seed}-{n}"
        identities = tuple(
            identity.model_copy(
                update={
                    "value": message_id
                    if identity.provider == "shopify_order"
                    else swap.get(identity.value, identity.value)
                }
            )
            for identity in template.sender.identities
        )
        yield template.model_copy(
            update={
                "event_id": event_id_for(template.provider, message_id),
                "provider_message_id": message_id,
                "correlation_id": message_id,
                "occurred_at": T0 + timedelta(seconds=n),
                "sender": template.sender.model_copy(update={"identities": identities}),
            }
        )


def contract_events(traffic: Traffic) -> list[InteractionEvent]:
    """The events the ingress would publish for ``traffic``, in order."""
    return traffic.events


async def publish_events(bootstrap: str, topic: str, events: Sequence[InteractionEvent]) -> None:
    """Publish with the hub's own safety settings and wait for every acknowledgement.

    Keyed by the sender's first identity, as the ingress keys them, so one person stays in order.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **SAFE_PRODUCER)
    await producer.start()
    try:
        futures = [
            await producer.send(
                topic, event.model_dump_json().encode(), key=event.sender.identities[0].key.encode()
            )
            for event in events
        ]
        for future in futures:
            await future
    finally:
        await producer.stop()
