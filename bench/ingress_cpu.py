"""CPU time of the ingress per webhook, by provider: the figure to compare before and after a change.

Rates in requests/s depend on what else the machine runs; the CPU seconds the ingress process (and its
workers) spent per acknowledged webhook hardly do, so this is the measure to optimise on a shared machine.
The ingress runs alone against the local stack's Kafka (fresh topics, nothing consumes them) with its own
evidence folder; each provider gets a short paced run of fresh signed deliveries from the open-loop
generator, then the whole mix does.

Run: ``.venv/bin/python -m bench.ingress_cpu [--rate 150] [--seconds 3] [--workers 1] [--profile]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.deliveries import PROVIDERS, PUBLIC_BASE, DeliverySource
from bench.load import Outcome, drive
from bench.private_stack import free_port
from bench.profile import summarise
from hub import deployment
from hub.local_secrets import LocalSecrets
from hub.stack import Infra, ensure_infra
from hub.stack.processes import child_pids, process_status, start_process, stop_process
from plumbing.kafka import ensure_topics
from plumbing.settings import Topics
from plumbing.topics import hub_topics

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` (all its threads) and of its live children (uvicorn's workers)."""
    total = 0.0
    for each in (pid, *child_pids(pid)):
        try:
            text = Path(f"/proc/{each}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


@dataclass(frozen=True)
class Ingress:
    """One ingress started for the measurement: where it answers and its (parent) pid."""

    url: str
    pid: int
    secrets: LocalSecrets
    run_dir: Path


@contextmanager
def running_ingress(
    infra: Infra, workers: int, extra_env: dict[str, str] | None = None, *, baseline: Path | None = None
) -> Iterator[Ingress]:
    """The ingress as ``hub up`` starts it, on fresh topics and a free port; stopped afterwards.

    ``baseline``: a folder holding another version of the code (``git archive <rev> | tar -x -C DIR``),
    run as the ingress ran before this change (uvicorn's pure-Python h11 and asyncio's loop), to
    compare with the current code in the same run."""
    run_dir = Path(tempfile.mkdtemp(prefix="hub-ingress-cpu-"))
    tag = uuid.uuid4().hex[:8]
    topics = Topics(
        interactions=f"bench.{tag}.in", dead_letter=f"bench.{tag}.dlq", timeline=f"bench.{tag}.tl"
    )
    asyncio.run(ensure_topics(infra.kafka_bootstrap, hub_topics(topics).values()))
    secrets = LocalSecrets.generate()
    ports = deployment.Ports(free_port(), free_port())
    env = deployment.service_env(
        infra,
        secrets,
        ports,
        run_dir / "blobs",
        HUB_TOPICS__INTERACTIONS=topics.interactions,
        HUB_TOPICS__DEAD_LETTER=topics.dead_letter,
        HUB_PUBLIC_BASE_URL=PUBLIC_BASE,
        HUB_INGRESS_WORKERS=str(workers),
        HUB_LOG_LEVEL="INFO",
        **(extra_env or {}),
    )
    argv = [sys.executable, "-m", deployment.DEPLOYABLES["ingress"]]
    if baseline is not None:
        argv = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(baseline)!r})\n{_LEGACY}"]
    start_process("ingress", argv, env, run_dir)
    try:
        deployment.wait_http_ok(f"{ports.ingress_url}/health", 60, run_dir, "ingress")
        pid = process_status("ingress", run_dir).pid
        assert pid is not None
        yield Ingress(ports.ingress_url, pid, secrets, run_dir)
    finally:
        stop_process("ingress", run_dir, timeout=15)
        shutil.rmtree(run_dir, ignore_errors=True)


_LEGACY = """
import uvicorn
from plumbing.logging import configure_logging
from services.ingress.app import build_app
from services.ingress.settings import IngressSettings
settings = IngressSettings()
configure_logging("ingress", settings.log_level)
uvicorn.run(build_app(settings), host=settings.ingress_host, port=settings.ingress_port, log_config=None,
            loop="asyncio", http="h11")
"""


@dataclass(frozen=True)
class CpuFigure:
    provider: str
    outcome: Outcome
    cpu_s: float

    @property
    def ms_per_webhook(self) -> float:
        return 1000 * self.cpu_s / self.outcome.ok if self.outcome.ok else float("nan")


def measure(
    ingress: Ingress, providers: Sequence[str] | None, rate: float, seconds: float, connections: int = 64
) -> CpuFigure:
    """A paced run of fresh deliveries of ``providers`` (all: the mix); CPU of the ingress over it."""
    source = DeliverySource(ingress.secrets, customers=5_000, only=providers, seed=len(providers or ()))
    drive(ingress.url, source.take(20), rate=50, seconds=0.4, connections=4)  # warm: imports, metadata
    requests = source.take(int((rate or 2_500) * seconds) + 1)  # unpaced (rate 0): more than it takes
    before = cpu_seconds(ingress.pid)
    outcome = drive(ingress.url, requests, rate=rate, seconds=seconds, connections=connections)
    return CpuFigure(",".join(providers) if providers else "mix", outcome, cpu_seconds(ingress.pid) - before)


def _row(figure: CpuFigure, version: str = "") -> str:
    out = figure.outcome
    failed = f" failed {out.failed}" if out.failed else ""
    return (
        f"  {figure.provider:<10} {version:<6} {out.ok:>6} ok {figure.ms_per_webhook:8.2f} ms CPU/webhook"
        f"   p50 {out.quantile_ms(0.5):7.1f} ms  p99 {out.quantile_ms(0.99):7.1f} ms"
        f"  at {out.rate:6.1f}/s{failed}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingress_cpu", description=__doc__)
    parser.add_argument(
        "--rate", type=float, default=150.0, help="webhooks/s of each run (0: unpaced, saturation)"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each run")
    parser.add_argument("--workers", type=int, default=1, help="ingress worker processes")
    parser.add_argument("--providers", nargs="*", default=list(PROVIDERS), choices=PROVIDERS)
    parser.add_argument("--mix-rate", type=float, help="rate of the mixed run (default: --rate)")
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the mixed run (threads holding the GIL); collapsed stacks to this file",
    )
    parser.add_argument(
        "--baseline", type=Path, help="another version of the code to measure alongside (git archive REV)"
    )
    options = parser.parse_args(argv)
    infra = ensure_infra()
    with contextlib.ExitStack() as stack:
        ingress = stack.enter_context(running_ingress(infra, options.workers))
        before = (
            stack.enter_context(running_ingress(infra, 1, baseline=options.baseline))
            if options.baseline
            else None
        )
        print(
            f"ingress CPU per acknowledged webhook, {options.workers} worker(s), paced at {options.rate}/s:"
        )
        for provider in options.providers:
            if before is not None:
                print(_row(measure(before, [provider], options.rate, options.seconds), "before"), flush=True)
            print(_row(measure(ingress, [provider], options.rate, options.seconds)), flush=True)
        mixed = None if set(options.providers) == set(PROVIDERS) else options.providers
        if before is not None:
            print(_row(measure(before, mixed, options.mix_rate or options.rate, options.seconds), "before"))
        sampler = _sampler(ingress.pid, options.seconds, options.profile) if options.profile else None
        print(_row(measure(ingress, mixed, options.mix_rate or options.rate, options.seconds)), flush=True)
        if sampler is not None and options.profile is not None:
            sampler.wait(timeout=120)
            if options.profile.exists():
                found = summarise("ingress", options.profile.read_text(), 25)
                print(f"profile of the mixed run ({found.samples} samples), on top of the stack:")
                print("\n".join(f"  {share:6.1%}  {frame}" for frame, share in found.own))
                print("  our code, anywhere in the stack:")
                print("\n".join(f"  {share:6.1%}  {frame}" for frame, share in found.inclusive))


def _sampler(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy of ``pid`` and its workers, sampling the threads that hold the GIL (CPU, not waits)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    argv = [spy, "record", "--format", "raw", "--rate", "200", "--subprocesses", "--nonblocking", "--gil"]
    argv += ["--duration", str(int(seconds) + 1), "--pid", str(pid), "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
