"""Time the analytics reports over a big stored history (median of 5 reads each), printing JSON.

Seeds ``--events`` stored events (``bench.stored.seed``: the timeline writer's code, the bench's Zipf
traffic, one event a second from ``tests.support.traffic.T0``) into ``--database`` unless it holds them
already, rebuilds the analytics projection from position 0 (its rate is printed too; ``--keep`` reuses
a projection already at the head of the log), then times, as the API computes them:

* the default channel-effectiveness report (the last 30 days up to the day of the newest event; with
  one event a second, 2.6M events fit in it, so every seeded event is in the window) and a one-day one,
* the staff report over the same 30 days.

``--reference`` also times the reference path (every touch before the window's end loaded and counted in
Python, :func:`services.api.analytics_reports.channel_report`) and checks both give the same rows.
The database is kept for the next run (``--drop`` drops it). Run:
``.venv/bin/python -m bench.analytics_report --events 100000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from bench import stored
from bench.card_rebuild_cpu import _database
from hub.stack import ensure_infra
from plumbing.eventstore.postgres import Conn
from plumbing.logging import configure_logging
from projections.analytics.store import NAME, AnalyticsProjection
from services.api import analytics_queries as queries
from services.api.analytics_channels import channel_rows
from services.api.analytics_reports import Window, channel_report, staff_report

DEFAULT_SPAN_DAYS = 30
READS = 5


def _analytics_tables(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        found = conn.execute(
            "SELECT tablename FROM pg_tables"
            " WHERE schemaname = current_schema() AND tablename LIKE 'analytics%'"
        ).fetchall()
    return [row[0] for row in found]


def _projection_at_head(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        head = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
        done = conn.execute("SELECT position FROM projection_checkpoints WHERE name = %s", (NAME,)).fetchone()
    return head is not None and done is not None and done[0] >= head[0]


def _analyze(dsn: str) -> None:
    """Fresh planner statistics, as autovacuum keeps them on a live store (a rebuild outruns it)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in _analytics_tables(dsn):
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


def _empty_analytics(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        names = sql.SQL(", ").join(map(sql.Identifier, _analytics_tables(dsn)))
        conn.execute(sql.SQL("TRUNCATE {}").format(names))
        conn.execute("DELETE FROM projection_checkpoints WHERE name = %s", (NAME,))


async def _timed(read: Callable[[], Awaitable[Any]], reads: int = READS) -> tuple[float, Any]:
    """Median milliseconds of ``reads`` reads, and the last read's result."""
    times, result = [], None
    for _ in range(reads):
        started = time.perf_counter()
        result = await read()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1), result


async def _reports(dsn: str, reference: bool) -> dict[str, Any]:
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=1) as pool, pool.connection() as conn:
        row = await (await conn.execute("SELECT max(occurred_at) FROM analytics_touches")).fetchone()
        assert row is not None and row[0] is not None, "the analytics projection is empty"
        last = row[0].astimezone(UTC).date()
        end = datetime.combine(last, datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
        default = Window(end - timedelta(days=DEFAULT_SPAN_DAYS), end)
        one_day = Window(end - timedelta(days=1), end)
        now = end

        async def reference_channels(window: Window) -> Any:
            facts = await queries.report_facts(conn, window)
            return channel_report(facts.touches, facts.sales, facts.deals, window, "channel")

        async def staff() -> Any:
            facts = await queries.staff_facts(conn, default)
            return staff_report(
                facts.touches, facts.replies, facts.tasks, facts.deals, default, now, lambda _: None
            )

        figures: dict[str, Any] = {"window_days": DEFAULT_SPAN_DAYS, "window_end": end.isoformat()}
        figures["channel_report_ms"], rows = await _timed(lambda: channel_rows(conn, default))
        figures["channel_rows"] = len(rows)
        figures["channel_report_one_day_ms"], _ = await _timed(lambda: channel_rows(conn, one_day))
        figures["channel_report_by_source_weekly_ms"], _ = await _timed(
            lambda: channel_rows(conn, Window(default.start, default.end, "week"), "source")
        )
        figures["staff_report_ms"], staff_rows = await _timed(staff)
        figures["staff_rows"] = len(staff_rows)
        if reference:
            figures["reference_channel_report_ms"], expected = await _timed(
                lambda: reference_channels(default), 1
            )
            figures["reference_channel_report_one_day_ms"], expected_day = await _timed(
                lambda: reference_channels(one_day), 1
            )
            figures["same_rows_as_reference"] = (
                rows == expected and await channel_rows(conn, one_day) == expected_day
            )
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--database", help="default: bench_analytics_<events>")
    parser.add_argument("--keep", action="store_true", help="reuse a projection already at the log's head")
    parser.add_argument("--reference", action="store_true", help="also time the reference path, compare")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    options = parser.parse_args()
    configure_logging("bench", "WARNING")
    server_dsn = ensure_infra().pg_dsn
    name = options.database or f"bench_analytics_{options.events}"
    dsn = _database(server_dsn, name, options.events, options.customers)
    try:
        figures: dict[str, Any] = {"database": name}
        if not (options.keep and _projection_at_head(dsn)):
            _empty_analytics(dsn)
            events, rate = asyncio.run(stored.rebuild(dsn, AnalyticsProjection()))
            figures |= {"rebuilt_events": events, "rebuild_events_per_s": round(rate)}
        _analyze(dsn)
        figures |= asyncio.run(_reports(dsn, options.reference))
        print(json.dumps(figures, indent=2))
    finally:
        if options.drop:
            with psycopg.connect(server_dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
