"""Crypto-shredding at the event store seam: the row holds ciphertext, every read opens it, a destroyed
key reads as erased, the hash chain covers the ciphertext, and plaintext rows of older stores still read."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from contracts import ChatMessageReceived, customer_stream, parse_event
from contracts.personal import ERASED
from plumbing.eventstore import NewEvent, PostgresEventStore
from plumbing.eventstore.audit import verify_chains
from plumbing.eventstore.postgres import Conn, read_events, read_stream_until
from plumbing.eventstore.sealing import SEALED, destroy_keys
from tests.support.events import chat_event

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.fixture
async def pool(database: str) -> AsyncIterator[AsyncConnectionPool[Conn]]:
    async with AsyncConnectionPool[Conn](database, min_size=1, max_size=4) as opened:
        yield opened


def _raw_rows(dsn: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        return [(row[0], row[1]) for row in conn.execute("SELECT data::text, metadata::text FROM events")]


async def test_the_row_holds_ciphertext_and_every_read_returns_the_plaintext(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    store = PostgresEventStore(pool)
    customer = uuid.uuid4()
    event = chat_event(f"sealed{uuid.uuid4().hex[:8]}").model_copy(update={"correlation_id": "request-1"})
    await store.append(customer_stream(customer), [NewEvent(event, {"customer_id": str(customer)})])
    stored = "".join(data + meta for data, meta in _raw_rows(database))
    for plaintext in (
        event.sender.identities[0].value,
        event.sender.display_name,
        event.summary,
        event.provider_message_id,  # providers build these from chat and user ids
        event.conversation_id,  # a WhatsApp number, a Telegram chat id
    ):
        assert plaintext is not None and plaintext not in stored
    assert event.provider in stored  # channel and provider names stay plaintext
    (read,) = await store.read_all()
    assert read.data == event.model_dump(mode="json")
    assert SEALED not in read.metadata and read.metadata == {"customer_id": str(customer)}
    async with pool.connection() as conn:
        (by_id,) = await read_events(conn, [event.event_id])
        (until,) = await read_stream_until(conn, customer_stream(customer), by_id.position)
    assert by_id.data == until.data == read.data


async def test_a_destroyed_key_reads_as_erased_and_the_chain_still_verifies(
    pool: AsyncConnectionPool[Conn],
) -> None:
    store = PostgresEventStore(pool)
    forgotten, kept = uuid.uuid4(), uuid.uuid4()
    gone, other = chat_event(f"gone{uuid.uuid4().hex[:8]}"), chat_event(f"kept{uuid.uuid4().hex[:8]}")
    await store.append(customer_stream(forgotten), [NewEvent(gone)])
    await store.append(customer_stream(kept), [NewEvent(other)])
    async with pool.connection() as conn, conn.transaction():
        assert await destroy_keys(conn, [forgotten]) == 1
    erased = await store.read_stream(customer_stream(forgotten))
    intact = await store.read_stream(customer_stream(kept))
    after = parse_event(erased[0].data)  # the contract still validates
    assert isinstance(after, ChatMessageReceived)
    assert [i.value for i in after.sender.identities] == [ERASED, ERASED]
    assert (after.sender.display_name, after.summary) == (ERASED, ERASED)
    assert (after.provider_message_id, after.conversation_id) == (ERASED, ERASED)
    assert (after.provider, after.event_id) == (gone.provider, gone.event_id)
    assert intact[0].data == other.model_dump(mode="json")
    async with pool.connection() as conn, conn.transaction():
        assert (await verify_chains(conn)).intact


async def test_a_forgotten_customers_later_events_are_written_erased(pool: AsyncConnectionPool[Conn]) -> None:
    store = PostgresEventStore(pool)
    customer = uuid.uuid4()
    async with pool.connection() as conn, conn.transaction():
        await destroy_keys(conn, [customer])  # forgotten before anything was stored
    late = chat_event(f"late{uuid.uuid4().hex[:8]}")
    await store.append(customer_stream(customer), [NewEvent(late)])
    (read,) = await store.read_stream(customer_stream(customer))
    assert read.data["summary"] == ERASED and read.data["sender"]["display_name"] == ERASED


async def test_plaintext_rows_of_an_older_store_read_unchanged(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    event = chat_event(f"legacy{uuid.uuid4().hex[:8]}")
    stream = customer_stream(uuid.uuid4())
    with psycopg.connect(database) as conn:  # as a store before sealing wrote it
        conn.execute("INSERT INTO streams (stream_id, version) VALUES (%s, 0)", (stream,))
        conn.execute(
            "INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data)"
            " VALUES (%s, %s, 0, %s, 1, %s)",
            (event.event_id, stream, event.event_type, Jsonb(event.model_dump(mode="json"))),
        )
    (read,) = await PostgresEventStore(pool).read_stream(stream)
    assert read.data == event.model_dump(mode="json")


async def test_without_a_master_key_a_customers_event_is_refused(
    pool: AsyncConnectionPool[Conn], monkeypatch: pytest.MonkeyPatch
) -> None:
    from plumbing.eventstore.errors import EventStoreError
    from plumbing.eventstore.sealing import forget_master_key

    monkeypatch.delenv("HUB_MASTER_KEY")
    forget_master_key()
    try:
        with pytest.raises(EventStoreError, match="HUB_MASTER_KEY"):
            await PostgresEventStore(pool).append(
                customer_stream(uuid.uuid4()), [NewEvent(chat_event("nokey"))]
            )
    finally:
        monkeypatch.undo()
        forget_master_key()
