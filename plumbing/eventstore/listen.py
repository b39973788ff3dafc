"""Waking tailing readers on appends with PostgreSQL LISTEN/NOTIFY instead of polling.

Every append notifies :data:`NOTIFY_CHANNEL` inside its transaction, so the notification arrives once the
events are visible. A notification can still be missed (the listener reconnects), so every wait also
ends after an idle timeout and the reader looks again: NOTIFY makes it fast, the timeout makes it safe.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from plumbing.eventstore.errors import EventStoreUnavailable

#: Channel notified after every append, so tailing readers wake without polling.
NOTIFY_CHANNEL = "hub_events"

Conn = psycopg.AsyncConnection[Any]


async def open_listener(conninfo: str) -> Conn:
    """A dedicated autocommit connection listening on :data:`NOTIFY_CHANNEL`."""
    try:
        listener = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    except psycopg.OperationalError as exc:
        raise EventStoreUnavailable(str(exc)) from exc
    try:
        await listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
    except psycopg.OperationalError as exc:
        await listener.close()
        raise EventStoreUnavailable(str(exc)) from exc
    return listener


async def wait_for_append(listener: Conn, idle_s: float, stop: asyncio.Event | None = None) -> None:
    """Return on the next append notification, on ``stop``, or after ``idle_s``, whichever comes first.

    A broken listener connection raises :class:`EventStoreUnavailable`.
    """

    async def notified() -> None:
        async for _ in listener.notifies(timeout=idle_s, stop_after=1):
            return

    waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(notified())}
    if stop is not None:
        waiters.add(asyncio.ensure_future(stop.wait()))
    try:
        done, _pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    for task in done:
        try:
            task.result()
        except psycopg.OperationalError as exc:
            raise EventStoreUnavailable(str(exc)) from exc
