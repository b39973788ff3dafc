"""Where a delivery's CPU goes: CPU seconds of each part of a running hub over one phase of the bench.

Every deployable (with its workers), the Kafka broker and the PostgreSQL cluster (postmaster and its
live backends) are read from ``/proc`` before and after the phase; the difference per delivery says which
part to optimise next, in the same run as the figure it explains. A backend that exits during the phase
takes its CPU with it (the deployables keep pooled connections, so that is little).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bench.ingress_cpu import cpu_seconds

CpuSnapshot = dict[str, float]


def snapshot(parts: Mapping[str, int | None]) -> CpuSnapshot:
    """CPU seconds so far of each named part (a pid, with its live children); a part not running is 0."""
    return {name: cpu_seconds(pid) if pid is not None else 0.0 for name, pid in parts.items()}


def per_delivery(before: CpuSnapshot, after: CpuSnapshot, deliveries: int) -> dict[str, float]:
    """Milliseconds of CPU per delivery of each part over the phase, largest first, and their ``total``."""
    if deliveries <= 0:
        return {}
    spent = {name: max(after.get(name, 0.0) - before.get(name, 0.0), 0.0) for name in after}
    split = {name: round(1000 * s / deliveries, 3) for name, s in sorted(spent.items(), key=lambda i: -i[1])}
    split["total"] = round(1000 * sum(spent.values()) / deliveries, 3)
    return split


def parts_of(
    deployables: Sequence[tuple[str, int | None]], kafka: int | None, postgres: int | None
) -> dict[str, int | None]:
    """The parts a split reads: the deployables by name, then ``kafka`` and ``postgres``."""
    return {**dict(deployables), "kafka": kafka, "postgres": postgres}
