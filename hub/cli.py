"""``hub``: run any deployable, and start, stop or inspect the local stack."""

from __future__ import annotations

import importlib
import json
import os
from enum import StrEnum
from pathlib import Path

import typer

from hub import audit, deployment, evidence, keys
from hub.local_secrets import load_or_create
from hub.stack import StackSettings, ensure_infra, infra_status, stop_infra

app = typer.Typer(
    help="Interaction Hub: event-sourced multichannel customer-interaction hub.", no_args_is_help=True
)
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(evidence.app, name="evidence")


class Deployable(StrEnum):
    ingress = "ingress"
    timeline = "timeline"
    projections = "projections"
    pipeline = "pipeline"
    relay = "relay"
    recordings = "recordings"
    api = "api"


def _ports() -> deployment.Ports:
    """The ports the deployables will read from HUB_INGRESS_PORT / HUB_API_PORT, or their defaults."""
    defaults = deployment.Ports()
    return deployment.Ports(
        ingress=int(os.environ.get("HUB_INGRESS_PORT", defaults.ingress)),
        api=int(os.environ.get("HUB_API_PORT", defaults.api)),
    )


def _run_dir(settings: StackSettings) -> Path:
    return settings.paths.run


@app.command()
def run(deployable: Deployable) -> None:
    """Run one deployable in the foreground (configured by HUB_* variables)."""
    importlib.import_module(f"{deployment.DEPLOYABLES[deployable.value]}.__main__").main()


@app.command()
def up(demo: bool = typer.Option(False, help="send the sample conversation and print the card")) -> None:
    """Start Kafka, PostgreSQL and every deployable in the background (idempotent)."""
    settings = StackSettings()
    infra = ensure_infra(settings)
    secrets = load_or_create(settings.paths.root)
    ports = _ports()
    deployment.migrate_all(infra.pg_dsn)
    run_dir = _run_dir(settings)
    deployment.start_all(run_dir, deployment.service_env(infra, secrets, ports, settings.paths.blobs))
    deployment.wait_http_ok(f"{ports.ingress_url}/health", 90, run_dir, "ingress")
    deployment.wait_http_ok(f"{ports.api_url}/health", 90, run_dir, "api")
    if demo:
        from hub.demo import demo_key, run_demo

        key_file = demo_key(settings.paths.root, infra.pg_dsn)
        card = run_demo(ports.ingress_url, ports.api_url, secrets, key_file.read_text().strip())
        typer.echo(json.dumps(card, indent=2))
        typer.echo(f"the card was read with the demo's admin API key, kept in {key_file} (mode 0600):")
        url = f"{ports.api_url}/v1/customers/{card['customer_id']}"
        typer.echo(f'  curl -H "Authorization: Bearer $(cat {key_file})" {url}')
        typer.echo("  more keys and roles: hub keys create --principal NAME --role ROLE   (see README)")
    typer.echo(f"read API: {ports.api_url} (OpenAPI: /openapi.json, with a key)")
    typer.echo(f"webhooks: {ports.ingress_url}")
    typer.echo(f"logs: {run_dir}   stop with: hub down")


@app.command()
def down() -> None:
    """Stop every deployable, then Kafka and PostgreSQL; data stays in the state dir."""
    settings = StackSettings()
    stopped = deployment.stop_all(_run_dir(settings))
    stop_infra(settings)
    typer.echo(f"stopped: {', '.join(stopped) or 'no deployables'}, kafka, postgres")


@app.command()
def status() -> None:
    """What runs, with pids and addresses."""
    settings = StackSettings()
    for component in infra_status(settings):
        typer.echo(f"{component.name:<12} {component.state:<8} pid={component.pid}  {component.address}")
    for proc in deployment.statuses(_run_dir(settings)):
        typer.echo(
            f"{proc.name:<12} {'running' if proc.running else 'stopped':<8} pid={proc.pid}"
            f"  log={proc.log_path}"
        )


@app.command()
def demo() -> None:
    """The main job: start everything and show one person's card; run again to stop everything."""
    settings = StackSettings()
    if any(proc.running for proc in deployment.statuses(_run_dir(settings))):
        down()
        return
    up(demo=True)


@app.command()
def migrate() -> None:
    """Apply every schema migration to HUB_PG_DSN (or the local PostgreSQL)."""
    deployment.migrate_all(ensure_infra().pg_dsn)
    typer.echo("migrations applied")
