"""The worker deployables as real processes serve /metrics and /health on HUB_METRICS_PORT: the card
projection, the relay (its lag behind the log is what other teams wait for) and media (idle here: no
provider credentials, yet it answers its probes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from hub import deployment, samples
from hub.stack import Infra
from plumbing.eventstore.postgres import Conn
from tests.support.api_app import seed_customer
from tests.support.deployables import RunningHub, free_port
from tests.support.metrics import Scrape, scrape

pytestmark = pytest.mark.integration


async def caught_up(client: httpx.AsyncClient, port: int, follower: str, deadline_s: float = 60.0) -> Scrape:
    """Scrape the worker on ``port`` until ``follower`` has applied something and is 0 positions behind."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    labels = {"projection": follower}
    while True:
        figures = await scrape(client, f"http://127.0.0.1:{port}/metrics")
        if (
            figures.value("hub_projection_events_applied_total", **labels) > 0
            and figures.value("hub_projection_lag_positions", **labels) == 0
        ):
            return figures
        if loop.time() > deadline:
            raise AssertionError(f"{follower} did not catch up: {figures.samples}")
        await asyncio.sleep(0.2)


async def test_projection_relay_and_media_processes_serve_lag_metrics_and_health(
    infra: Infra, database: str, tmp_path: Path
) -> None:
    hub = RunningHub(infra=infra, dsn=database, run_dir=tmp_path / "run")
    ports = {"projections": free_port(), "relay": free_port(), "media": free_port()}
    try:
        deployment.start_all(hub.run_dir, hub.env, tuple(ports), metrics_ports=ports, dsns=hub.dsns)
        for name, port in ports.items():
            deployment.wait_http_ok(f"http://127.0.0.1:{port}/health", 60, hub.run_dir, name)
        async with AsyncConnectionPool[Conn](database, min_size=1, max_size=2) as pool:
            await seed_customer(pool, samples.sample_person("metrics"), ["chat", "email"], "metrics")
        async with httpx.AsyncClient() as client:
            card = await caught_up(client, ports["projections"], "customer_card")
            relay = await caught_up(client, ports["relay"], f"kafka-relay:{hub.topics.timeline}")
            media = await scrape(client, f"http://127.0.0.1:{ports['media']}/metrics")
            healths = {
                name: (await client.get(f"http://127.0.0.1:{port}/health")).status_code
                for name, port in ports.items()
            }
    finally:
        hub.stop()

    head = card.value("hub_event_log_head_position")
    assert head > 0
    assert card.value("hub_projection_checkpoint_position", projection="customer_card") == head
    assert card.value("hub_projection_lag_seconds", projection="customer_card") == 0
    assert card.value("hub_projection_batch_duration_seconds_count", projection="customer_card") >= 1
    assert relay.value("hub_event_log_head_position") == head
    assert "hub_metrics_refresh_failures_total" in media.names()
    assert healths == {"projections": 200, "relay": 200, "media": 200}
