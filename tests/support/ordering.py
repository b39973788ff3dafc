"""Test ordering shared by suites that start a private stack in the background: its tests go last."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


def run_last(items: list[pytest.Item], folder: Path, last: Callable[[pytest.Item], bool]) -> None:
    """Among the collected tests under ``folder``, those ``last`` picks go after the others (which keep
    their order and places), so a stack started in the background at the folder's first test has time."""
    slots = [n for n, item in enumerate(items) if folder in item.path.parents]
    ordered = sorted((items[n] for n in slots), key=last)
    for n, item in zip(slots, ordered, strict=True):
        items[n] = item
