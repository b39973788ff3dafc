"""The read API other teams use: customer cards, lookup by identity, and the timeline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, FastAPI, Query, Request
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from contracts import Identity, IdentityKind, InvalidIdentity, normalise_identity
from contracts.read.customer_card import CustomerCard
from plumbing.eventstore.postgres import Conn
from plumbing.http import ApiError, ErrorResponse, install_error_handlers
from services.api import store
from services.api.cursor import BadCursor, decode_cursor, encode_cursor
from services.api.settings import ApiSettings

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such customer"}
}
_CATCH_UP_POLL_S = 0.05
MinPosition = Annotated[
    int | None, Query(ge=0, description="wait until the read model includes this log position")
]
WaitMs = Annotated[int, Query(ge=0, le=10_000, description="how long to wait for min_position")]


class CustomerList(BaseModel):
    items: list[CustomerCard]


class TimelineItem(BaseModel):
    position: int
    event_id: UUID
    event_type: str
    channel: str
    provider: str
    summary: str
    occurred_at: datetime


class TimelinePage(BaseModel):
    items: list[TimelineItem]
    next_cursor: str | None


def _pool(request: Request) -> AsyncConnectionPool[Conn]:
    pool: AsyncConnectionPool[Conn] = request.app.state.pool
    return pool


def _customer_not_found(customer_id: UUID) -> ApiError:
    return ApiError(404, "customer_not_found", f"no customer {customer_id}")


async def _wait_for_position(conn: Conn, min_position: int | None, wait_ms: int) -> None:
    """Read-your-writes: wait (bounded) until the cards include ``min_position``."""
    if min_position is None:
        return
    deadline = asyncio.get_running_loop().time() + wait_ms / 1000
    while await store.card_checkpoint(conn) < min_position:
        if asyncio.get_running_loop().time() >= deadline:
            raise ApiError(
                503,
                "not_caught_up",
                f"read model has not reached position {min_position} yet",
                {"Retry-After": "1"},
            )
        await asyncio.sleep(_CATCH_UP_POLL_S)


def _lookup_identity(email: str | None, phone: str | None, identity: str | None, region: str) -> Identity:
    given = [
        (name, value) for name, value in (("email", email), ("phone", phone), ("identity", identity)) if value
    ]
    if len(given) != 1:
        raise ApiError(422, "invalid_lookup", "give exactly one of email, phone or identity")
    name, value = given[0]
    try:
        if name == "identity":
            return Identity.parse_key(value, default_region=region)
        return normalise_identity(IdentityKind(name), value, default_region=region)
    except InvalidIdentity as exc:
        raise ApiError(422, "invalid_identity", f"{name}: {exc}") from exc


def customers_router(settings: ApiSettings) -> APIRouter:
    router = APIRouter(prefix="/v1/customers", tags=["customers"])

    @router.get("", response_model=CustomerList)
    async def lookup_customers(
        request: Request,
        email: str | None = None,
        phone: str | None = None,
        identity: Annotated[str | None, Query(description="kind:value or kind:provider:value")] = None,
    ) -> dict[str, Any]:
        """Find the customer an identity belongs to (zero or one item)."""
        key = _lookup_identity(email, phone, identity, settings.default_region).key
        async with _pool(request).connection() as conn:
            found = await store.card_by_identity(conn, key)
        return {"items": [found] if found else []}

    @router.get("/{customer_id}", response_model=CustomerCard, responses=NOT_FOUND)
    async def get_customer(
        request: Request, customer_id: UUID, min_position: MinPosition = None, wait_ms: WaitMs = 2000
    ) -> dict[str, Any]:
        """The unified customer card."""
        async with _pool(request).connection() as conn:
            await _wait_for_position(conn, min_position, wait_ms)
            found = await store.card(conn, customer_id)
        if found is None:
            raise _customer_not_found(customer_id)
        return found

    @router.get("/{customer_id}/timeline", response_model=TimelinePage, responses=NOT_FOUND)
    async def get_timeline(
        request: Request,
        customer_id: UUID,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Every interaction of the customer, newest first, with cursor pagination."""
        try:
            before = decode_cursor(cursor) if cursor else None
        except BadCursor as exc:
            raise ApiError(422, "invalid_cursor", str(exc)) from exc
        async with _pool(request).connection() as conn:
            found = await store.card(conn, customer_id)
            if found is None:
                raise _customer_not_found(customer_id)
            page = await store.timeline(conn, UUID(found["customer_id"]), before, limit)
        return {
            "items": page.items,
            "next_cursor": encode_cursor(page.next_before) if page.next_before is not None else None,
        }

    return router


def build_app(settings: ApiSettings) -> FastAPI:
    """The API app; the pool opens with the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dsn = settings.pg_dsn.get_secret_value()
        async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=settings.api_pool_size) as pool:
            app.state.pool = pool
            yield

    app = FastAPI(title="Interaction Hub read API", version="1", lifespan=lifespan)
    install_error_handlers(app)

    @app.get("/health", tags=["health"])
    async def health(request: Request) -> dict[str, Any]:
        """Liveness plus the log position the customer cards include."""
        async with _pool(request).connection() as conn:
            return {"status": "ok", "card_checkpoint": await store.card_checkpoint(conn)}

    app.include_router(customers_router(settings))
    return app
