"""Figures of the running hub: ingest at saturation, ack latency at fixed rates, end to end, projection lag.

Webhooks are fresh signed deliveries of every provider (:mod:`bench.deliveries`), sent by the open-loop
generator (:mod:`bench.load`); the no-op ceiling of the same run gets the same requests.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import httpx
import psycopg
from aiokafka import AIOKafkaProducer

from bench.deliveries import DeliverySource
from bench.load import Outcome, drive
from contracts import InteractionEvent, event_id_for
from hub import samples
from hub.local_secrets import LocalSecrets
from plumbing.kafka import SAFE_PRODUCER
from services.ingress.verify import sign_hex
from tests.support.deployables import RunningHub
from tests.support.traffic import TrafficPlan, stored_events


def count(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


STORED = "SELECT count(*) FROM events WHERE event_type LIKE 'interaction.%'"
PROJECTED = "SELECT count(*) FROM card_timeline"


def wait_projected(dsn: str, target: int, timeout_s: float) -> float:
    """Poll until the card timeline holds ``target`` rows; returns when (monotonic)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if count(dsn, PROJECTED) >= target:
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError(f"the card projection did not reach {target} rows in {timeout_s:.0f} s")


def settle(dsn: str, timeout_s: float) -> int:
    """Wait until everything stored is projected and nothing new arrives; returns the row count."""
    deadline = time.monotonic() + timeout_s
    last = -1
    while time.monotonic() < deadline:
        stored, projected = count(dsn, STORED), count(dsn, PROJECTED)
        if stored == projected == last:
            return projected
        last = projected if stored == projected else -1
        time.sleep(1.0)
    raise TimeoutError("the hub did not settle")


#: Most connections of a paced run: a due request waits for a free one, and the wait counts as latency.
PACED_CONNECTIONS = 256


def warm_up(hub: RunningHub, source: DeliverySource) -> None:
    """A second of light traffic first: imports, Kafka metadata and connections are not the figure."""
    drive(hub.ports.ingress_url, source.take(100), rate=100, seconds=1, connections=8)


def ingest(
    hub: RunningHub, source: DeliverySource, seconds: float, connections: int, budget: float
) -> Outcome:
    """Unpaced against the ingress for ``seconds``: webhooks/s answered 2xx (Kafka has them). ``budget``:
    deliveries/s prepared (more than the hub can take; a run that used them all says ``ran_out``)."""
    requests = source.take(int(budget * seconds) + 1)
    return drive(
        hub.ports.ingress_url, requests, rate=0, seconds=seconds, connections=connections, count_accepted=True
    )


def ack_latency(hub: RunningHub, source: DeliverySource, rate: float, seconds: float) -> Outcome:
    """Open loop at ``rate`` webhooks/s: the latency a provider sees, from each scheduled send."""
    requests = source.take(int(rate * seconds) + 1)
    return drive(hub.ports.ingress_url, requests, rate=rate, seconds=seconds, connections=PACED_CONNECTIONS)


def end_to_end(
    hub: RunningHub, source: DeliverySource, seconds: float, connections: int, budget: float
) -> tuple[float, float, Outcome]:
    """(events/s, deliveries/s, what the generator saw) from the first webhook sent, at saturation for
    ``seconds``, to the last of their events on a card."""
    before = settle(hub.dsn, 600)
    requests = source.take(int(budget * seconds) + 1)  # made before the clock starts
    started = time.monotonic()
    outcome = drive(
        hub.ports.ingress_url, requests, rate=0, seconds=seconds, connections=connections, count_accepted=True
    )
    done = wait_projected(hub.dsn, before + outcome.accepted, 900)
    return outcome.accepted / (done - started), outcome.ok / (done - started), outcome


async def _probe(client: httpx.AsyncClient, hub: RunningHub, n: int, lags: dict[UUID, float]) -> None:
    """Send one new person's chat message, then poll the lookup API until their card answers."""
    person = samples.sample_person(f"lag-probe-{n}")
    message_id = f"lag-probe-{n}"
    body = samples.chat_message(person, message_id, "probe")
    headers = {"X-Hub-Signature-256": sign_hex(body, hub.secrets.widget), "Content-Type": "application/json"}
    answer = await client.post(hub.ports.ingress_url + "/webhooks/chat/widget", content=body, headers=headers)
    if not answer.is_success:
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = await client.get(
            f"{hub.ports.api_url}/v1/customers", params={"email": person.email}, headers=hub.api_headers
        )
        if found.status_code == 200 and found.json()["items"]:
            lags[event_id_for("widget", message_id)] = time.time()
            return
        await asyncio.sleep(0.01)


async def _paced_publish(bootstrap: str, topic: str, events: Sequence[InteractionEvent], rate: float) -> int:
    """Open loop onto the interactions topic at ``rate`` events/s, keyed as the ingress keys them.

    The lag figure is about the write path behind Kafka (append, projection, read API) at a steady
    rate, so the load is what the ingress publishes, without the ingress's own ceiling in the way.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **SAFE_PRODUCER)
    await producer.start()
    try:
        started = time.perf_counter()
        acks = []
        for n, event in enumerate(events):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body, key = event.model_dump_json().encode(), event.sender.identities[0].key.encode()
            acks.append(await producer.send(topic, body, key=key))
        await asyncio.gather(*acks)
        return len(acks)
    finally:
        await producer.stop()


async def _lag_run(
    hub: RunningHub, load: Sequence[InteractionEvent], rate: float, seconds: float
) -> dict[UUID, float]:
    lags: dict[UUID, float] = {}
    bootstrap, topic = hub.infra.kafka_bootstrap, hub.topics.interactions
    async with httpx.AsyncClient(timeout=30) as client:
        background = asyncio.ensure_future(_paced_publish(bootstrap, topic, load, rate))
        probes = []
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < seconds:
            probes.append(asyncio.ensure_future(_probe(client, hub, n, lags)))
            n += 1
            await asyncio.sleep(0.2)
        await asyncio.gather(background, *probes)
    return lags


def lag_load(rate: float, seconds: float) -> list[InteractionEvent]:
    """Contract events of people the webhook traffic never uses (persons 60,000 and up), Zipf as ever."""
    plan = TrafficPlan(seed=21, customers=20_000, deliveries=int(rate * seconds), first_person=60_000)
    return list(stored_events(plan, LocalSecrets.generate()))  # the secrets only sign templates


def projection_lag(
    hub: RunningHub, load: Sequence[InteractionEvent], rate: float, seconds: float
) -> dict[str, float]:
    """Appended (the store's ``recorded_at``) → visible through the read API, while ``load`` is
    published at a steady ``rate``; probes are webhooks of new people, 5 a second."""
    before = settle(hub.dsn, 600)
    seen = asyncio.run(_lag_run(hub, load, rate, seconds))
    with psycopg.connect(hub.dsn) as conn:
        rows = conn.execute(
            "SELECT event_id, recorded_at FROM events WHERE event_id = ANY(%s)", (list(seen),)
        ).fetchall()
    appended: dict[UUID, datetime] = {row[0]: row[1] for row in rows}
    lags = sorted(max(0.0, seen[i] - at.timestamp()) * 1000 for i, at in appended.items())
    caught_up = time.monotonic()
    settle(hub.dsn, 600)
    figures = {
        "rate": rate,
        "events": len(load),
        "samples": len(lags),
        "catch_up_s": round(time.monotonic() - caught_up, 1),
        "projected_before": before,
    }
    if len(lags) < 2:
        return {**figures, "p50_ms": float("nan"), "p99_ms": float("nan")}
    cuts = statistics.quantiles(lags, n=100, method="inclusive")
    return {**figures, "p50_ms": cuts[49], "p99_ms": cuts[98]}
