"""The timeline writer alone, draining a Kafka backlog: events/s and the writer's CPU per 1,000 events.

N deliveries' contract events (:func:`tests.support.traffic.stored_events`: Zipf customers, merges proved
by a shared email or phone, Shopify purchases with their order references) are published onto a fresh
interactions topic with the hub's own producer settings, keyed as the ingress keys them. Then the writer
is started as its own process (``python -m services.timeline``) against a scratch database, and the drain
is timed from the moment it has joined its consumer group until the group has committed every record
(offsets are committed only after the append, so that is when the backlog is in the store).

CPU seconds of the writer process (and of its PostgreSQL backends) per 1,000 stored events are read from
``/proc``: unlike events/s they hold on a busy machine, so they compare versions of the writer.

``python -m bench`` reports it as ``writer_backlog_events_per_s`` (``--skip writer`` leaves it out). Run
alone: ``python -m bench.writer_backlog --deliveries 20000`` (default 200,000) on the shared local
stack's broker and cluster (a scratch database and fresh topics, removed afterwards), ``--private`` on a
stack of its own, ``--profile out.svg`` (or ``.txt`` for py-spy's raw format) to profile the drain.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
from aiokafka.admin import AIOKafkaAdminClient

from bench.private_stack import private_stack
from bench.profile import Profile, summarise
from bench.report import Figures
from bench.rss import own_peak_rss_mb
from bench.scratch_database import scratch_database
from hub import deployment
from hub.local_secrets import LocalSecrets
from hub.stack import Infra, ensure_infra
from hub.stack.processes import process_status
from plumbing.kafka import bootstrap_servers, ensure_topics
from plumbing.kafka_metrics import KafkaOffsets
from plumbing.settings import Topics
from plumbing.topics import hub_topics
from tests.support.deployables import RunningHub, free_port
from tests.support.traffic import TrafficPlan, publish_events, stored_events

DEFAULT_DELIVERIES = 200_000
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Drain:
    """What one drain measured; ``*_cpu_s_per_1k`` are per 1,000 events stored during the timed span."""

    deliveries: int
    customers: int
    stored_events: int
    interactions: int
    seconds: float
    events_per_s: float
    deliveries_per_s: float
    writer_cpu_s_per_1k: float
    writer_system_share: float  # of its CPU, in the kernel (sockets, log writes)
    postgres_cpu_s_per_1k: float
    writer_peak_rss_mb: float | None
    dead_letters: int
    heaviest_customer: dict[str, int]  # person identities the writer reads, beside its orders and events


def _cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid`` (0 once it is gone: a closed backend stops counting)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0, 0.0
    return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS


def _cpu_seconds(pid: int) -> float:
    return sum(_cpu_times(pid))




class _Store:
    """The scratch database as the bench watches it: counts, and the CPU of the backends serving it."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.seen: dict[int, float] = {}  # backend pid -> its CPU seconds when first seen

    def counts(self) -> tuple[int, int]:
        """(stored events, stored interactions)."""
        row = self.conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE event_type LIKE 'interaction.%%') FROM events"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def heaviest_customer(self) -> dict[str, int]:
        """What the writer reads about the customer with the most order references (per event, only its
        person identities), beside what it does not read (its references) and its stream's length."""
        row = self.conn.execute(
            "WITH heaviest AS (SELECT customer_id, count(*) AS refs FROM transaction_references"
            "  GROUP BY customer_id ORDER BY refs DESC LIMIT 1)"
            " SELECT h.refs, (SELECT count(*) FROM identity_index i WHERE i.customer_id = h.customer_id),"
            "  (SELECT version + 1 FROM streams WHERE stream_id = 'customer-' || h.customer_id)"
            " FROM heaviest h"
        ).fetchone()
        refs, identities, events = row if row else (0, 0, 0)
        return {"identities": int(identities), "order_references": int(refs), "stream_events": int(events)}

    def backends(self) -> list[int]:
        """Backends of this database other than ours: the writer's connections."""
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        return [int(pid) for (pid,) in rows]

    def backend_cpu(self) -> float:
        """CPU seconds the writer's backends used since first seen by :meth:`watch`."""
        self.watch()
        return sum(_cpu_seconds(pid) - first for pid, first in self.seen.items())

    def watch(self) -> None:
        for pid in self.backends():
            self.seen.setdefault(pid, _cpu_seconds(pid))

    def close(self) -> None:
        self.conn.close()


async def publish(infra: Infra, topics: Topics, deliveries: int, customers: int) -> int:
    """Create the topics and publish the deliveries' events; returns how many were published."""
    specs = hub_topics(topics)
    await ensure_topics(infra.kafka_bootstrap, [specs["interactions"], specs["dead_letter"]])
    plan = TrafficPlan(seed=19, customers=customers, deliveries=deliveries)
    events = stored_events(plan, LocalSecrets.generate())
    published = 0
    while chunk := list(itertools.islice(events, 20_000)):  # bounded memory: made and sent in chunks
        await publish_events(infra.kafka_bootstrap, topics.interactions, chunk)
        published += len(chunk)
    return published


async def _lag(offsets: KafkaOffsets, group: str, topic: str) -> int:
    return sum((await offsets.group_lag(group, topic)).values())


async def _wait_drained(offsets: KafkaOffsets, group: str, topics: Topics, deadline: float) -> int:
    """Poll until the group has committed every record; returns the dead-letter depth."""
    while await _lag(offsets, group, topics.interactions) > 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the writer did not drain {topics.interactions} in time")
        await asyncio.sleep(0.25)
    return await offsets.records(topics.dead_letter)


@contextmanager
def _profiled(pid: int, out: Path | None) -> Iterator[None]:
    """py-spy record of ``pid`` while the block runs (SIGINT makes py-spy write its output)."""
    if out is None:
        yield
        return
    spy = str(Path(sys.executable).with_name("py-spy"))
    fmt = "raw" if out.suffix == ".txt" else "flamegraph"
    argv = [spy, "record", "--nonblocking", "--rate", "100", "--format", fmt, "-o", str(out)]
    argv += ["--pid", str(pid)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


async def _drain(hub: RunningHub, store: _Store, profile: Path | None, timeout_s: float) -> dict[str, Any]:
    """Start the writer, time it from its first stored event until the group has committed everything."""
    offsets = KafkaOffsets(hub.infra.kafka_bootstrap)
    await offsets.start()
    try:
        hub.start("timeline")
        pid = process_status("timeline", hub.run_dir).pid
        assert pid is not None, "the writer did not start"
        deadline = time.monotonic() + timeout_s
        while not await _joined(hub):  # start-up (imports, migrations check, group join) is not timed
            if not process_status("timeline", hub.run_dir).running or time.monotonic() > deadline:
                raise RuntimeError(f"the writer did not join its group; see {hub.run_dir / 'timeline.log'}")
            await asyncio.sleep(0.05)
        started, (user0, system0) = time.monotonic(), _cpu_times(pid)
        store.watch()
        events0, interactions0 = store.counts()
        with _profiled(pid, profile):
            dead = await _wait_drained(offsets, hub.group, hub.topics, deadline)
        user, system = _cpu_times(pid)
        seconds, cpu, system = time.monotonic() - started, user + system - user0 - system0, system - system0
        backend_cpu = store.backend_cpu()
        rss = own_peak_rss_mb(pid)
    finally:
        await offsets.close()
        hub.stop()
    events, interactions = store.counts()
    timed = events - events0
    heaviest = store.heaviest_customer()
    return {
        "stored_events": events,
        "interactions": interactions,
        "seconds": round(seconds, 2),
        "events_per_s": round(timed / seconds, 1),
        "deliveries_per_s": round((interactions - interactions0) / seconds, 1),
        "writer_cpu_s_per_1k": round(1000 * cpu / timed, 3),
        "writer_system_share": round(system / cpu, 2),
        "postgres_cpu_s_per_1k": round(1000 * backend_cpu / timed, 3),
        "writer_peak_rss_mb": rss or 0.0,
        "dead_letters": dead,
        "heaviest_customer": heaviest,
    }


async def _joined(hub: RunningHub) -> bool:
    """Whether the writer is a member of its consumer group, the group stable (partitions assigned)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(hub.infra.kafka_bootstrap))
    await admin.start()
    try:
        (description,) = await admin.describe_consumer_groups([hub.group])
        (group,) = description.to_object()["groups"]
        return group["state"] == "Stable" and len(group["members"]) > 0
    finally:
        await admin.close()


async def _delete_topics(bootstrap: str, topics: Topics) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(bootstrap))
    await admin.start()
    try:
        await admin.delete_topics([topics.interactions, topics.dead_letter])
    finally:
        await admin.close()


def measure(
    infra: Infra,
    deliveries: int,
    customers: int | None = None,
    *,
    work: Path | None = None,
    profile: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Drain:
    """Publish ``deliveries`` to fresh topics, then time the writer draining them into a scratch database.

    Fails (instead of reporting a rate) when the store does not hold exactly one interaction per delivery.
    """
    customers = customers or max(100, min(deliveries // 4, 99_000))
    tag = uuid.uuid4().hex[:8]
    topics = Topics(
        interactions=f"bench.{tag}.interactions",
        dead_letter=f"bench.{tag}.dlq",
        timeline=f"bench.{tag}.timeline",
    )
    folder = work or Path(tempfile.mkdtemp(prefix="writer-backlog-"))  # kept when the run fails: logs
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        dsn = stack.enter_context(scratch_database(infra.pg_dsn))
        try:
            published = asyncio.run(publish(infra, topics, deliveries, customers))
            settings = dict(extra_env or {})
            if "HUB_LOG_LEVEL" in settings:  # RunningHub sets the level from HUB_TEST_LOG_LEVEL
                os.environ["HUB_TEST_LOG_LEVEL"] = settings.pop("HUB_LOG_LEVEL")
            hub = RunningHub(
                infra,
                dsn,
                folder / f"writer-{tag}",
                topics=topics,
                ports=deployment.Ports(free_port(), free_port()),
                group=f"bench-writer-{tag}",
                extra_env=settings,
            )
            store = _Store(dsn)
            try:
                figures = asyncio.run(_drain(hub, store, profile, timeout_s=120 + deliveries / 50))
            finally:
                store.close()
        finally:
            asyncio.run(_delete_topics(infra.kafka_bootstrap, topics))
    if work is None:
        shutil.rmtree(folder, ignore_errors=True)
    if figures["interactions"] != published:
        raise AssertionError(
            f"{published} deliveries published, {figures['interactions']} interactions stored"
        )
    return Drain(deliveries=published, customers=customers, **figures)


def _options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.writer_backlog", description=__doc__)
    parser.add_argument("--deliveries", type=int, default=DEFAULT_DELIVERIES)
    parser.add_argument("--customers", type=int, help="people in the traffic (default deliveries / 4)")
    parser.add_argument("--private", action="store_true", help="a Kafka and PostgreSQL of its own")
    parser.add_argument("--profile", type=Path, help="py-spy output: .svg flamegraph or .txt raw stacks")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="writer setting (HUB_BATCH_SIZE=2000)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Drain:
    options = _options(argv)
    extra = dict(item.split("=", 1) for item in options.env)
    with ExitStack() as stack:
        infra = stack.enter_context(private_stack("hub-writer-")).infra if options.private else ensure_infra()
        drain = measure(
            infra, options.deliveries, options.customers, profile=options.profile, extra_env=extra
        )
    print(json.dumps(asdict(drain), indent=2))
    return drain


if __name__ == "__main__":
    main()


def phase(
    figures: Figures, profiles: list[Profile], infra: Infra, work: Path, *, quick: bool, profile: bool
) -> Drain:
    """The figure of ``python -m bench``: 200,000 deliveries (2,000 quick), against the run's own stack."""
    out = work / "profile-timeline-writer.txt" if profile else None
    drain = measure(infra, 2_000 if quick else DEFAULT_DELIVERIES, work=work / "writer-backlog", profile=out)
    figures.rate("writer_backlog_events_per_s", drain.events_per_s, "postgres_copy")
    figures.note("writer_backlog", asdict(drain))
    if out is not None and out.exists():
        profiles.append(summarise("timeline-writer (backlog drain)", out.read_text(), 8))
    return drain
