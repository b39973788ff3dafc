"""Forgetting a customer (the right to erasure) by crypto-shredding, in one transaction.

What ``forget`` does, and why each step:

1. destroys the data keys of the customer and of every customer merged into it (still merged): their
   sealed personal fields read as erased from then on, everywhere the adapter reads (projections,
   re-folds, rebuilds, replays, exports of readable data), while the events, their hashes and every
   amount and count stay as they were;
2. removes the customers' rows from the write-side identity index (a plaintext ``kind:value`` key is
   personal data): a later message from the same address starts a new customer, as it should;
3. drops the stored answers of idempotent commands that name those customers (they echo what was sent);
4. appends :class:`~contracts.erasure.CustomerForgotten` to the customer's stream, under the append lock,
   so every projection reaches it in log order and re-derives that customer without personal data;
5. after the commit, deletes the raw blobs (webhook bodies, attachments, documents, media) that only
   those customers' events reference; the event lists them, so ``hub evidence check`` reports them as
   erased rather than missing.

Read models must not be scrubbed here: a projection that read a batch before the keys were destroyed
could write it back after; each projection handles the event at its position instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import structlog

from contracts import customer_stream
from contracts.erasure import CustomerForgotten
from plumbing.blobs import BlobNotFound, BlobStore
from plumbing.eventstore import ANY, NewEvent
from plumbing.eventstore.postgres import Conn, append_locked, lock_appends
from plumbing.eventstore.sealing import destroy_keys
from plumbing.export import blob_references
from plumbing.export_timeline import customer_streams
from plumbing.identity_index import forget_identities

log = structlog.get_logger()


class UnknownCustomer(LookupError):
    """No stream of that customer is stored: there is nothing to forget (a 404)."""


@dataclass(frozen=True)
class Forgotten:
    """The outcome: the event recorded, where, and what was destroyed."""

    event: CustomerForgotten
    position: int
    keys_destroyed: int
    identities_removed: int
    answers_removed: int


async def _still_merged(conn: Conn, customer_id: UUID) -> list[UUID]:
    """The customer and every customer merged into it whose merge still stands (recursively)."""
    found = await customer_streams(conn, customer_id)
    if not found["streams"]:
        raise UnknownCustomer(f"no customer {customer_id}")
    streams = [s for s, until in zip(found["streams"], found["untils"], strict=True) if until is None]
    return [UUID(stream.removeprefix("customer-")) for stream in streams]


async def _referenced_blobs(conn: Conn, customers: Sequence[UUID]) -> tuple[set[str], set[str]]:
    """Blobs the customers' events name, and those among them that other events name too.

    The second query scans the log once (forgetting is rare; an index of blob references would make it
    cheap if it ever is not)."""
    streams = [customer_stream(c) for c in customers]
    ids = [str(c) for c in customers]
    cur = await conn.execute(
        "SELECT data FROM events"
        " WHERE stream_id = ANY(%(streams)s) OR metadata->>'customer_id' = ANY(%(ids)s)",
        {"streams": streams, "ids": ids},
    )
    theirs = {digest for (data,) in await cur.fetchall() for digest in blob_references(data)}
    if not theirs:
        return theirs, set()
    cur = await conn.execute(
        "SELECT DISTINCT d.digest FROM events e, unnest(%(digests)s::text[]) AS d(digest)"
        " WHERE NOT (e.stream_id = ANY(%(streams)s)"
        "            OR coalesce(e.metadata->>'customer_id', '') = ANY(%(ids)s))"
        " AND strpos(e.data::text, d.digest) > 0",
        {"digests": sorted(theirs), "streams": streams, "ids": ids},
    )
    return theirs, {row[0] for row in await cur.fetchall()}


async def _forget_answers(conn: Conn, customers: Sequence[UUID]) -> int:
    """Stored command answers that name one of the customers (they may echo a name, an address...)."""
    cur = await conn.execute("SELECT to_regclass('sales_command_keys') IS NOT NULL")
    row = await cur.fetchone()
    if row is None or not row[0]:
        return 0  # a store without the API's tables
    cur = await conn.execute(
        "DELETE FROM sales_command_keys WHERE answer IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM unnest(%s::text[]) AS c(id) WHERE strpos(answer::text, c.id) > 0)",
        ([str(c) for c in customers],),
    )
    return cur.rowcount


def _event(
    customer_id: UUID, forgotten: Sequence[UUID], actor: str, reason: str, blobs: set[str]
) -> CustomerForgotten:
    now = datetime.now(UTC)
    return CustomerForgotten(
        **CustomerForgotten.type_fields(),
        event_id=uuid4(),
        occurred_at=now,
        received_at=now,
        correlation_id=f"forget:{customer_id}",
        customer_id=customer_id,
        forgotten_ids=tuple(forgotten),
        actor=actor,
        reason=reason,
        erased_blobs=tuple(sorted(blobs)),
    )


async def forget_locked(conn: Conn, customer_id: UUID, *, actor: str, reason: str) -> Forgotten:
    """Steps 1 to 4 inside the caller's transaction (which takes the append lock here)."""
    await lock_appends(conn)
    forgotten = await _still_merged(conn, customer_id)
    theirs, shared = await _referenced_blobs(conn, forgotten)
    event = _event(customer_id, forgotten, actor, reason, theirs - shared)
    keys = await destroy_keys(conn, forgotten)
    identities = await forget_identities(conn, forgotten)
    answers = await _forget_answers(conn, forgotten)
    metadata: dict[str, Any] = {"customer_id": str(customer_id), "actor": actor}
    result = await append_locked(conn, customer_stream(customer_id), [NewEvent(event, metadata)], ANY)
    return Forgotten(event, result.last_position, keys, identities, answers)


async def erase_blobs(blobs: BlobStore, names: Sequence[str]) -> int:
    """Delete the blobs the event names (after its commit); already gone ones are fine (a retry)."""
    removed = 0
    for name in names:
        try:
            await blobs.delete(name)
            removed += 1
        except BlobNotFound:
            continue
    return removed


async def _vacuum(conn: Conn) -> None:
    """Old row versions still hold the wrapped keys and index keys until vacuumed: vacuum now. Only the
    tables' owner may (``hub customer forget``); under the API's runtime role PostgreSQL skips them with a
    warning, and autovacuum takes their dead rows at its next round (eventstore_0005, timeline_0012)."""
    was = conn.autocommit
    await conn.set_autocommit(True)
    try:
        await conn.execute("VACUUM customer_keys, identity_index, transaction_references")
    finally:
        await conn.set_autocommit(was)


async def forget(conn: Conn, blobs: BlobStore, customer_id: UUID, *, actor: str, reason: str) -> Forgotten:
    """Forget ``customer_id`` (see the module docstring); ``conn`` must not be in a transaction."""
    async with conn.transaction():
        done = await forget_locked(conn, customer_id, actor=actor, reason=reason)
    erased = await erase_blobs(blobs, done.event.erased_blobs)
    await _vacuum(conn)
    log.info(
        "customer_forgotten",
        customer_id=str(customer_id),
        forgotten=len(done.event.forgotten_ids),
        keys_destroyed=done.keys_destroyed,
        blobs_erased=erased,
        position=done.position,
    )
    return done
