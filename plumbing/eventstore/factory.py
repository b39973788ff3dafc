"""Choosing the event store adapter from settings: the one place that knows both exist.

The KurrentDB adapter is imported only when chosen, so a PostgreSQL-only deployable never loads grpc.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from plumbing.eventstore.model import EventStore
from plumbing.eventstore.postgres import Conn, PostgresEventStore
from plumbing.settings import EventStoreSettings


async def open_event_store(
    settings: EventStoreSettings, pool: AsyncConnectionPool[Conn] | None = None
) -> EventStore:
    """The adapter ``settings.event_store`` names, retrying lost connections for ``store_retry_s``.

    PostgreSQL uses the caller's ``pool`` (the caller owns and closes it); KurrentDB connects to
    ``settings.kurrentdb_uri``. A missing pool or URI is a configuration error: ``ValueError``.
    """
    if settings.event_store == "postgres":
        if pool is None:
            raise ValueError("HUB_EVENT_STORE=postgres needs a PostgreSQL connection pool")
        return PostgresEventStore(pool, retry_s=settings.store_retry_s)
    if settings.kurrentdb_uri is None:
        raise ValueError(
            "HUB_EVENT_STORE=kurrentdb needs HUB_KURRENTDB_URI (kurrentdb://host:2113?tls=false)"
        )
    from plumbing.eventstore.kurrentdb import KurrentDBEventStore  # lazy: grpc only when chosen

    return await KurrentDBEventStore.connect(
        settings.kurrentdb_uri.get_secret_value(), retry_s=settings.store_retry_s
    )
