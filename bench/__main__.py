"""``python -m bench``: every figure of the hub in one run, against a private Kafka and PostgreSQL.

Prints a table and writes JSON (``--json``). Ceilings are measured in the same run, so each ratio holds
on a busy machine. ``--quick`` is the smoke size (seconds, not minutes); the defaults are the full run.
Nothing of the shared local stack is touched: the run starts its own broker and cluster on free ports.

HTTP load comes from one open-loop generator (``bench/loadgen``, built with Go on first use), which sends
the same signed deliveries to a no-op app (the ``http_noop`` ceiling) and to the hub. Every run checks
the generator's headroom: unless it drove the no-op app to 3x the hub's ingest rate, the ingest figure is
marked generator-bound (``notes.generator_headroom``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import ceilings, cpu_split, live, stored, writer_backlog
from bench.deliveries import PUBLIC_BASE, DeliverySource
from bench.load import Outcome, generator, headroom
from bench.private_stack import PrivateStack, free_port, private_stack
from bench.profile import Profile, Sampler
from bench.report import LATENCY_RATES, Figures, table
from bench.rss import own_peak_rss_mb
from bench.scratch_database import scratch_database
from contracts import InteractionEvent
from hub import deployment
from hub.local_secrets import LocalSecrets
from hub.stack.paths import repo_root
from hub.stack.processes import child_pids, process_status
from plumbing.logging import configure_logging
from tests.support.deployables import RunningHub
from tests.support.traffic import TrafficPlan, stored_events

#: The live phases run the whole hub, as a business would: every deployable shares the machine.
LIVE = tuple(deployment.DEPLOYABLES)
#: Connections of the read API figures (its connection pool serves a few dozen at most).
READ_CONNECTIONS = 16
RESULTS = repo_root() / ".state" / "bench-results.json"


def _options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke sizes: a few seconds per figure")
    parser.add_argument("--seconds", type=float, help="duration of each load phase (default 20, quick 3)")
    parser.add_argument("--e2e-seconds", type=float, help="end-to-end duration (default 60, quick 4)")
    parser.add_argument("--rebuild-events", type=int, help="stored events to rebuild (default 1,000,000)")
    parser.add_argument("--customers", type=int, help="customers in the store (default 100,000)")
    parser.add_argument(
        "--skip",
        choices=("live", "writer", "stored"),
        action="append",
        default=[],
        help="leave out a phase: live (ingest, e2e, lag), writer (backlog drain) or stored (seed, rebuilds,"
        " reads)",
    )
    parser.add_argument("--lag-rate", type=float, help="steady events/s of the lag phase (default 1,000)")
    parser.add_argument(
        "--connections",
        "--concurrency",
        type=int,
        default=64,
        help="connections of the unpaced (saturation) HTTP runs (default %(default)s)",
    )
    parser.add_argument(
        "--ingress-workers",
        type=int,
        default=2,
        help="ingress processes on the one port (default %(default)s)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the ingress and the card rebuild")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write JSON (%(default)s)")
    options = parser.parse_args(argv)
    quick = options.quick
    options.seconds = options.seconds or (3.0 if quick else 20.0)
    options.e2e_seconds = options.e2e_seconds or (4.0 if quick else 60.0)
    options.rebuild_events = options.rebuild_events or (2_000 if quick else 1_000_000)
    options.customers = options.customers or (1_000 if quick else 100_000)
    options.lag_rate = options.lag_rate or (100.0 if quick else 1_000.0)
    return options


def _policy_without_rate_limits(folder: Path) -> Path:
    """The shipped access policy with every rate limit lifted: the bench measures the API, not its limiter."""
    text = (repo_root() / "deploy" / "access-policy.toml").read_text()
    path = folder / "access-policy.toml"
    path.write_text(re.sub(r'rate_limit = "[^"]*"', 'rate_limit = "100000000/minute"', text))
    return path


def _peak_rss_mb(pid: int | None) -> float | None:
    """Peak RSS of ``pid``, or of its largest child (uvicorn's workers under their small parent)."""
    if pid is None:
        return None
    found = [rss for each in (pid, *child_pids(pid)) if (rss := own_peak_rss_mb(each)) is not None]
    return max(found, default=None)


def _memory(hub: RunningHub, stack: PrivateStack) -> dict[str, float | None]:
    memory = {name: _peak_rss_mb(process_status(name, hub.run_dir).pid) for name in LIVE}
    memory["kafka"] = _peak_rss_mb(stack.kafka.status().pid)
    memory["postgres (postmaster)"] = _peak_rss_mb(stack.postgres.pid())
    return memory


@dataclass
class Run:
    """One benchmark run: its options, private stack, scratch folder, and what it has measured so far."""

    options: argparse.Namespace
    stack: PrivateStack
    work: Path
    secrets: LocalSecrets = field(default_factory=LocalSecrets.generate)
    figures: Figures = field(default_factory=Figures)
    profiles: list[Profile] = field(default_factory=list)
    noop: Outcome | None = None
    noop_latency: dict[int, Outcome] = field(default_factory=dict)

    def hub(self, dsn: str, name: str) -> RunningHub:
        ports = deployment.Ports(free_port(), free_port())
        env = {"HUB_PUBLIC_BASE_URL": PUBLIC_BASE, "HUB_INGRESS_WORKERS": str(self.options.ingress_workers)}
        return RunningHub(
            self.stack.infra, dsn, self.work / name, secrets=self.secrets, ports=ports, extra_env=env
        )

    def deliveries(self, seed: int) -> DeliverySource:
        return DeliverySource(self.secrets, customers=min(self.options.customers, 20_000), seed=seed)

    def sampler(self, name: str, pid: int | None, seconds: float) -> Sampler | None:
        return Sampler(name, pid, seconds, self.work) if self.options.profile and pid else None

    def keep(self, sampler: Sampler | None) -> None:
        if sampler is not None and (found := sampler.result()) is not None:
            self.profiles.append(found)

    def ceilings(self, sample: list[InteractionEvent]) -> None:
        """The same payloads by the raw client, the same rows by COPY, the same requests to an app that
        does nothing (at saturation and at each latency figure's rate)."""
        bodies = [event.model_dump_json().encode() for event in sample]
        self.figures.note("payload_bytes_mean", round(sum(map(len, bodies)) / len(bodies)))
        bootstrap, server = self.stack.infra.kafka_bootstrap, self.stack.infra.pg_dsn
        self.figures.ceiling("kafka_produce", asyncio.run(ceilings.kafka_produce(bootstrap, bodies)))
        with scratch_database(server) as scratch:
            self.figures.ceiling("postgres_copy", ceilings.postgres_copy(scratch, sample))
        options = self.options
        requests = self.deliveries(seed=99).take(5_000)
        with ceilings.noop_server(self.work, options.ingress_workers) as url:  # as many processes
            self.noop = ceilings.http_noop(url, requests, options.seconds, options.connections)
            for rate in LATENCY_RATES:
                seconds = min(options.seconds, 5.0)
                self.noop_latency[rate] = ceilings.noop_latency(
                    url, requests, rate, seconds, live.PACED_CONNECTIONS
                )
        self.figures.ceiling("http_noop", self.noop.rate)
        self.figures.note("http_noop_generator_cpu_s", round(self.noop.generator_cpu_s, 2))

    def cpu_parts(self, hub: RunningHub) -> dict[str, int | None]:
        """The processes whose CPU a split reads: each deployable, the broker, the database cluster."""
        return cpu_split.parts_of(
            [(name, process_status(name, hub.run_dir).pid) for name in LIVE],
            self.stack.kafka.status().pid,
            self.stack.postgres.pid(),
        )

    def live(self) -> None:
        """Ingest, ack latency, end to end and lag, against every deployable of the write and read path."""
        options, figures = self.options, self.figures
        source = self.deliveries(seed=11)
        budget = min(self.noop.rate if self.noop else 3_000.0, 3_000.0)  # prepared deliveries/s
        with scratch_database(self.stack.infra.pg_dsn, self.stack.infra.pg_superuser_dsn) as dsn:
            hub = self.hub(dsn, "live")
            hub.start(*LIVE)
            try:
                live.warm_up(hub, source)
                for rate in LATENCY_RATES:
                    outcome = live.ack_latency(hub, source, rate, options.seconds)
                    figures.latency(
                        f"ack_latency_at_{rate}_per_s", outcome, rate, self.noop_latency.get(rate)
                    )
                sampler = self.sampler("ingress", process_status("ingress", hub.run_dir).pid, options.seconds)
                saturation = live.ingest(hub, source, options.seconds, options.connections, budget)
                self.keep(sampler)
                figures.rate("ingest_webhooks_per_s", saturation.rate, "http_noop", saturation)
                figures.note("ingest_by_provider_per_s", saturation.label_rates())
                figures.note(
                    "ingest_p50_p99_ms_at_saturation",
                    [saturation.quantile_ms(0.5), saturation.quantile_ms(0.99)],
                )
                if self.noop is not None:
                    figures.note("generator_headroom", headroom(self.noop, saturation.rate))
                half = live.ack_latency(hub, source, saturation.rate / 2, options.seconds)
                figures.latency("ack_latency_at_half_saturation", half, saturation.rate / 2)
                e2e_budget = max(500.0, 1.5 * saturation.rate)
                parts = self.cpu_parts(hub)
                before = cpu_split.snapshot(parts)
                e2e_events, e2e_deliveries, e2e = live.end_to_end(
                    hub, source, options.e2e_seconds, options.connections, e2e_budget
                )
                figures.note(
                    "end_to_end_cpu_ms_per_delivery",
                    cpu_split.per_delivery(before, cpu_split.snapshot(parts), e2e.ok),
                )
                figures.rate("end_to_end_events_per_s", e2e_events, "postgres_copy", e2e)
                figures.rate("end_to_end_deliveries_per_s", e2e_deliveries, "http_noop", e2e)
                figures.note("end_to_end_seconds", options.e2e_seconds)
                lag_load = live.lag_load(options.lag_rate, options.seconds)
                figures.lag(live.projection_lag(hub, lag_load, options.lag_rate, options.seconds))
                figures.memory.update(_memory(hub, self.stack))
            finally:
                hub.stop()

    def stored(self) -> None:
        """Seed a big history, rebuild both projections from it, then read it through the API."""
        options, figures = self.options, self.figures
        with scratch_database(self.stack.infra.pg_dsn, self.stack.infra.pg_superuser_dsn) as dsn:
            plan = TrafficPlan(
                seed=12, customers=options.customers, deliveries=options.rebuild_events, cover_all=True
            )
            count, rate = asyncio.run(stored.seed(dsn, stored_events(plan, self.secrets)))
            figures.note("stored_events", count)
            figures.rate("seed_store_events_per_s", rate, "postgres_copy")
            figures.ceiling("global_log_read", asyncio.run(stored.read_log(dsn)))
            sampler = self.sampler("card-rebuild", os.getpid(), 3 if options.quick else 30)
            _, card_rate = stored.card_rebuild(dsn)
            self.keep(sampler)
            figures.rate("rebuild_card_events_per_s", card_rate, "global_log_read")
            _, pipeline_rate = stored.pipeline_rebuild(dsn)
            figures.rate("rebuild_pipeline_events_per_s", pipeline_rate, "global_log_read")
            reader = self.hub(dsn, "read")
            reader.start("api")
            try:
                figures.note("customers", options.customers)
                for route, outcome in stored.read_api(reader, options.seconds, READ_CONNECTIONS).items():
                    name = f"read_{route}_requests_per_s"
                    figures.rate(name, outcome.rate, "http_noop", outcome, p99=True)
                figures.memory["api (read bench)"] = _peak_rss_mb(process_status("api", reader.run_dir).pid)
            finally:
                reader.stop()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    options = _options(argv)
    configure_logging("bench", "WARNING")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    os.environ["HUB_ACCESS_POLICY_FILE"] = str(_policy_without_rate_limits(work))
    os.environ.setdefault("HUB_TEST_LOG_LEVEL", "INFO")
    generator()  # built before anything is timed (once; the Go build cache is under .state)
    with private_stack("hub-bench-") as stack:
        run = Run(options, stack, work)
        try:
            plan = TrafficPlan(seed=11, customers=min(options.customers, 20_000), deliveries=3_000)
            run.ceilings(list(stored_events(plan, run.secrets)))
            if "live" not in options.skip:
                run.live()
            if "writer" not in options.skip:  # the timeline writer alone, draining a Kafka backlog
                writer_backlog.phase(
                    run.figures, run.profiles, stack.infra, work, quick=options.quick, profile=options.profile
                )
            if "stored" not in options.skip:
                run.stored()
        except BaseException:
            partial = options.json.with_suffix(".partial.json")  # what was measured before the failure
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(run.figures.as_json(options, run.profiles), indent=2))
            print(f"the run failed; the figures measured before it are in {partial}", file=sys.stderr)
            raise
    run.figures.memory["bench (load + rebuilds)"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    shutil.rmtree(work, ignore_errors=True)  # logs of a failed run stay for a look
    run.figures.note("run_seconds", round(time.monotonic() - started))
    result = run.figures.as_json(options, run.profiles)
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps(result, indent=2))
    print(table(result))
    print(f"JSON written to {options.json}")
    return result


if __name__ == "__main__":
    main()
