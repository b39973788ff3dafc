"""Rate limits per principal: a moving window (the ``limits`` library), in memory per process.

In memory means each API process counts on its own: with N processes behind a balancer a principal
gets up to N times its limit. Good enough to stop a runaway script; a shared store (``limits``
supports Redis and others) is a one-line change in :meth:`RateLimiter.__init__` when we need more.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0


class RateLimiter:
    """Counts requests per principal id against that principal's limit."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, principal_id: str, limit: RateLimitItem) -> Verdict:
        if await self._limiter.hit(limit, principal_id):
            return Verdict(allowed=True)
        stats = await self._limiter.get_window_stats(limit, principal_id)
        return Verdict(allowed=False, retry_after_s=max(1, math.ceil(stats.reset_time - time.time())))
