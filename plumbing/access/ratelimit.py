"""Rate limits per principal, and of failed authentications per client address: sliding window counters
(the ``limits`` library), in memory per process.

A sliding window counter is two counters per key (this window and the last, weighted by how much of it
still overlaps): O(1) per request. The moving window it replaces kept one entry per request of the last
window (3,000 for a busy service's key), inserted at the head of a list, and its storage sent an expiry
pass over every key to a thread after each hit: a fifth of the API's CPU per card read, profiled.

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
from limits.aio.strategies import SlidingWindowCounterRateLimiter

#: Failed authentications one client address may make per window unless configured otherwise.
DEFAULT_AUTH_FAILURE_LIMIT = "20/minute"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0


class RateLimiter:
    """Counts requests per principal id against that principal's limit."""

    def __init__(self) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def hit(self, principal_id: str, limit: RateLimitItem) -> Verdict:
        if await self._limiter.hit(limit, principal_id):
            return Verdict(allowed=True)
        return Verdict(allowed=False, retry_after_s=await _retry_after(self._limiter, limit, principal_id))


class FailureLimiter:
    """Counts failed authentications per client address: once ``limit`` is used up, the address is
    turned away (valid credentials too) until enough of its failures have left the sliding window.

    Guessing keys or tokens from one address is slowed to ``limit``; other addresses are not touched.
    """

    def __init__(self, limit: RateLimitItem) -> None:
        self.limit = limit
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def wait_s(self, address: str) -> int:
        """Seconds until ``address`` may try again; 0 when it may now."""
        if await self._limiter.test(self.limit, address):
            return 0
        return await _retry_after(self._limiter, self.limit, address)

    async def failed(self, address: str) -> None:
        await self._limiter.hit(self.limit, address)


async def _retry_after(limiter: SlidingWindowCounterRateLimiter, limit: RateLimitItem, key: str) -> int:
    stats = await limiter.get_window_stats(limit, key)
    return max(1, math.ceil(stats.reset_time - time.time()))
