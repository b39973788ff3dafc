"""Request counts and latencies of the read API, served at ``GET /metrics`` (Prometheus text format).

Labels are the route *template* (``/v1/customers/{customer_id}``, never the id asked for), the method and
the status, so the series are bounded and carry no customer data; a request no route matched counts as
``unmatched``. One registry per app, as in the ingress, so two apps in one process never share counts.

``/metrics`` is public like ``/health`` (a :class:`~plumbing.access.fastapi.GuardedRoute` with a
``public(...)`` rule, listed in the access tests): Prometheus scrapes pods without credentials, and what
it reads (counts and latencies per route) is no more than the ingress already serves. A deployment that
wants it private keeps the port off the public ingress path or filters ``/metrics`` at its proxy.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plumbing.access.fastapi import guarded_router, public

UNMATCHED = "unmatched"
#: From a cached card read (a few ms) to the bounded read-your-writes wait and document uploads.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """``hub_api_requests_total`` and ``hub_api_request_duration_seconds`` by method, route and status."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["method", "route", "status"]
        self._requests = Counter(
            "hub_api_requests",
            "Requests answered, by method, route template and status.",
            labels,
            registry=self.registry,
        )
        self._latency = Histogram(
            "hub_api_request_duration_seconds",
            "Time to the end of the answer, by method, route template and status.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self._requests.labels(method, route, str(status)).inc()
        self._latency.labels(method, route, str(status)).observe(seconds)


class RequestMetricsMiddleware:
    """Pure ASGI (no body buffering): times every HTTP request up to its last byte."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before starting a response

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None)  # the router put the matched route here
            self.metrics.observe(scope["method"], route or UNMATCHED, status, time.perf_counter() - started)


def instrument(app: FastAPI) -> ApiMetrics:
    """Time every request of ``app`` and serve the figures at ``GET /metrics``."""
    metrics = ApiMetrics()
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    router = guarded_router(tags=["health"])

    @router.get(
        "/metrics",
        response_class=PlainTextResponse,
        openapi_extra=public("Prometheus scrape: request counts and latencies per route template; no data"),
    )
    async def scrape(request: Request) -> Response:
        """Prometheus text format (OpenMetrics when the scraper asks for it)."""
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(metrics.registry), headers={"Content-Type": content_type})

    app.include_router(router)
    return metrics
