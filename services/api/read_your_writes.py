"""Read-your-writes: a read waits (bounded) until its read model includes the caller's write.

Every command answers the store ``position`` of its last event; a read given ``min_position`` waits
until the projection's checkpoint reaches it, or answers 503 ``not_caught_up`` with ``Retry-After``
so the caller never mistakes a lagging read model for a lost write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Query

from plumbing.eventstore.postgres import Conn
from plumbing.http import ApiError

_POLL_S = 0.05

MinPosition = Annotated[
    int | None, Query(ge=0, description="wait until the read model includes this log position")
]
WaitMs = Annotated[int, Query(ge=0, le=10_000, description="how long to wait for min_position")]


async def wait_for_position(
    conn: Conn,
    checkpoint: Callable[[Conn], Awaitable[int]],
    min_position: int | None,
    wait_ms: int,
    read_model: str,
) -> int:
    """Wait until ``checkpoint`` reaches ``min_position`` (no wait without one); the checkpoint then."""
    deadline = asyncio.get_running_loop().time() + wait_ms / 1000
    while (position := await checkpoint(conn)) < (min_position or 0):
        if asyncio.get_running_loop().time() >= deadline:
            raise ApiError(
                503,
                "not_caught_up",
                f"the {read_model} has not reached position {min_position} yet",
                {"Retry-After": "1"},
            )
        await asyncio.sleep(_POLL_S)
    return position
