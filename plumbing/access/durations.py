"""Durations as people type them: ``90d``, ``24h``, ``30m``, ``45s``."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """``"90d"`` -> 90 days; raises ValueError for anything else."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 90d, 24h, 30m or 45s")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})
