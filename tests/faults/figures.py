"""The standard figures of a fault test: lost, duplicated, drift, and the time it took to recover.

* **lost**: events the test knows were acknowledged (or published) but that the store does not hold;
* **duplicated**: events stored more than once (by id), and interactions that are not in the sent set;
* **drift**: rows of the live card projection that differ from a rebuild of the same log into fresh tables.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from hub import deployment
from hub.stack.kafka import run_coro
from plumbing.eventstore.postgres import Conn
from plumbing.projection import apply_next_batch
from projections.customer_card.store import CustomerCardProjection
from tests.support.infra import with_database
from tests.support.rebuild import copy_log


@dataclass(frozen=True)
class Survival:
    lost: int
    duplicated: int
    drift: int
    recovery_s: float

    def report(self, name: str) -> None:
        print(
            f"\n[{name}] lost={self.lost} duplicated={self.duplicated} drift={self.drift}"
            f" recovery={self.recovery_s:.2f}s"
        )


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll with a deadline; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def stored_interactions(dsn: str) -> list[UUID]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT event_id FROM events WHERE event_type LIKE 'interaction.%%'").fetchall()
    return [row[0] for row in rows]


def lost_and_duplicated(dsn: str, expected: Collection[UUID]) -> tuple[int, int]:
    """(expected ids missing from the store, stored interactions beyond one per expected id)."""
    stored = stored_interactions(dsn)
    wanted = set(expected)
    return len(wanted - set(stored)), len(stored) - len(set(stored) & wanted)


def projection_caught_up(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT (SELECT coalesce(max(position), 0) FROM events),"
            " (SELECT coalesce(max(position), 0) FROM projection_checkpoints WHERE name = 'customer_card')"
        ).fetchone()
    assert row is not None
    return bool(row[0] == row[1])


def _read_model(dsn: str) -> dict[str, set[tuple[Any, ...]]]:
    with psycopg.connect(dsn) as conn:
        return {
            "cards": set(conn.execute("SELECT customer_id, card::text, last_position FROM customer_cards")),
            "identities": set(conn.execute("SELECT identity_key, customer_id FROM card_identities")),
            "timeline": set(
                conn.execute(
                    "SELECT customer_id, position, event_id, event_type, channel, summary FROM card_timeline"
                )
            ),
        }


@contextmanager
def fresh_database(server_dsn: str) -> Iterator[str]:
    name = f"t_rebuild_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        dsn = with_database(server_dsn, name)
        deployment.migrate_all(dsn)
        yield dsn
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def _rebuild(dsn: str) -> None:
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=1) as pool:
        while await apply_next_batch(pool, CustomerCardProjection(), 500):
            pass


def drift(dsn: str, server_dsn: str) -> int:
    """Rows that differ between the live card projection of ``dsn`` and a rebuild of its log from zero."""
    wait_until(lambda: projection_caught_up(dsn), 120, "the live projection to catch up")
    live = _read_model(dsn)
    with fresh_database(server_dsn) as fresh:
        copy_log(dsn, fresh)
        run_coro(lambda: _rebuild(fresh))
        rebuilt = _read_model(fresh)
    return sum(len(live[table] ^ rebuilt[table]) for table in live)


def survival(dsn: str, server_dsn: str, expected: Collection[UUID], recovery_s: float) -> Survival:
    lost, duplicated = lost_and_duplicated(dsn, expected)
    return Survival(lost, duplicated, drift(dsn, server_dsn), recovery_s)
