"""``hub audit``: checks an auditor runs against the event store itself."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import psycopg
import typer

from plumbing.eventstore.audit import ChainReport, verify_chains
from plumbing.eventstore.postgres import MIGRATIONS as EVENT_STORE
from plumbing.migrations import apply_migrations

app = typer.Typer(help="Audit the event store: tamper evidence.", no_args_is_help=True)


async def _verify(dsn: str, stream: str | None) -> ChainReport:
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.transaction():
        return await verify_chains(conn, stream)


@app.command()
def verify(
    stream: Annotated[str | None, typer.Option(help="walk only this stream (default: every stream)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Walk the hash chains; exit 1 and name the first broken link of each stream if one is broken."""
    from hub.stack import ensure_postgres

    dsn = ensure_postgres()
    apply_migrations(dsn, EVENT_STORE)  # a store from before the chains gets them (oldest first)
    report = asyncio.run(_verify(dsn, stream))
    if as_json:
        broken = [{**vars(link), "event_id": link.event_id and str(link.event_id)} for link in report.broken]
        summary = {"streams": report.streams, "events": report.events, "digest": report.digest}
        typer.echo(json.dumps({**summary, "intact": report.intact, "broken": broken}, indent=2))
    else:
        typer.echo(f"streams: {report.streams}  events: {report.events}  digest: {report.digest}")
        for link in report.broken:
            where = f"position {link.position}, event {link.event_id}" if link.position else "end of stream"
            typer.echo(f"BROKEN {link.stream_id} at version {link.stream_version} ({where}): {link.reason}")
        typer.echo("intact" if report.intact else f"{len(report.broken)} broken stream(s)")
    if not report.intact:
        raise typer.Exit(code=1)
