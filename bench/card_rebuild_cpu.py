"""CPU per 1,000 events of a projection rebuild (card, analytics or pipeline): this process plus its
database backend.

Wall-clock rates swing with whatever else the machine runs; CPU seconds of the two processes doing the
work do not, so before/after comparisons of a projection use this figure. Seeds ``--events`` stored
events (``bench.stored.seed``: the timeline writer's code, the bench's Zipf traffic) into a database
named ``--database`` unless it holds them already (the seed does not depend on the projection, so every
projection reuses one ``bench_card_<events>``), empties the ``--projection``'s tables, rebuilds them from
position 0 in ``--batch`` events per transaction and prints JSON. The database is kept for the next run
(``--drop`` drops it afterwards). Run:
``.venv/bin/python -m bench.card_rebuild_cpu --events 20000 --projection analytics``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from bench import stored
from hub import deployment
from hub.local_secrets import LocalSecrets
from hub.replay_projections import SPECS
from hub.stack import ensure_infra
from plumbing.eventstore.postgres import Conn
from plumbing.logging import configure_logging
from plumbing.projection import Projection, apply_next_batch
from plumbing.runtime import tune_collector
from projections.analytics import store as analytics
from projections.customer_card.store import CustomerCardProjection
from projections.pipeline import store as pipeline
from tests.support.traffic import TrafficPlan, stored_events

_CARD_TABLES = ("customer_cards", "card_search", "card_identities", "card_timeline")


@dataclass(frozen=True)
class _Bench:
    """A projection to rebuild: how to make it (given ``--cache-mb``) and the tables it owns."""

    make: Callable[[float | None], Projection]
    tables: list[str]


def _card(cache_mb: float | None) -> Projection:
    return CustomerCardProjection() if cache_mb is None else CustomerCardProjection(int(cache_mb * 2**20))


def _created(directory: Path, not_owned: frozenset[str] = frozenset()) -> list[str]:
    """The tables a projection's migrations create (its read model), less those it only reads."""
    found = {
        name
        for migration in directory.glob("*.sql")
        for name in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", migration.read_text())
    }
    return sorted(found - not_owned)


_ANALYTICS_TABLES = _created(Path(analytics.__file__).parent / "migrations")
#: not autoclose_*: the purchase rule's state, which the pipeline projection only reads
_PIPELINE_TABLES = _created(Path(pipeline.__file__).parent / "migrations", SPECS["pipeline"].not_owned)
PROJECTIONS: dict[str, _Bench] = {
    "card": _Bench(_card, list(_CARD_TABLES)),
    "analytics": _Bench(lambda _mb: analytics.AnalyticsProjection(), _ANALYTICS_TABLES),
    "pipeline": _Bench(lambda _mb: pipeline.PipelineProjection(), _PIPELINE_TABLES),
}
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process on this machine (the database backend)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _database(server_dsn: str, name: str, events: int, customers: int) -> str:
    dsn = server_dsn.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    deployment.migrate_all(dsn)
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    if row is None or row[0] == 0:
        plan = TrafficPlan(seed=12, customers=customers, deliveries=events, cover_all=True)
        asyncio.run(stored.seed(dsn, stored_events(plan, LocalSecrets.generate())))
    return dsn


def _empty_tables(dsn: str, bench: _Bench, projection: Projection) -> None:
    with psycopg.connect(dsn) as conn:
        names = sql.SQL(", ").join(map(sql.Identifier, bench.tables))
        conn.execute(sql.SQL("TRUNCATE {}").format(names))
        conn.execute("DELETE FROM projection_checkpoints WHERE name = %s", (projection.name,))


async def _rebuild(dsn: str, batch: int, projection: Projection) -> dict[str, float]:
    applied = 0
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=1) as pool:
        async with pool.connection() as conn:
            row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
        assert row is not None
        backend = int(row[0])
        cpu, db_cpu, started = time.process_time(), _cpu_of(backend), time.perf_counter()
        while done := await apply_next_batch(pool, projection, batch):
            applied += done
        seconds = time.perf_counter() - started
        cpu, db_cpu = time.process_time() - cpu, _cpu_of(backend) - db_cpu
    per_k = 1000 / max(applied, 1)
    return {
        "events": applied,
        "seconds": round(seconds, 2),
        "events_per_s": round(applied / seconds),
        "cpu_s_per_1k_events": round((cpu + db_cpu) * per_k, 3),
        "process_cpu_s_per_1k": round(cpu * per_k, 3),
        "database_cpu_s_per_1k": round(db_cpu * per_k, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projection", choices=sorted(PROJECTIONS), default="card")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=stored.BATCH)
    parser.add_argument("--cache-mb", type=float, help="card cache size (default: the projection's)")
    parser.add_argument("--database", help="default: bench_card_<events>")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    options = parser.parse_args()
    configure_logging("bench", "WARNING")
    server_dsn = ensure_infra().pg_dsn
    name = options.database or f"bench_card_{options.events}"
    dsn = _database(server_dsn, name, options.events, options.customers)
    try:
        bench = PROJECTIONS[options.projection]
        projection = bench.make(options.cache_mb)
        _empty_tables(dsn, bench, projection)
        tune_collector()  # as the projection's process does
        figures = asyncio.run(_rebuild(dsn, options.batch, projection))
        header = {"projection": options.projection, "database": name, "batch": options.batch}
        print(json.dumps({**header, **figures}, indent=2))
    finally:
        if options.drop:
            with psycopg.connect(server_dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
