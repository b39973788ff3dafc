"""``hub``: run any deployable, and start, stop or inspect the local stack."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from hub import audit, customer, deployment, dlq, evidence, identity_simulate, keys, replay
from hub.local_secrets import id_key, load_or_create, master_key
from hub.stack import StackSettings, ensure_infra, infra_status, stop_infra

app = typer.Typer(
    help="Interaction Hub: event-sourced multichannel customer-interaction hub.", no_args_is_help=True
)
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(evidence.app, name="evidence")
app.add_typer(replay.app, name="replay")
app.add_typer(dlq.app, name="dlq")
app.add_typer(identity_simulate.app, name="identity")
app.add_typer(customer.app, name="customer")


@app.callback()
def _local_keys() -> None:
    # Against the local stack (no HUB_PG_DSN given), use its master key from the state dir; a configured
    # deployment brings its own HUB_MASTER_KEY (a fresh one would make its sealed data unreadable).
    # The same goes for HUB_ID_KEY: ids derived under another key would not deduplicate against the store's.
    if "HUB_PG_DSN" in os.environ:
        return
    root = StackSettings().paths.root
    if "HUB_MASTER_KEY" not in os.environ:
        os.environ["HUB_MASTER_KEY"] = master_key(root)
    if "HUB_ID_KEY" not in os.environ:
        os.environ["HUB_ID_KEY"] = id_key(root)


class Deployable(StrEnum):
    ingress = "ingress"
    timeline = "timeline"
    projections = "projections"
    pipeline = "pipeline"
    analytics = "analytics"
    relay = "relay"
    media = "media"
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


BROKERS_FILE = "kafka-brokers"


def _stack(brokers: int | None = None) -> StackSettings:
    """The local stack's settings with ``brokers`` Kafka brokers (``hub up --brokers``); without it, what the
    last ``hub up --brokers`` chose (remembered in the state dir, so ``hub down`` and ``hub status`` find a
    cluster), unless HUB_KAFKA_BROKERS says otherwise."""
    settings = StackSettings()
    remembered = settings.paths.root / BROKERS_FILE
    if brokers is None and "HUB_KAFKA_BROKERS" not in os.environ and remembered.is_file():
        brokers = int(remembered.read_text().strip() or 1)
    if brokers is None:
        return settings
    try:
        return StackSettings(kafka_brokers=brokers)
    except ValidationError as exc:
        reasons = "; ".join(error["msg"] for error in exc.errors())
        raise typer.BadParameter(reasons, param_hint="--brokers") from exc


@app.command()
def run(deployable: Deployable) -> None:
    """Run one deployable in the foreground (configured by HUB_* variables)."""
    importlib.import_module(f"{deployment.DEPLOYABLES[deployable.value]}.__main__").main()


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="send the sample conversation and print the card")] = False,
    brokers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=5,
            help="Kafka brokers: 1, or 3 to 5 for a KRaft cluster with replication 3 and"
            " min.insync.replicas 2 (default: HUB_KAFKA_BROKERS, else what the last `hub up` used, else 1)",
        ),
    ] = None,
    metrics_port: Annotated[
        int,
        typer.Option(
            min=0,
            max=65535,
            help="the first worker's /metrics and /health port; the other workers' follow; 0: none",
        ),
    ] = deployment.LOCAL_METRICS_PORT,
) -> None:
    """Start Kafka, PostgreSQL and every deployable in the background (idempotent)."""
    settings = _stack(brokers)
    infra = ensure_infra(settings)
    try:  # each deployable connects as its own runtime role, never as the owner
        dsns = deployment.deployable_dsns(infra.runtime_dsns)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from exc
    (settings.paths.root / BROKERS_FILE).write_text(f"{settings.kafka_brokers}\n")
    secrets = load_or_create(settings.paths.root)
    ports = replace(_ports(), metrics=metrics_port)
    deployment.migrate_all(infra.pg_dsn)
    run_dir = _run_dir(settings)
    env = deployment.service_env(infra, secrets, ports, settings.paths.blobs)
    deployment.start_all(run_dir, env, metrics_ports=ports.metrics_ports(), dsns=dsns)
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
    typer.echo(f"kafka: {infra.kafka_bootstrap} ({settings.kafka_brokers} broker(s))")
    for name, port in ports.metrics_ports().items():
        typer.echo(f"{name + ':':<13}http://127.0.0.1:{port}/metrics  /health")
    typer.echo(f"logs: {run_dir}   stop with: hub down")


@app.command()
def down() -> None:
    """Stop every deployable, then Kafka and PostgreSQL; data stays in the state dir."""
    settings = _stack()
    stopped = deployment.stop_all(_run_dir(settings))
    stop_infra(settings)
    typer.echo(f"stopped: {', '.join(stopped) or 'no deployables'}, kafka, postgres")


@app.command()
def status() -> None:
    """What runs, with pids and addresses."""
    settings = _stack()
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


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(ctx: typer.Context) -> None:
    """Every benchmark figure on a private Kafka + PostgreSQL; options: ``python -m bench --help``."""
    from hub.stack.paths import repo_root

    argv = [sys.executable, "-m", "bench", *ctx.args]
    raise typer.Exit(subprocess.call(argv, cwd=repo_root()))  # noqa: S603 - our own module


@app.command()
def migrate() -> None:
    """Apply every schema migration to HUB_PG_DSN (the owner's, or the local PostgreSQL), then the runtime
    roles' privileges (plumbing/db_roles.py)."""
    deployment.migrate_all(ensure_infra().pg_dsn)
    typer.echo("migrations applied")
