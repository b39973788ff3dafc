"""``hub audit``: what an auditor runs against the event store itself: chain verification, a customer's raw
timeline, evidence exports and their offline check."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from uuid import UUID

import psycopg
import typer

from plumbing.blobs import FileBlobStore
from plumbing.eventstore.audit import ChainReport, verify_chains
from plumbing.eventstore.postgres import MIGRATIONS as EVENT_STORE
from plumbing.export import ExportError, ExportReport, Selection, export
from plumbing.export_timeline import AuditEvent, customer_timeline
from plumbing.export_verify import verify_export
from plumbing.migrations import apply_migrations

app = typer.Typer(
    help="Audit the event store: tamper evidence, raw timelines, exports.", no_args_is_help=True
)


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


def _blob_store() -> FileBlobStore:
    from hub.stack import StackSettings

    configured = os.environ.get("HUB_BLOB_DIR")
    return FileBlobStore(Path(configured) if configured else StackSettings().paths.blobs)


async def _timeline(dsn: str, customer_id: UUID) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        while page := await customer_timeline(
            conn, customer_id, after_position=events[-1].position if events else 0
        ):
            events.extend(page)
    return events


@app.command()
def timeline(
    customer_id: UUID,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON Lines: one event per line, all fields")
    ] = False,
) -> None:
    """Every event of a customer, merged-in streams included, in store order, with its evidence."""
    from hub.stack import ensure_postgres

    events = asyncio.run(_timeline(ensure_postgres(), customer_id))
    if not events:
        raise typer.BadParameter(f"the store has no customer {customer_id}")
    for event in events:
        if as_json:
            typer.echo(event.model_dump_json())
            continue
        evidence = f"evidence sha256:{event.evidence.sha256}" if event.evidence else "no raw evidence"
        verified = event.evidence.verification if event.evidence and event.evidence.verification else None
        who = f"actor {event.actor}" if event.actor else f"via {event.provider or 'the hub'}"
        rule = f" rule {event.merge.rule}" if event.merge and event.merge.rule else ""
        typer.echo(
            f"{event.position:>10} {event.recorded_at.isoformat()} {event.stream_id}@{event.stream_version}"
            f" {event.event_type} {who}{rule} {evidence}"
            + (f" verified {verified.get('scheme')} key {verified.get('key_index')}" if verified else "")
            + (f" msg {event.provider_message_id}" if event.provider_message_id else "")
        )


def _moment(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


async def _export(dsn: str, selection: Selection, folder: Path) -> ExportReport:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        return await export(conn, selection, folder, _blob_store())


@app.command("export")
def export_command(
    out_dir: Annotated[Path, typer.Argument(help="a new or empty folder")],
    customer: Annotated[UUID | None, typer.Option(help="one customer, merged-in streams included")] = None,
    from_position: Annotated[int | None, typer.Option("--from-position", help="inclusive")] = None,
    to_position: Annotated[int | None, typer.Option("--to-position", help="inclusive")] = None,
    since: Annotated[
        datetime | None, typer.Option(help="recorded at or after (UTC unless a zone is given)")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="recorded before (UTC unless a zone is given)")
    ] = None,
) -> None:
    """Export events as JSON Lines with a manifest and the raw evidence they reference (checkable offline
    with `hub audit verify-export`); exit 1 if the store's hash chains are broken or a blob is missing
    or altered (a blob a lawful forget erased is listed as erased, not missing)."""
    from hub.stack import ensure_postgres

    selection = Selection(customer, from_position, to_position, _moment(since), _moment(until))
    try:
        report = asyncio.run(_export(ensure_postgres(), selection, out_dir))
    except ExportError as exc:
        raise typer.BadParameter(str(exc)) from exc
    events, blobs = report.manifest["events"], report.manifest["blobs"]
    chains = report.manifest["chain_verification"]
    typer.echo(
        f"{events['count']} events (positions {events['first_position']}..{events['last_position']}),"
        f" {blobs['count']} blobs ({len(blobs['missing'])} missing, {len(blobs['corrupt'])} corrupt,"
        f" {len(blobs['erased'])} erased by a forget)"
        f" -> {out_dir}; hash chains {'intact' if chains['intact'] else 'BROKEN'}"
    )
    if not chains["intact"] or blobs["missing"] or blobs["corrupt"]:
        raise typer.Exit(code=1)


@app.command("verify-export")
def verify_export_command(folder: Path) -> None:
    """Check an export offline: hashes of every line, the file and every blob, chain links, positions, and
    that every readable byte (opened personal values included) is what the hash chain covers."""
    report = verify_export(folder)
    for problem in report.problems:
        typer.echo(f"PROBLEM {problem}")
    typer.echo(
        f"events: {report.events}  blobs: {report.blobs}  erased blobs: {report.erased_blobs}"
        f"  personal values proven: {report.proven_fields}  erased: {report.erased_fields}"
        f"  readable copy not provable (sealed before commitments): {report.unprovable_events} events  "
        + ("ok" if report.ok else "NOT OK")
    )
    if not report.ok:
        raise typer.Exit(code=1)
