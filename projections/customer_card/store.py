"""SQL of the customer card projection: load cards, write cards, lookup and timeline rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import structlog
from psycopg.types.json import Jsonb

from contracts import (
    CustomerAbsorbed,
    IdentityLinked,
    InteractionEvent,
    UnknownEventType,
    parse_event,
    stream_customer,
)
from contracts.read.customer_card import CustomerCard
from plumbing.eventstore import RecordedEvent
from plumbing.eventstore.postgres import Conn
from plumbing.projection import MIGRATIONS as CHECKPOINT_MIGRATIONS
from projections.customer_card.evolve import Fact, evolve

MIGRATIONS = (CHECKPOINT_MIGRATIONS, Path(__file__).parent / "migrations")
log = structlog.get_logger()


def to_fact(recorded: RecordedEvent) -> Fact | None:
    """The fact for a customer-stream event this code understands; None for anything else."""
    customer_id = stream_customer(recorded.stream_id)
    if customer_id is None:
        return None
    try:
        event = parse_event(recorded.data)
    except UnknownEventType:
        log.info("event_type_skipped", event_id=str(recorded.event_id), event_type=recorded.event_type)
        return None
    return Fact(recorded.position, customer_id, event)


async def load_cards(conn: Conn, customer_ids: Iterable[UUID]) -> dict[UUID, CustomerCard]:
    cur = await conn.execute(
        "SELECT card FROM customer_cards WHERE customer_id = ANY(%s)", (list(customer_ids),)
    )
    cards = [CustomerCard.model_validate(row[0]) for row in await cur.fetchall()]
    return {card.customer_id: card for card in cards}


async def _save_cards(conn: Conn, cards: Iterable[CustomerCard]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO customer_cards (customer_id, card, last_position) VALUES (%s, %s, %s)"
            " ON CONFLICT (customer_id) DO UPDATE"
            " SET card = excluded.card, last_position = excluded.last_position, updated_at = now()",
            [(c.customer_id, Jsonb(c.model_dump(mode="json")), c.last_position) for c in cards],
        )


async def _save_index_rows(conn: Conn, facts: Sequence[Fact]) -> None:
    links = [(f.event.identity.key, f.customer_id) for f in facts if isinstance(f.event, IdentityLinked)]
    timeline = [
        (
            f.customer_id,
            f.position,
            f.event.event_id,
            f.event.event_type,
            f.event.channel.value,
            f.event.provider,
            f.event.direction.value,
            f.event.summary,
            f.event.occurred_at,
        )
        for f in facts
        if isinstance(f.event, InteractionEvent)
    ]
    async with conn.cursor() as cur:
        if links:
            await cur.executemany(
                "INSERT INTO card_identities (identity_key, customer_id) VALUES (%s, %s)"
                " ON CONFLICT (identity_key) DO UPDATE SET customer_id = excluded.customer_id",
                links,
            )
        if timeline:
            await cur.executemany(
                "INSERT INTO card_timeline (customer_id, position, event_id, event_type, channel, provider,"
                " direction, summary, occurred_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (customer_id, position) DO NOTHING",
                timeline,
            )


async def _move_rows(conn: Conn, merges: Sequence[tuple[UUID, UUID]]) -> None:
    """Point the absorbed customers' lookup and timeline rows at their survivors, in merge order."""
    for absorbed, survivor in merges:
        await conn.execute(
            "UPDATE card_identities SET customer_id = %s WHERE customer_id = %s", (survivor, absorbed)
        )
        await conn.execute(
            "UPDATE card_timeline SET customer_id = %s WHERE customer_id = %s", (survivor, absorbed)
        )


def _involved(facts: Sequence[Fact]) -> set[UUID]:
    ids = {fact.customer_id for fact in facts}
    ids.update(f.event.absorbed_id for f in facts if isinstance(f.event, CustomerAbsorbed))
    return ids


class CustomerCardProjection:
    """Builds ``customer_cards``, ``card_identities`` and ``card_timeline`` from the log."""

    name = "customer_card"

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        facts = [fact for fact in map(to_fact, events) if fact is not None]
        if not facts:
            return
        cards: dict[UUID, CustomerCard | None] = dict(await load_cards(conn, _involved(facts)))
        changed: dict[UUID, CustomerCard] = {}
        merges: list[tuple[UUID, UUID]] = []
        for fact in facts:
            if isinstance(fact.event, CustomerAbsorbed):
                absorbed_id = fact.event.absorbed_id
                fact = replace(fact, absorbed=cards.get(absorbed_id))
                merges.append((absorbed_id, fact.customer_id))
            before = cards.get(fact.customer_id)
            after = evolve(before, fact)
            cards[fact.customer_id] = after
            if after is not None and after is not before:
                changed[fact.customer_id] = after
        await _save_cards(conn, changed.values())
        await _save_index_rows(conn, facts)
        await _move_rows(conn, merges)
