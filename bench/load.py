"""HTTP load through the open-loop generator of ``bench/loadgen`` (Go, standard library only).

The Python side prepares the requests (every webhook a distinct signed delivery) and writes them to a
file; the generator replays them at a fixed rate (latency from each request's scheduled send time) or
unpaced (saturation) and reports rates, status counts and latency quantiles as JSON. One process of
compiled code drives several times what the servers under test take, so a ceiling it measures is the
server's, not the client's; every run checks that (see :func:`headroom`).

The generator is built with the Go toolchain into ``.state/bench`` on first use (no download: the
standard library only). Only loopback targets are ever given to it (the callers build them from
127.0.0.1 ports).

Request file format (little endian): ``HUBLOAD1``, then per request ``u8`` method length + method,
``u16`` path + path, ``u8`` label + label, ``u16`` header count and per header ``u16`` name + name,
``u16`` value + value, then ``u32`` body length + body.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.stack.paths import repo_root

SOURCE = Path(__file__).with_name("loadgen")
MAGIC = b"HUBLOAD1"
#: The Go toolchain: on PATH, or where the machine image puts it.
GO_CANDIDATES = ("go", "/usr/local/go/bin/go")


@dataclass(frozen=True)
class Request:
    """One request as the generator sends it: ``path`` (with any query) is appended to the target."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""
    label: str = ""
    """Groups requests in the result (the provider of a webhook, the route of a read)."""


@dataclass(frozen=True)
class Outcome:
    """What one generator run saw. ``failed``: non-2xx statuses, transport errors and requests that fell
    due but were never sent; latency quantiles (ms) are of 2xx answers."""

    offered_rate: float
    seconds: float
    sent: int
    ok: int
    rate: float
    failed: dict[str, int]
    latency_ms: dict[str, float]
    send_lag_ms: dict[str, float]
    accepted: int
    ran_out: bool
    generator_cpu_s: float
    connections: int
    by_label: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        failed = {code: n for code, n in data["statuses"].items() if not code.startswith("2")}
        failed.update(data["errors"])
        if data["unsent"]:
            failed["unsent"] = data["unsent"]
        return cls(
            offered_rate=data["offered_rate"],
            seconds=data["elapsed_s"],
            sent=data["sent"],
            ok=data["ok"],
            rate=data["rate"],
            failed=failed,
            latency_ms=data["latency_ms"] or {},
            send_lag_ms=data["send_lag_ms"] or {},
            accepted=data["accepted"],
            ran_out=data["ran_out"],
            generator_cpu_s=data["generator_cpu_s"],
            connections=data["connections"],
            by_label=data["by_label"],
        )

    def quantile_ms(self, q: float) -> float:
        """The latency quantile ``q`` (0.5, 0.9, 0.99 or 0.999) in ms; NaN without a 2xx answer."""
        key = {0.5: "p50", 0.9: "p90", 0.99: "p99", 0.999: "p999", 1.0: "max"}[q]
        return float(self.latency_ms.get(key, float("nan")))

    def label_rates(self) -> dict[str, float]:
        """2xx answers per second by label, over the run's elapsed time."""
        if not self.seconds:
            return {}
        return {label: round(part["ok"] / self.seconds, 1) for label, part in sorted(self.by_label.items())}


def headroom(noop: Outcome, measured: float) -> dict[str, Any]:
    """Whether the generator drove the no-op app to at least 3x ``measured`` requests/s in this run:
    only then is a figure the server's and not the generator's (``generator_bound`` otherwise)."""
    ratio = noop.rate / measured if measured else float("inf")
    return {
        "noop_rate": round(noop.rate, 1),
        "measured": round(measured, 1),
        "ratio": round(ratio, 2),
        "generator_bound": ratio < 3.0,
    }


def write_requests(path: Path, requests: Iterable[Request]) -> int:
    """Write ``requests`` in the generator's file format; returns how many."""
    count = 0
    with path.open("wb") as out:
        out.write(MAGIC)
        for request in requests:
            out.write(_field("B", request.method.encode()))
            out.write(_field("H", request.path.encode()))
            out.write(_field("B", request.label.encode()))
            out.write(struct.pack("<H", len(request.headers)))
            for name, value in request.headers.items():
                out.write(_field("H", name.encode("latin-1")) + _field("H", value.encode("latin-1")))
            out.write(_field("I", request.body))
            count += 1
    return count


def _field(width: str, data: bytes) -> bytes:
    return struct.pack("<" + width, len(data)) + data


def _go() -> str:
    for candidate in GO_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise RuntimeError(
        "the load generator needs the Go toolchain (go on PATH or /usr/local/go/bin/go) to be built once"
    )


def generator() -> Path:
    """The built generator, built first when its sources changed (the binary's name is their hash)."""
    sources = [*sorted(SOURCE.glob("*.go")), SOURCE / "go.mod"]
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:16]
    folder = repo_root() / ".state" / "bench"
    binary = folder / f"loadgen-{digest}"
    if binary.exists():
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GOCACHE": str(folder / "go-cache"),
        "GOPATH": str(folder / "go-path"),
        "GOTOOLCHAIN": "local",  # the installed toolchain only: nothing is downloaded
        "GOFLAGS": "-mod=mod",
        "CGO_ENABLED": "0",
    }
    partial = folder / f".loadgen-{digest}.partial"
    subprocess.run(
        [_go(), "build", "-trimpath", "-o", str(partial), "."], cwd=SOURCE, env=env, check=True, timeout=600
    )
    partial.replace(binary)
    for stale in folder.glob("loadgen-*"):  # builds of earlier sources
        if stale != binary:
            stale.unlink(missing_ok=True)
    return binary


def drive(
    target: str,
    requests: Iterable[Request],
    *,
    rate: float,
    seconds: float,
    connections: int,
    count_accepted: bool = False,
    cycle: bool = False,
    drain_s: float = 30.0,
    work: Path | None = None,
) -> Outcome:
    """Send ``requests`` (in order, each at most once; over and over with ``cycle``) to ``target`` at
    ``rate`` per second (0: unpaced) for ``seconds``, over at most ``connections`` connections, and wait
    for the answers."""
    binary = generator()
    with tempfile.TemporaryDirectory(dir=work, prefix="load-") as folder:
        path = Path(folder) / "requests.bin"
        write_requests(path, requests)
        argv = [
            str(binary),
            "-requests",
            str(path),
            "-target",
            target,
            "-rate",
            repr(float(rate)),
            "-duration",
            repr(float(seconds)),
            "-connections",
            str(connections),
            "-drain",
            repr(float(drain_s)),
        ]
        if count_accepted:
            argv.append("-count-accepted")
        if cycle:
            argv.append("-cycle")
        done = subprocess.run(argv, capture_output=True, check=False, timeout=seconds + drain_s + 120)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return Outcome.from_json(json.loads(done.stdout))
