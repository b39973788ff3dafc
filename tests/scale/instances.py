"""Several instances of one deployable, as processes named apart (``timeline-a``, ``timeline-b``…)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpx
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped, unused-ignore]

from hub import deployment
from hub.stack.processes import start_process, stop_process
from plumbing.kafka import bootstrap_servers, ensure_topics
from plumbing.topics import hub_topics
from tests.support.deployables import RunningHub
from tests.support.traffic import SignedDelivery


def start_instance(hub: RunningHub, name: str, deployable: str, **extra: str) -> int:
    """Start one more process of ``deployable`` under ``name``; ``extra`` overrides the hub's env."""
    argv = [sys.executable, "-m", deployment.DEPLOYABLES[deployable]]
    return start_process(name, argv, {**hub.env_for(deployable), **extra}, hub.run_dir)


def stop_instances(hub: RunningHub, names: Iterable[str]) -> None:
    for name in names:
        stop_process(name, hub.run_dir, timeout=10)


async def create_hub_topics(hub: RunningHub) -> None:
    """The hub's topics as production creates them (plumbing.topics), before any deployable starts."""
    await ensure_topics(hub.infra.kafka_bootstrap, hub_topics(hub.topics).values())


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


async def send_all(
    url: str, deliveries: Sequence[SignedDelivery], concurrency: int = 4
) -> list[tuple[SignedDelivery, int | None]]:
    """POST every delivery as its provider would; the status, or None when the connection failed."""
    gate = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, delivery: SignedDelivery) -> tuple[SignedDelivery, int | None]:
        async with gate:
            try:
                answer = await client.post(
                    url + delivery.path, content=delivery.body, headers=delivery.headers
                )
            except httpx.TransportError:
                return delivery, None
            return delivery, answer.status_code

    async with httpx.AsyncClient(timeout=60) as client:
        return list(await asyncio.gather(*(one(client, delivery) for delivery in deliveries)))


async def stable_members(bootstrap: str, group: str) -> int:
    """How many members the consumer group has once it is stable, 0 while it rebalances: a member counted
    mid-rebalance may hold no partitions yet, while the other one still holds them all."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(bootstrap))
    await admin.start()
    try:
        (description,) = await admin.describe_consumer_groups([group])
        (described,) = description.to_object()["groups"]
        return len(described["members"]) if described["state"] == "Stable" else 0
    finally:
        await admin.close()
