"""Rate limits per principal, and of failed authentications per client address: moving windows (the
``limits`` library), in memory per process.

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

#: Failed authentications one client address may make per window unless configured otherwise.
DEFAULT_AUTH_FAILURE_LIMIT = "20/minute"


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
        return Verdict(allowed=False, retry_after_s=await _retry_after(self._limiter, limit, principal_id))


class FailureLimiter:
    """Counts failed authentications per client address: once ``limit`` is used up, the address is
    turned away (valid credentials too) until the oldest failure leaves the window.

    Guessing keys or tokens from one address is slowed to ``limit``; other addresses are not touched.
    """

    def __init__(self, limit: RateLimitItem) -> None:
        self.limit = limit
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def wait_s(self, address: str) -> int:
        """Seconds until ``address`` may try again; 0 when it may now."""
        if await self._limiter.test(self.limit, address):
            return 0
        return await _retry_after(self._limiter, self.limit, address)

    async def failed(self, address: str) -> None:
        await self._limiter.hit(self.limit, address)


async def _retry_after(limiter: MovingWindowRateLimiter, limit: RateLimitItem, key: str) -> int:
    stats = await limiter.get_window_stats(limit, key)
    return max(1, math.ceil(stats.reset_time - time.time()))
