"""Rebuild checks: copy a database's event log into a fresh one, re-project it, compare read models.

A projection is only trustworthy if folding the log from position zero gives what the live one
built while events arrived in whatever batches they came; these helpers make that one call in tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from plumbing.eventstore.postgres import Conn
from plumbing.projection import apply_next_batch
from projections.customer_card.store import CustomerCardProjection

_EVENT_COLUMNS = (
    "position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at"
)
#: The card projection's tables, each ordered by its whole primary key so the comparison is stable.
CARD_TABLES = {
    "cards": "SELECT customer_id, card, last_position FROM customer_cards ORDER BY customer_id",
    "identities": "SELECT identity_key, customer_id FROM card_identities ORDER BY 1, 2",
    "timeline": "SELECT * FROM card_timeline ORDER BY customer_id, position",
    "search": "SELECT * FROM card_search ORDER BY 1, 2",
}


def rows(dsn: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(query, params or None).fetchall())  # type: ignore[arg-type]


#: What a restore copies, in this order: the customers' data keys open the events they sealed.
_LOG_TABLES = (
    ("customer_keys", "key_id, customer_id, wrapped_key, created_at, destroyed_at", "key_id"),
    ("streams", "stream_id, version", "stream_id"),
    ("events", _EVENT_COLUMNS, "position"),
)


def copy_log(source: str, target: str) -> None:
    """Copy the event store verbatim (same positions, ciphertext and keys), as a restore would, with COPY."""
    with psycopg.connect(source) as src, psycopg.connect(target) as dst:
        for table, columns, order in _LOG_TABLES:
            query = f"COPY (SELECT {columns} FROM {table} ORDER BY {order}) TO STDOUT"
            with src.cursor().copy(query) as out:  # type: ignore[arg-type]  # constants of this module
                with dst.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as into:  # type: ignore[arg-type]
                    for chunk in out:
                        into.write(chunk)
        dst.commit()


def card_read_model(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the card projection's tables."""
    return {name: rows(dsn, query) for name, query in CARD_TABLES.items()}


def wait_until_stored(dsn: str, event_ids: Collection[str], deadline_s: float = 60.0) -> None:
    """Wait until the timeline writer has stored every one of ``event_ids`` (acknowledged is not stored)."""
    deadline = time.monotonic() + deadline_s
    wanted = sorted(set(event_ids))
    while rows(dsn, "SELECT count(*) FROM events WHERE event_id::text = ANY(%s)", wanted)[0][0] < len(wanted):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all of {len(wanted)} events were stored within {deadline_s:.0f} s")
        time.sleep(0.1)


def wait_until_projected(dsn: str, projection: str, deadline_s: float = 60.0) -> int:
    """Wait until ``projection``'s checkpoint reaches the end of the log; return that position."""
    deadline = time.monotonic() + deadline_s
    while True:
        ((last,),) = rows(dsn, "SELECT coalesce(max(position), 0) FROM events")
        done = rows(dsn, "SELECT position FROM projection_checkpoints WHERE name = %s", projection)
        if done and done[0][0] >= last:
            return int(last)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{projection} stayed behind position {last} for {deadline_s:.0f} s")
        time.sleep(0.1)


def project_all(dsn: str, batch_size: int = 1000) -> None:
    """Run the card projection over the whole log of ``dsn`` in this process (a rebuild)."""
    asyncio.run(_project_all(dsn, batch_size))


async def _project_all(dsn: str, batch_size: int) -> None:
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=2) as pool:
        while await apply_next_batch(pool, CustomerCardProjection(), batch_size):
            pass
