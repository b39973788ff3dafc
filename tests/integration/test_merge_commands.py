"""Staff merge, unmerge and identity removal/correction against real PostgreSQL, through the API.

Every command is one transaction with the events, the identity index and the separations: a refused
or failing command leaves all three as they were, a repeated one appends nothing twice, and the
timeline writer sends the next interaction to the customer the index now names.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import (
    ChatMessageReceived,
    Identity,
    IdentityKind,
    Sender,
    customer_stream,
    event_id_for,
    normalise_identity,
)
from plumbing.eventstore import EventStoreError
from plumbing.eventstore.postgres import Conn
from services.timeline.store import record_interaction
from tests.support.access import KeyIssuer
from tests.support.api_app import api_client, bearer
from tests.support.identity_reads import separated_pairs
from tests.support.store import opened

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _email(name: str) -> Identity:
    return normalise_identity(IdentityKind.EMAIL, f"{name}@example.com")


def _chat(*identities: Identity) -> ChatMessageReceived:
    message_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    return ChatMessageReceived(
        event_id=event_id_for("widget", message_id),
        occurred_at=now,
        received_at=now,
        correlation_id=message_id,
        provider="widget",
        provider_message_id=message_id,
        sender=Sender(identities=identities),
        conversation_id="conv",
    )


async def _say(pool: AsyncConnectionPool[Conn], *identities: Identity) -> tuple[UUID, UUID]:
    """Record a chat message from ``identities``; (the customer it landed on, its event id)."""
    event = _chat(*identities)
    recorded = await record_interaction(pool, event)
    assert recorded.customer_id is not None
    return recorded.customer_id, event.event_id


def _stream(dsn: str, customer: UUID) -> list[tuple[UUID, str, dict[str, Any], dict[str, Any]]]:
    """(event id, type, data, metadata) of a customer's stream, oldest first."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT event_id, event_type, data, metadata FROM events WHERE stream_id = %s"
            " ORDER BY stream_version",
            (customer_stream(customer),),
        ).fetchall()
        opened(conn, [(event_id, data, meta) for event_id, _, data, meta in rows])
    return [(event_id, kind, data, meta) for event_id, kind, data, meta in rows]


def _index(dsn: str, *identities: Identity) -> dict[str, UUID]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT identity_key, customer_id FROM identity_index WHERE identity_key = ANY(%s)",
            ([identity.key for identity in identities],),
        ).fetchall()
    return {key: customer for key, customer in rows}


def _everything(dsn: str) -> tuple[list[Any], list[Any], list[Any]]:
    """The whole write side: events, identity index and separations, to compare before and after."""
    with psycopg.connect(dsn) as conn:
        return (
            conn.execute("SELECT event_id FROM events ORDER BY position").fetchall(),
            conn.execute(
                "SELECT identity_key, customer_id FROM identity_index ORDER BY identity_key"
            ).fetchall(),
            conn.execute("SELECT customer_a, customer_b FROM customer_separations ORDER BY 1, 2").fetchall(),
        )


async def _merge(
    client: httpx.AsyncClient, key: str, survivor: UUID, absorbed: UUID, **headers: str
) -> httpx.Response:
    return await client.post(
        f"/v1/customers/{survivor}/merges",
        json={"absorbed_id": str(absorbed), "reason": "same person, checked by phone"},
        headers={**bearer(key), **headers},
    )


async def _undo(client: httpx.AsyncClient, key: str, survivor: UUID, absorbed: UUID) -> httpx.Response:
    return await client.post(
        f"/v1/customers/{survivor}/merges/{absorbed}/undo", json={"reason": "two people"}, headers=bearer(key)
    )


async def test_a_staff_merge_is_two_events_with_the_actor_and_moves_the_index_once(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer
) -> None:
    sam, alex = _email(f"sam-{uuid.uuid4().hex[:6]}"), _email(f"alex-{uuid.uuid4().hex[:6]}")
    survivor, _ = await _say(pool, sam)
    absorbed, _ = await _say(pool, alex)
    key = api_keys.issue(roles=["sales_manager"], principal_id="staff-maria")
    async with api_client(database) as client:
        first = await _merge(client, key, survivor, absorbed)
        after_first = _everything(database)
        again = await _merge(client, key, survivor, absorbed)
    assert first.status_code == 201, first.text
    assert _everything(database) == after_first
    assert (again.status_code, again.json()["merged"]) == (200, False)
    assert again.json()["merge_event_id"] == first.json()["merge_event_id"]
    assert again.json()["position"] == first.json()["position"]

    absorbed_id, kind, data, meta = _stream(database, survivor)[-1]
    assert kind == "customer.absorbed"
    assert str(absorbed_id) == first.json()["merge_event_id"]
    assert (data["rule"], data["actor"], data["absorbed_id"]) == ("staff", "staff-maria", str(absorbed))
    assert data["evidence_event_id"] == str(absorbed_id) and data["shared_identities"] == []
    assert meta["reason"] == "same person, checked by phone"
    _, kind, data, _ = _stream(database, absorbed)[-1]
    assert (kind, data["survivor_id"], data["evidence_event_id"]) == (
        "customer.merged_into",
        str(survivor),
        str(absorbed_id),
    )
    assert _index(database, alex) == {alex.key: survivor}
    assert (await _say(pool, alex))[0] == survivor


async def test_an_idempotency_key_replays_the_first_answer(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer
) -> None:
    survivor, _ = await _say(pool, _email(uuid.uuid4().hex))
    absorbed, _ = await _say(pool, _email(uuid.uuid4().hex))
    key = api_keys.issue(roles=["admin"])
    async with api_client(database) as client:
        first = await _merge(client, key, survivor, absorbed, **{"Idempotency-Key": "merge-1"})
        replay = await _merge(client, key, survivor, absorbed, **{"Idempotency-Key": "merge-1"})
        other = await client.post(
            f"/v1/customers/{absorbed}/merges",
            json={"absorbed_id": str(survivor)},
            headers={**bearer(key), "Idempotency-Key": "merge-1"},
        )
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert [kind for _, kind, _, _ in _stream(database, survivor)].count("customer.absorbed") == 1


async def test_refused_merges_answer_why_and_write_nothing(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer
) -> None:
    one, _ = await _say(pool, _email(uuid.uuid4().hex))
    two, _ = await _say(pool, _email(uuid.uuid4().hex))
    three, _ = await _say(pool, _email(uuid.uuid4().hex))
    manager, rep = api_keys.issue(roles=["sales_manager"]), api_keys.issue(roles=["sales_rep"])
    async with api_client(database) as client:
        assert (await _merge(client, manager, one, two)).status_code == 201
        before = _everything(database)
        itself = await _merge(client, manager, three, three)
        unknown = await _merge(client, manager, three, uuid.uuid4())
        unknown_survivor = await _merge(client, manager, uuid.uuid4(), three)
        absorbed_elsewhere = await _merge(client, manager, three, two)
        survivor_merged = await _merge(client, manager, two, three)
        forbidden = await _merge(client, rep, three, one)
        no_merge = await _undo(client, manager, three, one)

    def said(answer: httpx.Response) -> tuple[int, str]:
        return answer.status_code, answer.json()["error"]["code"]

    assert said(itself) == (422, "cannot_merge_self")
    assert said(unknown) == said(unknown_survivor) == (404, "customer_not_found")
    assert said(absorbed_elsewhere) == said(survivor_merged) == (409, "customer_merged")
    assert str(one) in absorbed_elsewhere.json()["error"]["message"]
    assert forbidden.status_code == 403
    assert said(no_merge) == (409, "merge_not_found")
    assert _everything(database) == before


async def test_undoing_a_rule_merge_returns_identities_and_later_messages_and_separates_the_pair(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer
) -> None:
    tag = uuid.uuid4().hex[:8]
    sam, alex, alex_phone = (
        _email(f"sam-{tag}"),
        _email(f"alex-{tag}"),
        normalise_identity(IdentityKind.PHONE, "+14155550142"),
    )
    survivor, _ = await _say(pool, sam)
    absorbed, _ = await _say(pool, alex)
    merged_on, evidence = await _say(pool, sam, alex)  # one message proves (wrongly) they are one
    assert merged_on == survivor
    _, alex_later = await _say(pool, alex, alex_phone)  # links a new phone to the absorbed side
    _, sam_later = await _say(pool, sam)
    key = api_keys.issue(roles=["sales_manager"], principal_id="staff-maria")
    async with api_client(database) as client:
        undone = await _undo(client, key, survivor, absorbed)
        again = await _undo(client, key, survivor, absorbed)

    assert undone.status_code == 201, undone.text
    assert (again.status_code, again.json()["error"]["code"]) == (409, "merge_not_found")
    answer = undone.json()
    assert set(answer["returned_identities"]) == {alex.key, alex_phone.key}
    moved = {UUID(event_id) for event_id in answer["moved_event_ids"]}
    assert alex_later in moved and evidence not in moved and sam_later not in moved
    unmerged_id, kind, data, _ = _stream(database, survivor)[-1]
    assert (kind, data["restored_id"], data["actor"], data["reason"]) == (
        "customer.unmerged",
        str(absorbed),
        "staff-maria",
        "two people",
    )
    _, kind, data, _ = _stream(database, absorbed)[-1]
    assert (kind, data["survivor_id"], data["unmerge_event_id"]) == (
        "customer.restored",
        str(survivor),
        str(unmerged_id),
    )
    assert _index(database, sam, alex, alex_phone) == {
        sam.key: survivor,
        alex.key: absorbed,
        alex_phone.key: absorbed,
    }
    async with pool.connection() as conn:
        assert await separated_pairs(conn, [survivor, absorbed, uuid.uuid4()]) == {
            frozenset({survivor, absorbed})
        }
    landed, later = await _say(pool, alex_phone)
    assert landed == absorbed and later in {event_id for event_id, _, _, _ in _stream(database, absorbed)}
    assert (await _say(pool, sam))[0] == survivor
    # The same mixed-up message again: the rules must not glue the separated pair back together.
    await _say(pool, sam, alex)
    assert _stream(database, absorbed)[-1][1] != "customer.merged_into"
    assert _index(database, sam, alex) == {sam.key: survivor, alex.key: absorbed}


async def test_a_staff_merge_of_a_separated_pair_clears_the_separation(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer
) -> None:
    survivor, _ = await _say(pool, _email(uuid.uuid4().hex))
    absorbed, _ = await _say(pool, _email(uuid.uuid4().hex))
    key = api_keys.issue(roles=["admin"])
    async with api_client(database) as client:
        assert (await _merge(client, key, survivor, absorbed)).status_code == 201
        assert (await _undo(client, key, survivor, absorbed)).status_code == 201
        remerged = await _merge(client, key, survivor, absorbed)
    assert (remerged.status_code, remerged.json()["separation_cleared"]) == (201, True)
    async with pool.connection() as conn:
        assert await separated_pairs(conn, [survivor, absorbed]) == set()


async def test_a_survivor_merged_into_a_third_customer_cannot_give_back_until_that_is_undone(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer
) -> None:
    survivor, _ = await _say(pool, _email(uuid.uuid4().hex))
    absorbed, _ = await _say(pool, _email(uuid.uuid4().hex))
    third, _ = await _say(pool, _email(uuid.uuid4().hex))
    key = api_keys.issue(roles=["admin"])
    async with api_client(database) as client:
        assert (await _merge(client, key, survivor, absorbed)).status_code == 201
        assert (await _merge(client, key, third, survivor)).status_code == 201
        blocked = await _undo(client, key, survivor, absorbed)
        assert (await _undo(client, key, third, survivor)).status_code == 201
        freed = await _undo(client, key, survivor, absorbed)
    assert (blocked.status_code, blocked.json()["error"]["code"]) == (409, "customer_merged")
    assert str(third) in blocked.json()["error"]["message"]
    assert freed.status_code == 201, freed.text


@pytest.mark.parametrize("command", ["merge", "undo"])
async def test_a_command_failing_at_its_last_statement_leaves_nothing_half_written(
    command: str, database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer
) -> None:
    survivor, _ = await _say(pool, _email(uuid.uuid4().hex))
    absorbed, _ = await _say(pool, _email(uuid.uuid4().hex))
    key = api_keys.issue(roles=["admin"])
    async with api_client(database) as client:
        if command == "undo":
            assert (await _merge(client, key, survivor, absorbed)).status_code == 201
        before = _everything(database)
        with psycopg.connect(database) as conn:  # the separations are written last, after both appends
            conn.execute("ALTER TABLE customer_separations RENAME TO customer_separations_gone")
        try:
            with pytest.raises(EventStoreError, match="customer_separations"):
                if command == "merge":
                    await _merge(client, key, survivor, absorbed)
                else:
                    await _undo(client, key, survivor, absorbed)
        finally:
            with psycopg.connect(database) as conn:
                conn.execute("ALTER TABLE customer_separations_gone RENAME TO customer_separations")
    assert _everything(database) == before


async def test_staff_remove_an_identity_and_the_next_message_from_it_is_a_new_customer(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer
) -> None:
    sam, typo = _email(f"sam-{uuid.uuid4().hex[:6]}"), _email(f"sma-{uuid.uuid4().hex[:6]}")
    customer, _ = await _say(pool, sam, typo)
    key = api_keys.issue(roles=["sales_rep"], principal_id="staff-anna")
    async with api_client(database) as client:
        removed = await client.delete(
            f"/v1/customers/{customer}/identities/{typo.key}", params={"reason": "typo"}, headers=bearer(key)
        )
        again = await client.delete(f"/v1/customers/{customer}/identities/{typo.key}", headers=bearer(key))
        invalid = await client.delete(f"/v1/customers/{customer}/identities/email:nope", headers=bearer(key))
        unknown = await client.delete(
            f"/v1/customers/{uuid.uuid4()}/identities/{sam.key}", headers=bearer(key)
        )

    assert removed.status_code == 200, removed.text
    assert (again.status_code, again.json()["error"]["code"]) == (404, "identity_not_found")
    assert (invalid.status_code, invalid.json()["error"]["code"]) == (422, "invalid_identity")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "customer_not_found")
    event_id, kind, data, _ = _stream(database, customer)[-1]
    assert (kind, data["identity"]["value"], data["actor"], data["reason"]) == (
        "customer.identity.unlinked",
        typo.value,
        "staff-anna",
        "typo",
    )
    assert removed.json()["event_ids"] == [str(event_id)]
    assert _index(database, sam, typo) == {sam.key: customer}
    assert (await _say(pool, typo))[0] != customer


async def test_staff_correct_an_identity_in_one_step_unless_the_right_one_is_another_customers(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer
) -> None:
    tag = uuid.uuid4().hex[:6]
    wrong, right, taken = _email(f"wrong-{tag}"), _email(f"right-{tag}"), _email(f"taken-{tag}")
    customer, _ = await _say(pool, wrong)
    other, _ = await _say(pool, taken)
    key = api_keys.issue(roles=["sales_rep"], principal_id="staff-anna")
    url = f"/v1/customers/{customer}/identities/{wrong.key}"
    async with api_client(database) as client:
        before = _everything(database)
        refused = await client.put(url, json={"kind": "email", "value": taken.value}, headers=bearer(key))
        unchanged = _everything(database)
        corrected = await client.put(
            url,
            json={"kind": "email", "value": right.value.upper(), "reason": "misheard"},
            headers=bearer(key),
        )

    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "identity_taken")
    assert unchanged == before
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["linked_key"] == right.key
    (_, unlinked, data_unlinked, _), (_, linked, data_linked, _) = _stream(database, customer)[-2:]
    assert (unlinked, data_unlinked["identity"]["value"]) == ("customer.identity.unlinked", wrong.value)
    assert (linked, data_linked["identity"]["value"], data_linked["rule"], data_linked["actor"]) == (
        "customer.identity.linked",
        right.value,
        "staff",
        "staff-anna",
    )
    assert _index(database, wrong, right, taken) == {right.key: customer, taken.key: other}
    assert (await _say(pool, right))[0] == customer
