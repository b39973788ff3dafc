"""Several ingress processes on one port (``HUB_INGRESS_WORKERS``: uvicorn workers sharing the listening
socket): every delivery is acknowledged and stored once, also when a worker is killed under load and
replaced."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub import deployment
from hub.stack import Infra
from hub.stack.processes import child_pids, process_status, start_process
from tests.scale.instances import create_hub_topics, send_all, start_instance, stop_instances, wait_until
from tests.support.deployables import RunningHub
from tests.support.store import interaction_counts, streams_are_contiguous
from tests.support.traffic import PUBLIC_BASE, SignedDelivery, TrafficPlan, generate

pytestmark = [pytest.mark.scale, pytest.mark.timeout(400)]

WORKERS = 2


@pytest.fixture
def hub(infra: Infra, database: str, tmp_path: Path) -> Iterator[RunningHub]:
    running = RunningHub(infra=infra, dsn=database, run_dir=tmp_path)
    yield running
    stop_instances(running, ["ingress-workers", "timeline"])


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # exited meanwhile
        return b""


def _workers(hub: RunningHub) -> list[int]:
    """The worker processes uvicorn's parent spawned (not its resource tracker)."""
    parent = process_status("ingress-workers", hub.run_dir).pid
    assert parent is not None, "the ingress parent is not running"
    return [pid for pid in child_pids(parent) if b"spawn_main" in _cmdline(pid)]


def _start_workers(hub: RunningHub) -> None:
    """The ingress as deployed, asked for several workers (``HUB_INGRESS_WORKERS``)."""
    argv = [sys.executable, "-m", deployment.DEPLOYABLES["ingress"]]
    env = {**hub.env_for("ingress"), "HUB_PUBLIC_BASE_URL": PUBLIC_BASE, "HUB_INGRESS_WORKERS": str(WORKERS)}
    start_process("ingress-workers", argv, env, hub.run_dir)
    deployment.wait_http_ok(f"{hub.ports.ingress_url}/health", 60, hub.run_dir, "ingress-workers")


async def _deliver_until_acknowledged(url: str, deliveries: list[SignedDelivery]) -> None:
    """As providers do: a failed connection or a 5xx is retried until the delivery gets its 2xx."""
    pending = deliveries
    deadline = time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        answers = await send_all(url, pending, concurrency=8)
        assert all(status is None or status == 200 or status >= 500 for _, status in answers), answers
        pending = [delivery for delivery, status in answers if status != 200]
    assert not pending, f"{len(pending)} deliveries never acknowledged"


async def test_two_ingress_workers_share_a_port_and_a_killed_one_loses_nothing_acknowledged(
    hub: RunningHub,
) -> None:
    await create_hub_topics(hub)
    start_instance(hub, "timeline", "timeline")
    _start_workers(hub)

    async def all_workers_up() -> bool:
        return len(_workers(hub)) == WORKERS

    await wait_until(all_workers_up, 60, f"{WORKERS} uvicorn workers")
    traffic = list(generate(TrafficPlan(seed=23, customers=50, deliveries=300), hub.secrets).deliveries)
    sending = asyncio.create_task(_deliver_until_acknowledged(hub.ports.ingress_url, traffic))

    async def some_accepted() -> bool:
        return interaction_counts(hub.dsn)[0] >= 30

    await wait_until(some_accepted, 60, "the first deliveries to be stored")
    victim = _workers(hub)[0]
    os.kill(victim, signal.SIGKILL)
    await sending

    async def replaced() -> bool:
        workers = _workers(hub)
        return len(workers) == WORKERS and victim not in workers

    await wait_until(replaced, 60, "uvicorn to replace the killed worker")
    expected = {event_id for delivery in traffic for event_id in delivery.event_ids}

    async def all_stored() -> bool:
        return interaction_counts(hub.dsn)[0] >= len(expected)

    await wait_until(all_stored, 120, "every acknowledged event in the store")
    assert interaction_counts(hub.dsn) == (len(expected), len(expected))
    assert streams_are_contiguous(hub.dsn)
