"""A pytest plugin that prints the suite's time per tier (unit, integration, e2e, faults, security, scale).

A tier is the first folder under ``tests/``; its time is the sum of its tests' setup, call and teardown,
so the table says where the suite's minutes go (loaded by ``./run test`` with ``-p tests.support.tiers``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import PurePosixPath

import pytest
from _pytest.terminal import TerminalReporter


@dataclass
class _Tier:
    seconds: float = 0.0
    passed: int = 0
    failed: int = 0
    skipped: int = 0


_tiers: defaultdict[str, _Tier] = defaultdict(_Tier)


def _tier_of(nodeid: str) -> str:
    parts = PurePosixPath(nodeid.split("::", 1)[0]).parts
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    tier = _tiers[_tier_of(report.nodeid)]
    tier.seconds += report.duration
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.passed:
            tier.passed += 1
        elif report.skipped:
            tier.skipped += 1
        else:
            tier.failed += 1
    elif report.failed:  # a teardown error after a passed call
        tier.failed += 1


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    if not _tiers:
        return
    terminalreporter.write_sep("-", "time per tier")
    for name, tier in sorted(_tiers.items(), key=lambda item: -item[1].seconds):
        terminalreporter.write_line(
            f"{name:<12} {tier.seconds:8.1f} s  {tier.passed:5d} passed  {tier.failed:3d} failed"
            f"  {tier.skipped:3d} skipped"
        )
