"""``hub evidence``: prove the stored raw deliveries are intact, and re-run today's translators on them.

``check`` walks every interaction in the store and fetches each blob it references (raw body and
attachments), so a missing or altered file is found before an auditor needs it. ``retranslate``
feeds one event's raw delivery to the current translator and shows what would differ: how a fixed
translator is tried on history before anything is re-processed.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

import psycopg
import typer
from starlette.datastructures import Headers
from starlette.routing import compile_path

from contracts import InteractionEvent, parse_event
from contracts.erasure import CustomerForgotten
from plumbing.blobs import BlobCorrupted, BlobNotFound, BlobStore, FileBlobStore
from plumbing.eventstore.postgres import read_events
from services.ingress.delivery import Delivery
from services.ingress.endpoints import ENDPOINTS, Endpoint
from services.ingress.settings import IngressSettings

app = typer.Typer(
    help="Raw evidence of webhook deliveries: integrity and re-translation.", no_args_is_help=True
)

_REFERENCES = """
SELECT data->'evidence'->'body'->>'sha256',
       coalesce((SELECT array_agg(a->>'sha256') FROM jsonb_array_elements(
           CASE WHEN jsonb_typeof(data->'attachments') = 'array' THEN data->'attachments' ELSE '[]' END
       ) AS a WHERE a->>'sha256' IS NOT NULL), '{}')
FROM events WHERE event_type LIKE 'interaction.%'
"""


@dataclass
class EvidenceReport:
    """What ``check`` found: ``missing`` and ``corrupt`` list blob hashes."""

    interactions: int = 0
    without_evidence: int = 0
    blobs: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    #: Deleted on purpose: a forgotten customer's evidence (named by ``customer.forgotten`` events).
    erased: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.missing and not self.corrupt


async def _erased_blobs(conn: psycopg.AsyncConnection[Any]) -> set[str]:
    cur = await conn.execute(
        "SELECT jsonb_array_elements_text(data->'erased_blobs') FROM events WHERE event_type = %s",
        (CustomerForgotten.EVENT_TYPE,),
    )
    return {row[0] for row in await cur.fetchall()}


async def check_evidence(dsn: str, blobs: BlobStore) -> EvidenceReport:
    """Fetch (and so hash-check) every blob the stored interactions reference, each once."""
    report = EvidenceReport()
    referenced: set[str] = set()
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.cursor(name="evidence_refs") as cur:
        await cur.execute(_REFERENCES)
        async for body, attachments in cur:
            report.interactions += 1
            if body is None:
                report.without_evidence += 1
            referenced.update(h for h in (body, *attachments) if h is not None)
        await cur.close()
        erased = await _erased_blobs(conn)
    for digest in sorted(referenced):
        report.blobs += 1
        try:
            await blobs.get(digest)
        except BlobNotFound:
            (report.erased if digest in erased else report.missing).append(digest)
        except BlobCorrupted:
            report.corrupt.append(digest)
    return report


@dataclass(frozen=True)
class Retranslation:
    """How the current translator's event compares with the stored one (evidence aside)."""

    event_id: UUID
    endpoint: str
    differences: dict[str, tuple[Any, Any]]

    @property
    def same(self) -> bool:
        return not self.differences


def retranslate(stored: InteractionEvent, body: bytes, settings: IngressSettings) -> Retranslation:
    """Run today's translator of ``stored``'s endpoint on its raw ``body``; compare field by field.

    Raises ``ValueError`` when the event has no evidence or its endpoint no longer exists.
    """
    evidence = stored.evidence
    if evidence is None:
        raise ValueError(f"event {stored.event_id} carries no raw evidence")
    endpoint = _endpoint(evidence.endpoint, settings)
    delivery = Delivery(body, Headers(evidence.headers), evidence.url, _path_params(endpoint, evidence.url))
    again = endpoint.translator_for(delivery)(
        body,
        received_at=stored.received_at,
        correlation_id=stored.correlation_id,
        default_region=settings.default_region,
    )
    before = stored.model_dump(mode="json", exclude={"evidence"})
    match = next((event for event in again if event.event_id == stored.event_id), None)
    if match is None:
        return Retranslation(stored.event_id, endpoint.path, {"event": (before, None)})
    after = match.model_dump(mode="json", exclude={"evidence"})
    differences = {
        name: (before.get(name), after.get(name))
        for name in sorted({*before, *after})
        if before.get(name) != after.get(name)
    }
    return Retranslation(stored.event_id, endpoint.path, differences)


def _endpoint(path: str, settings: IngressSettings) -> Endpoint:
    for endpoint in ENDPOINTS:
        if endpoint.path == path:
            return endpoint.configured(settings)
    raise ValueError(f"no endpoint serves {path} any more")


def _path_params(endpoint: Endpoint, url: str) -> dict[str, str]:
    pattern, _, _ = compile_path(endpoint.path)
    found = pattern.match(urlsplit(url).path)
    return {name: str(value) for name, value in found.groupdict().items()} if found else {}


def _blob_store() -> FileBlobStore:
    from hub.stack import StackSettings

    configured = os.environ.get("HUB_BLOB_DIR")
    return FileBlobStore(Path(configured) if configured else StackSettings().paths.blobs)


def _dsn() -> str:
    from hub.stack import ensure_postgres

    return ensure_postgres()


@app.command()
def check(
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Fetch every blob the stored interactions reference; exit 1 if one is missing or altered."""
    report = asyncio.run(check_evidence(_dsn(), _blob_store()))
    if as_json:
        typer.echo(json.dumps({**vars(report), "intact": report.intact}, indent=2))
    else:
        typer.echo(
            f"interactions: {report.interactions}  without evidence: {report.without_evidence}"
            f"  blobs: {report.blobs}  missing: {len(report.missing)}  corrupt: {len(report.corrupt)}"
            f"  erased: {len(report.erased)}"
        )
        for digest in report.missing:
            typer.echo(f"MISSING {digest}")
        for digest in report.corrupt:
            typer.echo(f"CORRUPT {digest}")
    if not report.intact:
        raise typer.Exit(code=1)


async def _load(dsn: str, event_id: UUID) -> InteractionEvent:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        found = await read_events(conn, [event_id])  # opens sealed personal fields
    if not found:
        raise typer.BadParameter(f"no event {event_id} in the store")
    event = parse_event(found[0].data)
    if not isinstance(event, InteractionEvent):
        raise typer.BadParameter(f"event {event_id} is not an interaction")
    return event


@app.command("retranslate")
def retranslate_command(event_id: UUID) -> None:
    """Re-run today's translator on one event's raw delivery and print what would differ (JSON)."""
    stored = asyncio.run(_load(_dsn(), event_id))
    if stored.evidence is None:
        raise typer.BadParameter(f"event {event_id} carries no raw evidence")
    body = asyncio.run(_blob_store().get(stored.evidence.body.sha256))
    result = retranslate(stored, body, IngressSettings())
    changes = {name: {"stored": old, "now": new} for name, (old, new) in result.differences.items()}
    summary = {"event_id": str(result.event_id), "endpoint": result.endpoint, "same": result.same}
    typer.echo(json.dumps({**summary, "differences": changes}, indent=2, default=str))
