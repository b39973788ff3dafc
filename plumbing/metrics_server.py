"""A worker's side door: ``GET /metrics`` (Prometheus text) and ``GET /health`` on a port of its own.

Workers (projections, relay, media, the timeline writer) have no HTTP API, yet Prometheus must scrape them
and Kubernetes must probe them. The server runs inside the worker's event loop, so an answer from
``/health`` proves the loop is alive, and its status says whether every part of the worker heard from its
store or broker within ``HUB_HEALTH_STALE_S`` (200) or not (503). ``HUB_METRICS_PORT=0``, the default,
serves nothing: tests and several workers on one machine never collide on a port unless told to.

What ``/metrics`` shows is computed where it is cheap (counters as work happens) or, for figures that
need a query (lags, depths), by *refreshers* run at scrape time, bounded in time: a slow or unreachable
store makes those figures stale (and counts ``hub_metrics_refresh_failures_total``), never the scrape fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import structlog
import uvicorn
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import choose_encoder
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = structlog.get_logger()

Refresher = Callable[[], Awaitable[None]]
"""Sets gauges that need a query (lag, depth) just before a scrape renders them."""
Check = Callable[[], Awaitable[bool]]
"""An active health check (e.g. a broker ping): False, or no answer in time, is unhealthy."""


class MetricsSettings(BaseSettings):
    """``HUB_METRICS_*``: where a worker serves /metrics and /health; one class for every worker."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", hide_input_in_errors=True)

    metrics_host: str = Field(default="127.0.0.1", description="0.0.0.0 in a container")
    metrics_port: int = Field(default=0, ge=0, le=65535, description="0: no metrics server")
    health_stale_s: float = Field(
        default=60.0,
        gt=0,
        description="a part that has not heard from its store or broker for longer is unhealthy (503);"
        " keep it above the longest batch",
    )
    metrics_refresh_timeout_s: float = Field(default=5.0, gt=0, description="per refresher, per scrape")


class Heartbeats:
    """When each part of a worker (a follower, a consumer) last heard from its store or broker."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: dict[str, float] = {}

    def register(self, name: str) -> None:
        """Start watching ``name``; it has the whole stale window to answer for the first time."""
        self._last.setdefault(name, self._clock())

    def beat(self, name: str) -> None:
        self._last[name] = self._clock()

    def ages(self) -> dict[str, float]:
        """Seconds since each part last heard from its store or broker."""
        now = self._clock()
        return {name: round(now - last, 3) for name, last in sorted(self._last.items())}

    def silent(self, limit_s: float) -> dict[str, float]:
        """The parts silent for longer than ``limit_s``, with their ages."""
        return {name: age for name, age in self.ages().items() if age > limit_s}


class WorkerMetrics:
    """One worker's registry (never the process-wide default: two workers in one test process stay
    apart), its heartbeats, and what runs at scrape and probe time."""

    def __init__(
        self, settings: MetricsSettings | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings or MetricsSettings()
        self.registry = CollectorRegistry(auto_describe=True)
        self.heartbeats = Heartbeats(clock)
        self.refreshers: list[Refresher] = []
        self.checks: list[Check] = []
        self._refresh_failures = Counter(
            "hub_metrics_refresh_failures",
            "Scrape-time refreshes (lag, depth queries) that failed or timed out; their figures are stale.",
            registry=self.registry,
        )

    async def refresh(self) -> None:
        """Run every refresher within its time bound; a failure is logged and counted, not raised."""
        for refresher in self.refreshers:
            try:
                async with asyncio.timeout(self.settings.metrics_refresh_timeout_s):
                    await refresher()
            except Exception as exc:  # any failure only makes these figures stale
                self._refresh_failures.inc()
                log.warning("metrics_refresh_failed", error=type(exc).__name__, detail=str(exc)[:200])

    async def failed_checks(self) -> list[int]:
        """Indexes of the active checks that failed or did not answer in time."""
        failed = []
        for index, check in enumerate(self.checks):
            try:
                async with asyncio.timeout(self.settings.metrics_refresh_timeout_s):
                    ok = await check()
            except Exception as exc:  # an exception is an unhealthy answer
                log.warning("health_check_failed", check=index, error=type(exc).__name__)
                ok = False
            if not ok:
                failed.append(index)
        return failed


def metrics_app(metrics: WorkerMetrics) -> Starlette:
    """``/metrics`` and ``/health``; nothing else (no customer data lives here)."""

    async def scrape(request: Request) -> Response:
        await metrics.refresh()
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(metrics.registry), headers={"Content-Type": content_type})

    async def health(request: Request) -> JSONResponse:
        silent = metrics.heartbeats.silent(metrics.settings.health_stale_s)
        failed = await metrics.failed_checks()
        body: dict[str, Any] = {"status": "ok", "heard_from_s": metrics.heartbeats.ages()}
        if silent or failed:
            body |= {"status": "unavailable", "silent": silent, "failed_checks": failed}
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    return Starlette(routes=[Route("/metrics", scrape), Route("/health", health)])


class _EmbeddedServer(uvicorn.Server):
    """Uvicorn inside the worker's loop: signals stay the worker's, which stops us on its way out."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listening_socket(host: str, port: int) -> socket.socket:
    """Bound here, so a taken port fails the start with a clear error instead of inside uvicorn."""
    sock = socket.create_server((host, port), reuse_port=False)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def metrics_served(metrics: WorkerMetrics) -> AsyncIterator[int | None]:
    """Serve :func:`metrics_app` while the block runs; yields the port, None when the port setting is 0."""
    settings = metrics.settings
    if settings.metrics_port == 0:
        yield None
        return
    sock = _listening_socket(settings.metrics_host, settings.metrics_port)
    config = uvicorn.Config(metrics_app(metrics), lifespan="off", access_log=False, log_config=None)
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    log.info("metrics_serving", host=settings.metrics_host, port=settings.metrics_port)
    try:
        yield settings.metrics_port
    finally:
        server.should_exit = True
        await task
        sock.close()
