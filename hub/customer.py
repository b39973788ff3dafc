"""``hub customer forget ID``: the right to erasure from the command line (see :mod:`plumbing.erasure`)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated
from uuid import UUID

import psycopg
import typer

from hub.evidence import _blob_store, _dsn
from plumbing.erasure import Forgotten, UnknownCustomer, forget

app = typer.Typer(help="Customers: the right to erasure.", no_args_is_help=True)


async def _forget(dsn: str, customer_id: UUID, actor: str, reason: str) -> Forgotten:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        return await forget(conn, _blob_store(), customer_id, actor=actor, reason=reason)


@app.command("forget")
def forget_command(
    customer_id: UUID,
    reason: Annotated[str, typer.Option(help="a code or ticket reference, never text about the person")],
    actor: Annotated[str, typer.Option(help="who asked (kept in the event)")] = "hub.cli",
) -> None:
    """Destroy the customer's data keys (and those of customers merged into it), record the erasure
    and delete the raw deliveries only they referenced; prints what was done as JSON."""
    try:
        done = asyncio.run(_forget(_dsn(), customer_id, actor, reason))
    except UnknownCustomer as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    except ValueError as exc:  # the event refused the actor or the reason
        raise typer.BadParameter(str(exc)) from exc
    summary = {
        "customer_id": str(customer_id),
        "forgotten_ids": [str(c) for c in done.event.forgotten_ids],
        "event_id": str(done.event.event_id),
        "position": done.position,
        "keys_destroyed": done.keys_destroyed,
        "identities_removed": done.identities_removed,
        "answers_removed": done.answers_removed,
        "blobs_erased": list(done.event.erased_blobs),
    }
    typer.echo(json.dumps(summary, indent=2))
