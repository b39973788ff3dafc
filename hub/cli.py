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
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError

from hub import audit, channels, customer, deployment, dlq, evidence, identity_simulate, keys, replay
from hub.importing import cli as importing
from hub.local_secrets import SECRET_VARIABLES, id_key, master_key
from hub.secret_sources import (
    ConfigFileError,
    HubFile,
    ResolvedSecrets,
    SecretSource,
    configured_sources,
    local_secrets,
    read_config_file,
    setting,
)
from hub.stack import StackSettings, ensure_infra, infra_status, stop_infra
from plumbing.logging import configure_logging

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
app.add_typer(importing.app, name="import")
app.add_typer(channels.app, name="channels")


@app.callback()
def _local_keys(ctx: typer.Context) -> None:
    _logs_to_stderr(ctx)
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


def _logs_to_stderr(ctx: typer.Context) -> None:
    """Every command's log lines go to stderr, so stdout is the command's output alone (``--json`` pipes
    into jq). Unconfigured, structlog prints to stdout. ``hub run`` leaves it to the deployable, and a
    test runner that swapped the process's streams (typer's CliRunner) is left alone too: the handlers
    would keep its temporary stream after it is closed."""
    if ctx.invoked_subcommand != "run" and sys.stderr is sys.__stderr__:
        configure_logging("hub", os.environ.get("HUB_LOG_LEVEL", "INFO"))


class Deployable(StrEnum):
    ingress = "ingress"
    timeline = "timeline"
    projections = "projections"
    pipeline = "pipeline"
    analytics = "analytics"
    relay = "relay"
    media = "media"
    api = "api"


def _config_file() -> HubFile:
    """``hub.toml`` (or ``HUB_CONFIG_FILE``); a bad one stops the command with what is wrong in it."""
    try:
        return read_config_file()
    except ConfigFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from exc


def _ports(file: HubFile) -> deployment.Ports:
    """Where the deployables listen: HUB_INGRESS_HOST/PORT and HUB_API_HOST/PORT, else ``hub.toml``'s, else
    the deployables' defaults (127.0.0.1:8081 and :8080)."""
    defaults = deployment.Ports()
    chosen = {name: setting(name, file) for name in ("ingress_host", "ingress_port", "api_host", "api_port")}
    try:
        return deployment.Ports(
            ingress=int(chosen["ingress_port"] or defaults.ingress),
            api=int(chosen["api_port"] or defaults.api),
            ingress_host=chosen["ingress_host"] or defaults.ingress_host,
            api_host=chosen["api_host"] or defaults.api_host,
        )
    except ValueError as exc:
        typer.echo(f"HUB_INGRESS_PORT / HUB_API_PORT: not a port number ({exc})", err=True)
        raise typer.Exit(code=2) from exc


STARTED_WITH = "started-with.json"
"""In the run dir: the addresses and each webhook secret's source (never a secret) ``hub up`` started the
deployables with, for ``hub status``."""


def _record_start(
    run_dir: Path, ports: deployment.Ports, public_url: str | None, secrets: ResolvedSecrets
) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "api_url": ports.api_url,
        "ingress_url": ports.ingress_url,
        "public_base_url": public_url,
        "secrets": {name: str(source) for name, source in secrets.sources().items()},
    }
    (run_dir / STARTED_WITH).write_text(json.dumps(record, indent=2) + "\n")


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
    """Start Kafka, PostgreSQL and every deployable in the background (idempotent). Webhook secrets: the
    HUB_*_SECRETS variables, else hub.toml, else generated ones (.state/webhook-secrets.json)."""
    settings = _stack(brokers)
    file = _config_file()
    ports = replace(_ports(file), metrics=metrics_port)
    infra = ensure_infra(settings)
    try:  # each deployable connects as its own runtime role, never as the owner
        dsns = deployment.deployable_dsns(infra.runtime_dsns)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from exc
    (settings.paths.root / BROKERS_FILE).write_text(f"{settings.kafka_brokers}\n")
    secrets = local_secrets(settings.paths.root, file)  # the person's own first, generated ones for the rest
    public_url = setting("public_base_url", file)
    deployment.migrate_all(infra.pg_dsn)
    run_dir = _run_dir(settings)
    extra = {"HUB_PUBLIC_BASE_URL": public_url} if public_url else {}
    env = deployment.service_env(infra, secrets, ports, settings.paths.blobs, **extra)
    ingress_was_running = _ingress_running(run_dir)
    if ingress_was_running:
        _warn_if_started_with_other_secrets(run_dir, secrets)
    deployment.start_all(run_dir, env, metrics_ports=ports.metrics_ports(), dsns=dsns)
    if not ingress_was_running:
        _record_start(run_dir, ports, public_url, secrets)
    deployment.wait_http_ok(f"{ports.ingress_url}/health", 90, run_dir, "ingress")
    deployment.wait_http_ok(f"{ports.api_url}/health", 90, run_dir, "api")
    if demo:
        from hub.demo import demo_key, run_demo

        key_file = demo_key(settings.paths.root, infra.pg_dsn)
        try:  # signed with each channel's current secret: the person's own where configured
            card = run_demo(
                ports.ingress_url, ports.api_url, secrets.for_signing(), key_file.read_text().strip()
            )
        except httpx.HTTPStatusError as exc:
            answer = exc.response
            typer.echo(
                f"the demo's delivery to {exc.request.url.path} got {answer.status_code}: {answer.text}",
                err=True,
            )
            raise typer.Exit(code=1) from exc
        typer.echo(json.dumps(card, indent=2))
        typer.echo(f"the card was read with the demo's admin API key, kept in {key_file} (mode 0600):")
        url = f"{ports.api_url}/v1/customers/{card['customer_id']}"
        typer.echo(f'  curl -H "Authorization: Bearer $(cat {key_file})" {url}')
        typer.echo("  more keys and roles: hub keys create --principal NAME --role ROLE   (see README)")
    typer.echo(f"read API: {ports.api_url} (OpenAPI: /openapi.json, with a key)")
    typer.echo(f"webhooks: {ports.ingress_url}")
    sources = secrets.sources().items()
    own = [
        f"{SECRET_VARIABLES[name]} ({source})" for name, source in sources if source != SecretSource.GENERATED
    ]
    typer.echo(f"your own webhook secrets: {', '.join(own) or 'none'}; the other channels: generated")
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
    """What runs, with pids; the API and webhook URLs; where each webhook secret came from (never the
    secret): environment, hub.toml or generated."""
    settings = _stack()
    for component in infra_status(settings):
        typer.echo(f"{component.name:<12} {component.state:<8} pid={component.pid}  {component.address}")
    processes = deployment.statuses(_run_dir(settings))
    for proc in processes:
        typer.echo(
            f"{proc.name:<12} {'running' if proc.running else 'stopped':<8} pid={proc.pid}"
            f"  log={proc.log_path}"
        )
    _print_addresses_and_sources(_run_dir(settings))


def _print_addresses_and_sources(run_dir: Path) -> None:
    """The running hub's URLs and secret sources as ``hub up`` recorded them, else what it would use now;
    a source the configuration has changed since is pointed out (a running ingress keeps its secrets)."""
    file = _config_file()
    now = configured_sources(file)
    record = _started_with(run_dir)
    if _ingress_running(run_dir) and record is not None:
        api_url, ingress_url, public_url = record["api_url"], record["ingress_url"], record["public_base_url"]
        sources = {name: SecretSource(source) for name, source in record["secrets"].items()}
        typer.echo("addresses and secret sources the running hub was started with:")
    else:
        ports, public_url = _ports(file), setting("public_base_url", file)
        api_url, ingress_url, sources = ports.api_url, ports.ingress_url, now
        typer.echo("addresses and secret sources `hub up` uses with this configuration:")
    typer.echo(f"read API:    {api_url}")
    typer.echo(f"webhooks:    {ingress_url}" + (f"  (providers call {public_url})" if public_url else ""))
    typer.echo("webhook secrets (`hub channels`: each channel's URL and provider settings):")
    for name, source in sources.items():
        later = now.get(name, source)
        change = f"  (configured now: {later}; `hub down`, `hub up` to apply)" if later != source else ""
        typer.echo(f"  {SECRET_VARIABLES[name]:<24} {source}{change}")


def _started_with(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / STARTED_WITH
    try:
        record: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record


def _ingress_running(run_dir: Path) -> bool:
    return any(proc.running for proc in deployment.statuses(run_dir) if proc.name == "ingress")


def _warn_if_started_with_other_secrets(run_dir: Path, secrets: ResolvedSecrets) -> None:
    """``hub up`` keeps what already runs: a running ingress keeps the secrets it started with."""
    record = _started_with(run_dir)
    if record is None:
        return
    changed = sorted(
        SECRET_VARIABLES[name]
        for name, source in secrets.sources().items()
        if record["secrets"].get(name) != str(source)
    )
    if changed:
        typer.echo(
            f"the running ingress keeps the secrets it started with; changed since: {', '.join(changed)}"
            " (`hub down` then `hub up` to apply)",
            err=True,
        )


@app.command()
def demo() -> None:
    """The main job: start everything (what already runs is kept), send a sample conversation and show that
    person's card; run it again for another. `hub down` stops everything."""
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
