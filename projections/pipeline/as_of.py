"""The pipeline as it stood at a past position or time: :func:`pipeline_as_of` (the live projection's own
fold, stopped early) over the sales streams of the log, summarised with the live API's arithmetic.

Used by ``hub replay pipeline --as-of`` and ``GET /v1/audit/pipelines/{id}?as_of=``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.read.pipeline import PipelineSummary, summarize
from contracts.sales_config import Pipeline
from plumbing.eventstore.postgres import Conn
from plumbing.export_replay import AsOf, log_until, resolve_as_of
from projections.pipeline.evolve import CATEGORIES, Fact, pipeline_as_of, to_fact


def month_of(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) ``moment`` is in, as ``[start, start of the next month)``: the default
    period of won and lost totals, as in the live API."""
    start = moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, (start + timedelta(days=32)).replace(day=1)


async def pipeline_summary_as_of(
    conn: Conn,
    pipeline: Pipeline,
    as_of: int | datetime,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[PipelineSummary, AsOf]:
    """The summary of ``pipeline`` folded up to ``as_of``; stale flags and the default period are
    computed at the store time of that point (now, for a position past the end of the log)."""
    point = await resolve_as_of(conn, as_of)
    facts: list[Fact] = [
        fact async for recorded in log_until(conn, point.position, CATEGORIES) if (fact := to_fact(recorded))
    ]
    deals = pipeline_as_of(facts, position=point.position)
    moment = point.at or datetime.now(UTC)
    month = month_of(moment)
    summary = summarize(deals.values(), pipeline, since or month[0], until or month[1], now=moment)
    return summary, point
