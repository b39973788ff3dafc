"""The benchmark's figures: collected by name, each with its ceiling's ratio, printed as one table."""

from __future__ import annotations

import argparse
import os
import platform
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.load import Outcome
from bench.profile import Profile

#: The fixed rates (webhooks/s) of the ack latency figures.
LATENCY_RATES = (100, 200, 500)

#: Every figure a complete run reports (the smoke test checks the JSON against this).
FIGURES = (
    "ingest_webhooks_per_s",
    *(f"ack_latency_at_{rate}_per_s" for rate in LATENCY_RATES),
    "ack_latency_at_half_saturation",
    "end_to_end_events_per_s",
    "end_to_end_deliveries_per_s",
    "projection_lag",
    "writer_backlog_events_per_s",
    "seed_store_events_per_s",
    "rebuild_card_events_per_s",
    "rebuild_pipeline_events_per_s",
    "read_card_requests_per_s",
    "read_lookup_requests_per_s",
    "read_timeline_requests_per_s",
)
CEILINGS = ("kafka_produce", "postgres_copy", "http_noop", "global_log_read")


@dataclass
class Figures:
    ceilings: dict[str, float] = field(default_factory=dict)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, float | None] = field(default_factory=dict)

    def ceiling(self, name: str, rate: float) -> None:
        self.ceilings[name] = round(rate, 1)

    def note(self, name: str, value: Any) -> None:
        self.notes[name] = value

    def rate(
        self, name: str, rate: float, ceiling: str, outcome: Outcome | None = None, *, p99: bool = False
    ) -> None:
        figure: dict[str, Any] = {"value": round(rate, 1), "ceiling": ceiling}
        figure["ratio"] = round(rate / self.ceilings[ceiling], 4) if self.ceilings.get(ceiling) else None
        if outcome is not None:
            figure["failed"] = outcome.failed
            if outcome.ran_out:
                figure["ran_out"] = True  # every prepared request was taken: the rate is a lower bound
            if p99:
                figure["p99_ms"] = round(outcome.quantile_ms(0.99), 2)
        self.figures[name] = figure

    def latency(self, name: str, outcome: Outcome, rate: float, noop: Outcome | None = None) -> None:
        """Latency quantiles from each scheduled send, with the no-op app's at the same rate (its floor)."""
        figure: dict[str, Any] = {
            "rate": round(rate, 1),
            "achieved": round(outcome.rate, 1),
            "p50_ms": round(outcome.quantile_ms(0.5), 2),
            "p99_ms": round(outcome.quantile_ms(0.99), 2),
            "p999_ms": round(outcome.quantile_ms(0.999), 2),
            "samples": outcome.ok,
            "failed": outcome.failed,
        }
        if noop is not None:
            figure["noop_p50_ms"] = round(noop.quantile_ms(0.5), 2)
            figure["noop_p99_ms"] = round(noop.quantile_ms(0.99), 2)
        self.figures[name] = figure

    def lag(self, measured: dict[str, float]) -> None:
        self.figures["projection_lag"] = {k: round(v, 2) for k, v in measured.items()}

    def as_json(self, options: argparse.Namespace, profiles: list[Profile]) -> dict[str, Any]:
        return {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "load_average": os.getloadavg(),
            },
            "options": {k: str(v) for k, v in vars(options).items()},
            "ceilings": self.ceilings,
            "figures": self.figures,
            "notes": self.notes,
            "peak_rss_mb": self.memory,
            "profiles": [asdict(profile) for profile in profiles],
        }


def _row(name: str, figure: dict[str, Any]) -> str:
    if "value" in figure:
        ratio = f"{figure['ratio']:.1%} of {figure['ceiling']}" if figure.get("ratio") is not None else ""
        extra = f"p99 {figure['p99_ms']} ms" if "p99_ms" in figure else ""
        extra += f" failed {figure['failed']}" if figure.get("failed") else ""
        extra += " (ran out of prepared requests)" if figure.get("ran_out") else ""
        return f"{name:<36} {figure['value']:>12,.1f}/s  {ratio:<32} {extra}"
    if "p999_ms" in figure:
        line = (
            f"{name:<36} p50 {figure['p50_ms']} ms, p99 {figure['p99_ms']} ms, p999 {figure['p999_ms']} ms"
            f" at {figure['rate']}/s (achieved {figure['achieved']}/s)"
        )
        if "noop_p50_ms" in figure:
            line += f"; no-op p50 {figure['noop_p50_ms']} ms, p99 {figure['noop_p99_ms']} ms"
        if figure["failed"]:
            line += f"; failed {figure['failed']}"
        return line
    line = f"{name:<36} p50 {figure['p50_ms']} ms, p99 {figure['p99_ms']} ms at {figure['rate']:.0f}/s"
    if "catch_up_s" in figure:  # the lag: how long the backlog took to drain once the load stopped
        line += f", caught up {figure['catch_up_s']} s after the load"
    return line


def table(result: dict[str, Any]) -> str:
    lines = [f"machine: {result['machine']['cpus']} cpus, load {result['machine']['load_average']}", ""]
    lines += ["ceilings"] + [f"  {k:<34} {v:>12,.1f}/s" for k, v in result["ceilings"].items()]
    lines += ["", "figures"] + [f"  {_row(k, v)}" for k, v in result["figures"].items()]
    room = result["notes"].get("generator_headroom")
    if room is not None:
        verdict = (
            "GENERATOR-BOUND: the ingest figure may be the load generator's limit, not the hub's"
            if room["generator_bound"]
            else "the generator had the headroom (>= 3x) to drive past the hub"
        )
        lines += [
            f"  generator headroom: no-op {room['noop_rate']}/s vs hub {room['measured']}/s"
            f" = {room['ratio']}x: {verdict}"
        ]
    lines += ["", "peak RSS (MB)"] + [f"  {k:<34} {v}" for k, v in result["peak_rss_mb"].items()]
    lines += ["", "notes"] + [f"  {k:<34} {v}" for k, v in result["notes"].items()]
    for profile in result["profiles"]:
        lines += ["", f"profile of {profile['process']} ({profile['samples']} samples), on top of the stack:"]
        lines += [f"  {share:6.1%}  {frame}" for frame, share in profile["own"]]
        lines += ["  our code, anywhere in the stack:"]
        lines += [f"  {share:6.1%}  {frame}" for frame, share in profile["inclusive"]]
    return "\n".join(lines)
