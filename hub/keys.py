"""``hub keys``: create, list, revoke and rotate API keys straight in PostgreSQL.

Works against ``HUB_PG_DSN`` or the local stack's PostgreSQL (started if needed), so the first admin
key can be made before any key exists; later, the admin endpoints do the same over HTTP.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, TypeVar

import psycopg
import typer

from plumbing.access import MIGRATIONS as ACCESS_MIGRATIONS
from plumbing.access import api_keys
from plumbing.access.api_keys import IssuedKey
from plumbing.access.control import utc_now
from plumbing.access.durations import parse_duration
from plumbing.access.policy import Permission, PolicyError, load_policy
from plumbing.access.principal import PrincipalKind
from plumbing.access.provisioning import ProvisioningError, check_roles, provision_key
from plumbing.eventstore.postgres import Conn
from plumbing.migrations import apply_migrations

app = typer.Typer(help="API keys of the read API: shown once, stored hashed.", no_args_is_help=True)
T = TypeVar("T")


def _with_conn(work: Callable[[Conn], Awaitable[T]]) -> T:
    from hub.stack import ensure_postgres

    dsn = ensure_postgres()
    apply_migrations(dsn, ACCESS_MIGRATIONS)

    async def run() -> T:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            return await work(conn)  # committed when the block ends without an error

    return asyncio.run(run())


def _operator() -> str:
    return f"cli:{getpass.getuser()}"


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _print_issued(issued: IssuedKey) -> None:
    typer.echo(f"key id:     {issued.key_id}")
    typer.echo(f"principal:  {issued.principal_id}")
    typer.echo(f"expires at: {issued.expires_at.isoformat()}")
    typer.echo(f"key:        {issued.key}")
    typer.echo("The key is shown this once and stored only as a hash: keep it now.", err=True)


@app.command()
def create(
    principal: Annotated[str, typer.Option(help="principal id, e.g. alice or svc-billing")],
    role: Annotated[
        list[str] | None, typer.Option(help="role to assign (repeat); omit to keep the current")
    ] = None,
    kind: Annotated[PrincipalKind, typer.Option(help="staff or service")] = PrincipalKind.STAFF,
    team: Annotated[str | None, typer.Option(help="team, for own_and_team row scopes")] = None,
    channel: Annotated[
        list[str] | None, typer.Option(help="channel of a channel-scoped role (repeat)")
    ] = None,
    expires_in: Annotated[str, typer.Option(help="lifetime: 90d, 24h, 30m")] = "90d",
    scope: Annotated[
        list[Permission] | None, typer.Option(help="narrow the key to a permission (repeat)")
    ] = None,
) -> None:
    """Create (or update) a principal with ROLEs and print a new key for it, once."""
    lifetime = _duration(expires_in)
    try:
        policy = load_policy()
        check_roles(policy, role or [], channel or [])  # before PostgreSQL is started or touched
        issued = _with_conn(
            lambda conn: provision_key(
                conn,
                policy,
                principal,
                roles=role or [],
                kind=kind,
                team=team,
                channels=channel or [],
                lifetime=lifetime,
                scopes=frozenset(scope) if scope else None,
                by=_operator(),
            )
        )
    except (PolicyError, ProvisioningError, psycopg.errors.CheckViolation) as exc:
        raise typer.BadParameter(str(exc)) from exc
    _print_issued(issued)


@app.command("list")
def list_keys(
    principal: Annotated[str | None, typer.Option(help="only this principal's keys")] = None,
) -> None:
    """Every key (never a secret), newest first."""
    keys = _with_conn(lambda conn: api_keys.list_keys(conn, principal))
    now = utc_now()
    typer.echo(f"{'KEY ID':<17} {'PRINCIPAL':<24} {'ROLES':<32} {'STATUS':<8} EXPIRES")
    for key in keys:
        typer.echo(
            f"{key.key_id:<17} {key.principal_id:<24} {','.join(key.roles):<32} {key.status(now):<8}"
            f" {key.expires_at.isoformat(timespec='seconds')}"
        )


@app.command()
def revoke(key_id: str) -> None:
    """Revoke KEY_ID at once."""
    if not _with_conn(lambda conn: api_keys.revoke_key(conn, key_id, by=_operator(), now=utc_now())):
        typer.echo(f"no key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@app.command()
def rotate(
    key_id: str, overlap: str = typer.Option("24h", help="how long the old key keeps working")
) -> None:
    """Print a new key for KEY_ID's principal; the old key expires after OVERLAP."""
    window = _duration(overlap)
    issued = _with_conn(
        lambda conn: api_keys.rotate_key(conn, key_id, overlap=window, by=_operator(), now=utc_now())
    )
    if issued is None:
        typer.echo(f"no usable key {key_id} (unknown, revoked or expired)", err=True)
        raise typer.Exit(1)
    _print_issued(issued)
    typer.echo(f"{key_id} stops working by {utc_now() + window:%Y-%m-%d %H:%M:%S} UTC", err=True)
