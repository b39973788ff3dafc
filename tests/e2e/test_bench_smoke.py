"""The benchmark runs end to end in its quickest mode and reports every figure (no speed is asserted),
with the load generator's headroom against the no-op app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import CEILINGS, FIGURES, LATENCY_RATES
from hub.deployment import DEPLOYABLES
from hub.stack.paths import repo_root

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_the_quick_benchmark_writes_every_figure_with_its_ceiling_and_memory(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        timeout=850,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(out.read_text())
    assert set(result["ceilings"]) == set(CEILINGS)
    assert all(value > 0 for value in result["ceilings"].values())
    assert set(result["figures"]) == set(FIGURES)
    for name in FIGURES:
        figure = result["figures"][name]
        if "value" in figure:
            assert figure["value"] > 0 and figure["ratio"] is not None, name
        else:
            assert figure["p50_ms"] == figure["p50_ms"], f"{name}: no latency samples"  # NaN != NaN
    for rate in LATENCY_RATES:  # open-loop latency beside the no-op app's at the same rate
        figure = result["figures"][f"ack_latency_at_{rate}_per_s"]
        assert figure["noop_p99_ms"] == figure["noop_p99_ms"] and figure["samples"] > 0, figure
    room = result["notes"]["generator_headroom"]  # every run says whether the generator could drive past
    assert room["noop_rate"] == result["ceilings"]["http_noop"]
    assert room["generator_bound"] == (room["ratio"] < 3)
    assert set(DEPLOYABLES) | {"kafka"} <= set(result["peak_rss_mb"])  # the whole hub ran
    assert all(value for value in result["peak_rss_mb"].values())
    split = result["notes"]["end_to_end_cpu_ms_per_delivery"]  # where a delivery's CPU went
    assert set(DEPLOYABLES) | {"kafka", "postgres", "total"} == set(split)
    assert split["ingress"] > 0 and split["timeline"] > 0 and split["postgres"] > 0
    assert split["total"] >= sum(value for name, value in split.items() if name != "total") - 0.01
    assert "ingest_webhooks_per_s" in done.stdout  # the table was printed
