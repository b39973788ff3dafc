"""A worker's /metrics and /health (plumbing/metrics_server.py), in-process: a refresher that fails makes
its figures stale, never the scrape; a failed check or a silent part makes /health 503."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import Gauge

from plumbing.metrics_server import MetricsSettings, WorkerMetrics, metrics_app
from tests.support.metrics import Scrape

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _client(worker: WorkerMetrics) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=metrics_app(worker)), base_url="http://w")


async def test_a_failing_refresher_is_counted_and_the_other_figures_are_still_served() -> None:
    worker = WorkerMetrics(MetricsSettings())
    depth = Gauge("test_depth", "set by a refresher", registry=worker.registry)

    async def refreshes() -> None:
        depth.set(7)

    async def breaks() -> None:
        raise ConnectionError("store down")

    worker.refreshers += [breaks, refreshes]
    async with _client(worker) as client:
        answer = await client.get("/metrics")

    figures = Scrape.parse(answer.text)
    assert answer.status_code == 200
    assert figures.value("test_depth") == 7
    assert figures.value("hub_metrics_refresh_failures_total") == 1


async def test_health_is_503_for_a_failed_check_or_a_part_silent_too_long_and_names_them() -> None:
    clock = Clock()
    worker = WorkerMetrics(MetricsSettings(health_stale_s=10), clock=clock)
    worker.heartbeats.register("cards")
    worker.heartbeats.register("relay")
    answers = {"ping": True}

    async def ping() -> bool:
        return answers["ping"]

    worker.checks.append(ping)
    async with _client(worker) as client:
        healthy = await client.get("/health")
        clock.now += 11
        worker.heartbeats.beat("relay")
        silent = await client.get("/health")
        worker.heartbeats.beat("cards")
        answers["ping"] = False
        unpinged = await client.get("/health")

    assert healthy.status_code == 200
    assert (silent.status_code, silent.json()["silent"]) == (503, {"cards": 11.0})
    assert (unpinged.status_code, unpinged.json()["failed_checks"]) == (503, [0])
    assert unpinged.json()["silent"] == {}
