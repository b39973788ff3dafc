"""Counting what the event store holds, for tests that must prove nothing was lost or doubled."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from plumbing.eventstore.sealing import KEYS_QUERY, key_of, needed_keys, open_with


def interaction_counts(dsn: str) -> tuple[int, int]:
    """(interaction events stored, distinct event ids among them)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM events WHERE event_type LIKE 'interaction.%%'"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def streams_are_contiguous(dsn: str) -> bool:
    """Every stream's versions run 0..n-1 with no hole and no repeat."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM (SELECT stream_id FROM events GROUP BY stream_id"
            " HAVING count(*) <> max(stream_version) + 1 OR min(stream_version) <> 0) broken"
        ).fetchone()
    assert row is not None
    return int(row[0]) == 0


def opened(conn: psycopg.Connection[Any], rows: list[tuple[UUID, dict[str, Any], dict[str, Any]]]) -> None:
    """Open the sealed personal fields of raw ``events`` rows (event id, data, metadata) in place, as
    the store's read functions do: tests that read rows with SQL see what the events say."""
    wanted = needed_keys(rows)
    found = conn.execute(KEYS_QUERY, (list(wanted),)).fetchall() if wanted else []
    open_with(rows, {key.key_id: key for key in map(key_of, found)})
