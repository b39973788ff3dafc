"""The hub's deployables on one machine: their environment, start order, and readiness.

This is the composition root of the local deployment, so it may import every deployable's
migrations; the deployables themselves never import each other.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from hub.stack import Infra
from hub.stack.processes import ProcessStatus, process_status, start_process, stop_process
from plumbing.access import MIGRATIONS as ACCESS
from plumbing.db_roles import Runtime, grant_runtime_privileges
from plumbing.eventstore.postgres import MIGRATIONS as EVENT_STORE
from plumbing.migrations import apply_migrations
from projections.analytics.store import MIGRATIONS as ANALYTICS
from projections.customer_card.store import MIGRATIONS as CARD
from projections.pipeline.store import MIGRATIONS as PIPELINE
from services.api.sales_routes import MIGRATIONS as SALES
from services.api.settings import ApiSettings
from services.ingress.settings import IngressSettings
from services.timeline.store import MIGRATIONS as TIMELINE

#: name -> module run with ``python -m``; in start order (consumers before producers).
DEPLOYABLES: dict[str, str] = {
    "timeline": "services.timeline",
    "projections": "projections.customer_card",
    "pipeline": "projections.pipeline",
    "analytics": "projections.analytics",
    "relay": "services.relay",
    "media": "services.media",  # recordings and message files; skips providers without credentials
    "ingress": "services.ingress",
    "api": "services.api",
}


#: The database role each deployable connects as (what each may do: plumbing/db_roles.py); the ingress
#: touches no database and gets no DSN.
DATABASE_ROLES: dict[str, Runtime] = {
    "timeline": Runtime.WRITER,
    "projections": Runtime.PROJECTOR,
    "analytics": Runtime.PROJECTOR,
    "relay": Runtime.PROJECTOR,
    "pipeline": Runtime.AUTOMATION,  # a purchase closes deals: it appends
    "media": Runtime.AUTOMATION,  # records the files it fetched: it appends
    "api": Runtime.API,
}

#: Deployables without an HTTP API: each serves /metrics and /health on a port of its own (HUB_METRICS_PORT).
WORKERS: tuple[str, ...] = ("timeline", "projections", "pipeline", "analytics", "relay", "media")
#: ``hub up``: the workers' ports are 9460 (timeline) to 9465 (media), in WORKERS order.
LOCAL_METRICS_PORT = 9460


@dataclass(frozen=True)
class Ports:
    """Where the HTTP deployables listen; the defaults are the deployables' own (127.0.0.1).

    ``metrics``: the first worker's /metrics and /health port, the next workers' follow in WORKERS order;
    0 serves none (the deployables' own default, and what tests get).
    """

    ingress: int = IngressSettings.model_fields["ingress_port"].default
    api: int = ApiSettings.model_fields["api_port"].default
    metrics: int = 0
    ingress_host: str = IngressSettings.model_fields["ingress_host"].default
    api_host: str = ApiSettings.model_fields["api_host"].default

    def metrics_ports(self) -> dict[str, int]:
        """Each worker's HUB_METRICS_PORT; empty when ``metrics`` is 0."""
        return {name: self.metrics + n for n, name in enumerate(WORKERS)} if self.metrics else {}

    @property
    def ingress_url(self) -> str:
        """Where this machine reaches the ingress (a wildcard address is reached on loopback)."""
        return f"http://{reachable_host(self.ingress_host)}:{self.ingress}"

    @property
    def api_url(self) -> str:
        return f"http://{reachable_host(self.api_host)}:{self.api}"


def reachable_host(host: str) -> str:
    """The address to call a server listening on ``host`` at, from the same machine, as a URL host."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - recognising the wildcard, not binding to it
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class SecretsEnv(Protocol):
    """Webhook secrets as the ingress's variables: generated (LocalSecrets) or resolved (secret_sources)."""

    def env(self) -> dict[str, str]: ...


def service_env(
    infra: Infra, secrets: SecretsEnv, ports: Ports, blob_dir: Path, **extra: str
) -> dict[str, str]:
    """The environment every deployable gets; ``extra`` overrides (topics, group ids in tests).

    Its HUB_PG_DSN is the owner's: :func:`start_all` given ``dsns`` replaces it by each deployable's own."""
    return {
        "HUB_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "HUB_PG_DSN": infra.pg_dsn,
        "HUB_BLOB_DIR": str(blob_dir),
        "HUB_INGRESS_HOST": ports.ingress_host,
        "HUB_INGRESS_PORT": str(ports.ingress),
        "HUB_API_HOST": ports.api_host,
        "HUB_API_PORT": str(ports.api),
        "PYTHONUNBUFFERED": "1",
        **secrets.env(),
        **extra,
    }


def migrate_all(dsn: str) -> None:
    """Every schema the deployables use, so the API answers before the projection's first batch, then the
    runtime roles' privileges on them (``dsn`` is the owner's)."""
    # each projection ships the shared checkpoint folder: apply it once
    projections = dict.fromkeys((*CARD, *PIPELINE, *ANALYTICS))
    apply_migrations(dsn, EVENT_STORE, TIMELINE, *projections, ACCESS, SALES)
    grant_runtime_privileges(dsn)


def deployable_dsns(runtime_dsns: Mapping[Runtime, str]) -> dict[str, str]:
    """Each deployable's own HUB_PG_DSN: its runtime role's (see :data:`DATABASE_ROLES`)."""
    missing = sorted({role.role for role in DATABASE_ROLES.values()} - {r.role for r in runtime_dsns})
    if missing:
        raise ValueError(
            f"no DSN for the runtime role(s) {', '.join(missing)}: with HUB_PG_DSN given, give"
            " HUB_PG_WRITER_DSN, HUB_PG_PROJECTOR_DSN, HUB_PG_AUTOMATION_DSN and HUB_PG_API_DSN too"
        )
    return {name: runtime_dsns[role] for name, role in DATABASE_ROLES.items()}


def deployable_env(name: str, env: Mapping[str, str], dsns: Mapping[str, str] | None) -> dict[str, str]:
    """``env`` with ``name``'s own DSN as HUB_PG_DSN (none for the ingress); ``dsns`` None keeps ``env``'s."""
    if dsns is None:
        return dict(env)
    own = {key: value for key, value in env.items() if key != "HUB_PG_DSN"}
    return own | ({"HUB_PG_DSN": dsns[name]} if name in dsns else {})


def start_all(
    run_dir: Path,
    env: dict[str, str],
    names: tuple[str, ...] = tuple(DEPLOYABLES),
    metrics_ports: dict[str, int] | None = None,
    dsns: Mapping[str, str] | None = None,
) -> None:
    """Start ``names``; ``metrics_ports`` (see :meth:`Ports.metrics_ports`) gives workers their own port,
    ``dsns`` (see :func:`deployable_dsns`) each its own database role."""
    for name in names:
        port = (metrics_ports or {}).get(name)
        own = deployable_env(name, env, dsns)
        if port:
            own["HUB_METRICS_PORT"] = str(port)
        start_process(name, [sys.executable, "-m", DEPLOYABLES[name]], own, run_dir)


def stop_all(run_dir: Path, timeout: float = 15.0) -> list[str]:
    """Stop in reverse start order; returns the names that were running."""
    return [name for name in reversed(DEPLOYABLES) if stop_process(name, run_dir, timeout)]


def statuses(run_dir: Path) -> list[ProcessStatus]:
    return [process_status(name, run_dir) for name in DEPLOYABLES]


def wait_http_ok(url: str, timeout_s: float, run_dir: Path | None = None, name: str | None = None) -> None:
    """Poll ``url`` until it answers 200; fail early if the process behind it died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        if run_dir is not None and name is not None and not process_status(name, run_dir).running:
            raise RuntimeError(f"{name} exited; see {process_status(name, run_dir).log_path}")
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200 within {timeout_s:.0f} s")
