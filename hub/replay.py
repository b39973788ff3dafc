"""``hub replay``: the log replayed for auditors and for teams that lost their state.

* ``card ID --as-of`` / ``pipeline --as-of``: the customer card / the pipeline as it stood at a position
  or time (the projections' own folds).
* ``publish``: a range of the log onto a Kafka topic, records exactly as the timeline relay makes them
  (original event ids as headers, customer id as key), acknowledged by all in-sync replicas.
* ``rebuild``: a projection rebuilt from position zero into a shadow schema, compared row by row with
  the live one, switched over atomically with ``--switch``; the store's chain verification is part of
  the report.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import psycopg
import typer

from contracts.sales_config import default_pipelines_file, parse_pipelines
from hub.replay_projections import SPECS
from plumbing.eventstore.audit import verify_chains
from plumbing.eventstore.postgres import read_all_stored
from plumbing.export import chain_summary
from plumbing.export_replay import BadAsOf, log_range, parse_as_of, resolve_as_of
from plumbing.kafka import TopicSpec, ensure_topics, make_broker
from plumbing.rebuild import Progress, RebuildReport, RebuildRunning, rebuild
from plumbing.runtime import tune_collector
from projections.customer_card.as_of import card_as_of
from projections.pipeline.as_of import pipeline_summary_as_of
from services.relay.relay import TimelineRelay

app = typer.Typer(help="Replay the log: point in time, re-publish, verified rebuilds.", no_args_is_help=True)


def _dsn() -> str:
    from hub.stack import ensure_postgres

    return ensure_postgres()


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, default=lambda v: str(v) if isinstance(v, Decimal) else v.isoformat())


async def _pipelines_as_of(dsn: str, as_of: int | datetime, pipeline_id: str | None) -> list[dict[str, Any]]:
    config = parse_pipelines(default_pipelines_file().read_text(encoding="utf-8"))
    wanted = [p for p in config.pipelines if pipeline_id in (None, p.id)]
    if not wanted:
        raise typer.BadParameter(f"no pipeline {pipeline_id!r}")
    answers = []
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        for pipeline in wanted:
            summary, point = await pipeline_summary_as_of(conn, pipeline, as_of)
            answers.append({**summary.model_dump(mode="json"), "as_of_position": point.position})
    return answers


@app.command("pipeline")
def pipeline_command(
    as_of: Annotated[str, typer.Option("--as-of", help="a log position, or an ISO 8601 time with a zone")],
    pipeline: Annotated[str | None, typer.Option(help="one pipeline (default: every one)")] = None,
) -> None:
    """Print the pipeline summary (per stage, forecast, won/lost of that month) as it stood then (JSON)."""
    try:
        point = parse_as_of(as_of)
    except BadAsOf as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(_json(asyncio.run(_pipelines_as_of(_dsn(), point, pipeline))))


async def _publish(first: int, last: int, topic: str, partitions: int, bootstrap: str, dsn: str) -> int:
    await ensure_topics(bootstrap, [TopicSpec(topic, partitions=partitions)])
    broker = make_broker(bootstrap, client_id="hub-replay")
    await broker.connect()
    published = 0
    try:
        relay = TimelineRelay(broker, topic)
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            async for batch in log_range(conn, first, last, read=read_all_stored):  # sealed, as the relay
                await relay.apply(conn, batch)  # returns only when Kafka acknowledged the whole batch
                published += len(batch)
    finally:
        await broker.stop()
    return published


@app.command("publish")
def publish_command(
    from_position: Annotated[int, typer.Option("--from-position", min=1, help="first position, inclusive")],
    to_position: Annotated[int, typer.Option("--to-position", min=1, help="last position, inclusive")],
    topic: Annotated[str, typer.Option(help="the topic to publish to (created if missing)")],
    partitions: Annotated[int, typer.Option(min=1, help="partitions if the topic is created")] = 6,
) -> None:
    """Publish positions FROM..TO onto TOPIC as the timeline relay does (event ids in headers)."""
    if from_position > to_position:
        raise typer.BadParameter("--from-position must not be after --to-position")
    from hub.stack import ensure_infra

    infra = ensure_infra()
    count = asyncio.run(
        _publish(from_position, to_position, topic, partitions, infra.kafka_bootstrap, infra.pg_dsn)
    )
    typer.echo(f"published {count} events (positions {from_position}..{to_position}) to {topic}")


class _ProgressPrinter:
    """Progress on stderr at most every ``every_s`` seconds: events, rate, ETA."""

    def __init__(self, name: str, every_s: float = 2.0) -> None:
        self.name, self.every_s, self.last = name, every_s, 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self.last < self.every_s:
            return
        self.last = now
        eta = f"{progress.eta_s:.0f} s" if progress.eta_s is not None else "?"
        print(
            f"rebuild {self.name}: {progress.events} events, position {progress.position}/{progress.target},"
            f" {progress.rate:,.0f} events/s, ETA {eta}",
            file=sys.stderr,
        )


def _rebuild_summary(report: RebuildReport) -> dict[str, Any]:
    return {
        "projection": report.projection,
        "events": report.events,
        "position": report.position,
        "seconds": round(report.elapsed_s, 3),
        "events_per_s": round(report.rate, 1),
        "identical": report.identical,
        "switched": report.switched,
        "retired_schema": report.retired_schema,
        "shadow_schema": report.shadow_schema,
        "tables": [
            {
                "table": t.table,
                "live_rows": t.live_rows,
                "rebuilt_rows": t.rebuilt_rows,
                "differing": t.differing,
                "rows": [{"row": d.describe(), "live": d.live, "rebuilt": d.rebuilt} for d in t.rows],
            }
            for t in report.tables
        ],
    }


async def _rebuild_all(dsn: str, names: list[str], switch: bool, batch_size: int) -> dict[str, Any]:
    reports = [
        _rebuild_summary(
            await rebuild(
                dsn, SPECS[name], switch=switch, batch_size=batch_size, on_progress=_ProgressPrinter(name)
            )
        )
        for name in names
    ]
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.transaction():
        chains = chain_summary(await verify_chains(conn))
    return {"rebuilds": reports, "chain_verification": chains}


@app.command("rebuild")
def rebuild_command(
    projection: Annotated[str, typer.Argument(help=f"{' | '.join(SPECS)} | all")],
    switch: Annotated[bool, typer.Option("--switch", help="switch to the rebuilt tables atomically")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 2000,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Rebuild into a shadow schema, compare with the live tables; exit 1 on a difference or a broken chain
    (after switching, when asked), 2 when a rebuild of the same projection is already running."""
    names = list(SPECS) if projection == "all" else [projection]
    if any(name not in SPECS for name in names):
        raise typer.BadParameter(f"unknown projection {projection!r}: {', '.join(SPECS)} or all")
    tune_collector()  # as the projections' own processes: a rebuild folds millions of events
    try:
        result = asyncio.run(_rebuild_all(_dsn(), names, switch, batch_size))
    except RebuildRunning as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    if as_json:
        typer.echo(_json(result))
    else:
        for report in result["rebuilds"]:
            typer.echo(
                f"{report['projection']}: {report['events']} events to position {report['position']} in"
                f" {report['seconds']} s ({report['events_per_s']} events/s); "
                + ("identical" if report["identical"] else "DIFFERENT")
                + (f"; switched (old tables in {report['retired_schema']})" if report["switched"] else "")
            )
            for table in report["tables"]:
                typer.echo(
                    f"  {table['table']}: live {table['live_rows']} rows, rebuilt {table['rebuilt_rows']},"
                    f" differing {table['differing']}"
                )
                for row in table["rows"]:
                    typer.echo(f"    {row['row']}")
        chains = result["chain_verification"]
        typer.echo(f"hash chains: {'intact' if chains['intact'] else 'BROKEN'} ({chains['events']} events)")
    identical = all(report["identical"] for report in result["rebuilds"])
    if not identical or not result["chain_verification"]["intact"]:
        raise typer.Exit(code=1)


async def _card_as_of(dsn: str, customer_id: UUID, as_of: int | datetime) -> dict[str, Any] | None:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        point = await resolve_as_of(conn, as_of)
        card = await card_as_of(conn, customer_id, point.position)
    if card is None:
        return None
    return {"as_of_position": point.position, "card": card.model_dump(mode="json")}


@app.command("card")
def card_command(
    customer_id: Annotated[
        UUID, typer.Argument(help="the customer (a merged-away id gives its survivor's card)")
    ],
    as_of: Annotated[str, typer.Option("--as-of", help="a log position, or an ISO 8601 time with a zone")],
) -> None:
    """Print the customer card as it stood then (JSON): the live projection's fold of the log up to then."""
    try:
        point = parse_as_of(as_of)
    except BadAsOf as exc:
        raise typer.BadParameter(str(exc)) from exc
    answer = asyncio.run(_card_as_of(_dsn(), customer_id, point))
    if answer is None:
        typer.echo(f"customer {customer_id} had no events by then", err=True)
        raise typer.Exit(1)
    typer.echo(_json(answer))
