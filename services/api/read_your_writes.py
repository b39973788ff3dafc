"""Read-your-writes: a read waits (bounded) until its read model includes the caller's write.

Every command answers the store ``position`` of its last event; a read given ``min_position`` waits
until the projection's checkpoint reaches it, or answers 503 ``not_caught_up`` with ``Retry-After``
so the caller never mistakes a lagging read model for a lost write. A ``min_position`` beyond the
store's last position names no write at all (no wait could reach it): 422 ``position_beyond_log`` at
once. The last position is asked only when the read model is behind ``min_position``, and costs one
step down the end of the log's primary-key index.
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
) -> None:
    """Wait until ``checkpoint`` reaches ``min_position``; without one, return at once (no query: every
    card read passes here)."""
    if min_position is None:
        return
    deadline = asyncio.get_running_loop().time() + wait_ms / 1000
    head: int | None = None
    while await checkpoint(conn) < min_position:
        if head is None and (head := await log_head(conn)) < min_position:
            raise ApiError(
                422,
                "position_beyond_log",
                f"min_position {min_position} is beyond the store's last position {head}: use a"
                " position a write answered",
            )
        if asyncio.get_running_loop().time() >= deadline:
            raise ApiError(
                503,
                "not_caught_up",
                f"the {read_model} has not reached position {min_position} yet",
                {"Retry-After": "1"},
            )
        await asyncio.sleep(_POLL_S)


async def log_head(conn: Conn) -> int:
    """The store's last position (0 when empty): the end of the ``events`` primary-key index."""
    cur = await conn.execute("SELECT coalesce(max(position), 0) FROM events")
    row = await cur.fetchone()
    return int(row[0]) if row else 0
