"""Counting what the event store holds, for tests that must prove nothing was lost or doubled."""

from __future__ import annotations

import psycopg


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
