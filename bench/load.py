"""HTTP load: closed loop at saturation, open loop at a fixed rate, bounded in count and time.

Both loops use one keep-alive client, so a ceiling and the figure it bounds are measured the same way.
Only loopback addresses are ever targeted (the callers build URLs from 127.0.0.1 ports).
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from hub.demo import Webhook

Request = tuple[str, str, bytes | None, dict[str, str]]
"""method, URL, body, headers"""


@dataclass
class Outcome:
    """What a load run saw: successes, failures by status, latencies of successes (s)."""

    seconds: float = 0.0
    ok: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    accepted_events: int = 0

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def quantile_ms(self, q: float) -> float:
        """The ``q`` quantile (0..1) of success latencies, in ms."""
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else float("nan")
        cuts = statistics.quantiles(self.latencies, n=1000, method="inclusive")
        return cuts[min(int(q * 1000) - 1, len(cuts) - 1)] * 1000


def webhook_requests(base_url: str, hooks: Sequence[Webhook]) -> list[Request]:
    return [("POST", base_url + hook.path, hook.body, hook.headers) for hook in hooks]


async def _one(client: httpx.AsyncClient, request: Request, outcome: Outcome, count_events: bool) -> None:
    method, url, body, headers = request
    started = time.perf_counter()
    try:
        response = await client.request(method, url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        key = type(exc).__name__
        outcome.failed[key] = outcome.failed.get(key, 0) + 1
        return
    if response.is_success:
        outcome.latencies.append(time.perf_counter() - started)
        outcome.ok += 1
        if count_events:
            outcome.accepted_events += int(response.json().get("accepted", 0))
    else:
        key = str(response.status_code)
        outcome.failed[key] = outcome.failed.get(key, 0) + 1


def _client(concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(limits=limits, timeout=30.0)


async def saturate(
    requests: Sequence[Request] | Callable[[int], Request],
    *,
    seconds: float,
    concurrency: int = 16,
    count_events: bool = False,
) -> Outcome:
    """Closed loop: ``concurrency`` workers send back to back for ``seconds`` (or until requests run out)."""
    outcome = Outcome()
    numbers = itertools.count()
    limit = len(requests) if not callable(requests) else None

    def next_request() -> Request | None:
        n = next(numbers)
        if limit is not None:
            return None if n >= limit else requests[n]  # type: ignore[index]
        return requests(n)  # type: ignore[operator]

    async with _client(concurrency) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline and (request := next_request()) is not None:
                await _one(client, request, outcome, count_events)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        outcome.seconds = time.perf_counter() - started
    return outcome


async def paced(
    requests: Sequence[Request], *, rate: float, seconds: float, count_events: bool = False
) -> Outcome:
    """Open loop: one request every 1/``rate`` s whatever the answers, so queueing shows in latency."""
    outcome = Outcome()
    total = min(len(requests), int(rate * seconds))
    async with _client(256) as client:
        started = time.perf_counter()
        tasks = []
        for n in range(total):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(_one(client, requests[n], outcome, count_events)))
        await asyncio.gather(*tasks)
        outcome.seconds = time.perf_counter() - started
    return outcome
