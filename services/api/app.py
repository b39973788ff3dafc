"""The read API other teams use: customer cards, lookup by identity, and the timeline.

Every route is a :class:`~plumbing.access.fastapi.GuardedRoute`: the caller is authenticated and
authorised before the handler runs; handlers put ``access.rows(...)`` into their SQL and pass what
they return through ``access.view(...)``. A customer outside the caller's rows answers exactly like
one that does not exist; every card or timeline read is appended to the access log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from uuid import UUID

import limits
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, create_model

from contracts import (
    INTERACTION_EVENTS,
    Channel,
    Identity,
    IdentityKind,
    InvalidIdentity,
    normalise_identity,
)
from contracts.base import STORED
from contracts.read.customer_card import CustomerCard, InteractionView
from contracts.read.kinds import PersonalKind
from plumbing.access import MIGRATIONS as ACCESS_MIGRATIONS
from plumbing.access.access_log import Outcome
from plumbing.access.control import AccessControl, Clock, utc_now
from plumbing.access.fastapi import Access, AccessDep, GuardedRoute, guarded_router, public, secured
from plumbing.access.jwt import JwtVerifier
from plumbing.access.masks import optional_view
from plumbing.access.policy import Permission, Policy, RowResource, load_policy
from plumbing.access.principal import RowScope
from plumbing.access.ratelimit import FailureLimiter
from plumbing.eventstore.postgres import Conn, autocommitted
from plumbing.http import ApiError, ErrorResponse, hub_app
from plumbing.migrations import apply_migrations_async
from services.api import (
    admin,
    analytics,
    attribute_commands,
    audit,
    card_reads,
    documents,
    forget,
    identity_commands,
    identity_corrections,
    merge_commands,
    metrics,
    sales_routes,
    store,
)
from services.api.cursor import BadCursor, decode_cursor, encode_cursor
from services.api.read_your_writes import MinPosition, WaitMs, wait_for_position
from services.api.sales_config import load_rules
from services.api.sales_reads import CustomerSales, SalesReads
from services.api.settings import ApiSettings

CARD_VIEW = "customer_card"
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such customer (or not one the caller may see)"}
}

#: The card as a caller sees it: the fields their role may not see are absent.
CustomerCardView = optional_view(CustomerCard, "CustomerCardView")
CustomerList = create_model(
    "CustomerList",
    items=(list[CustomerCardView], ...),  # type: ignore[valid-type]
    next_cursor=(str | None, None),  # a search's next page; lookups by identity have one page
)
#: ``requested_id``: the id asked for, when it was merged into the customer answered for.
#: ``sales``: the customer's deals, open tasks and notes, for callers whose roles may read deals.
CustomerCardAnswer = create_model(
    "CustomerCardAnswer",
    __base__=CustomerCardView,
    requested_id=(UUID | None, None),
    sales=(CustomerSales | None, None),
)
_INTERACTION_TYPES = sorted(cls.EVENT_TYPE for cls in INTERACTION_EVENTS)


#: A timeline entry has exactly the shape of a card's recent interaction.
TimelineItem = InteractionView


class TimelinePage(BaseModel):
    items: list[TimelineItem]
    next_cursor: str | None


def _pool(request: Request) -> AsyncConnectionPool[Conn]:
    pool: AsyncConnectionPool[Conn] = request.app.state.pool
    return pool


def _customer_not_found(customer_id: UUID) -> ApiError:
    """The one answer for "no such customer" and "not a customer you may see"."""
    return ApiError(404, "customer_not_found", f"no customer {customer_id}")


async def _wait_for_position(conn: Conn, min_position: int | None, wait_ms: int) -> None:
    """Read-your-writes: wait (bounded) until the cards include ``min_position``."""
    await wait_for_position(conn, store.card_checkpoint, min_position, wait_ms, "customer card")


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


async def _outcome_of_miss(conn: Conn, customer_id: UUID) -> Outcome:
    """For the access log only: whether a miss was a hidden customer or none at all."""
    exists = await store.card(conn, customer_id, RowScope.everything()) is not None
    return Outcome.HIDDEN if exists else Outcome.NOT_FOUND


# The card, lookup and timeline reads run in autocommit (``autocommitted``): each of their statements is a
# transaction of its own (no BEGIN and COMMIT or ROLLBACK round trips around them), and the access-log row
# is durable when its INSERT returns, before the answer leaves. Read committed isolation takes a snapshot
# per statement either way. Half the round trips of a card read.


async def _read_card(conn: Conn, access: Access, customer_id: UUID) -> dict[str, Any]:
    """The card the caller may see, recorded in the access log; 404 otherwise (also recorded)."""
    found = await store.card(conn, customer_id, access.rows(RowResource.CUSTOMERS))
    if found is None:
        await access.record(conn, await _outcome_of_miss(conn, customer_id), customer_id)
        raise _customer_not_found(customer_id)
    await access.record(conn, Outcome.OK, customer_id, UUID(found["customer_id"]))
    return found


def _card_view(access: Access, found: dict[str, Any]) -> dict[str, Any]:
    """The card as it leaves the API: validated against the contract, then masked for the caller."""
    card = CustomerCard.model_validate(found, context=STORED)  # written by the hub: edge checks done
    return access.view(CARD_VIEW, card.model_dump(mode="json"), CustomerCard)


async def _refuse_contact_lookup(request: Request, access: Access) -> None:
    """A role that may not see contacts may not look customers up by one either: whether an address
    finds a customer would tell it what it may not read. Recorded in the access log as forbidden."""
    if access.grant.sees(PersonalKind.CONTACTS):
        return
    async with _pool(request).connection() as conn:
        await access.record(conn, Outcome.FORBIDDEN, None)
    message = "your role may not see contacts, so it may not look customers up by email, phone or identity"
    raise ApiError(403, "lookup_not_allowed", message)


def customers_router(settings: ApiSettings) -> APIRouter:
    router = guarded_router(tags=["customers"])
    sales = SalesReads(load_rules(settings.pipelines_file, settings.staff_file))

    @router.get(
        "/v1/customers",
        response_model=CustomerList,
        openapi_extra=secured(Permission.READ_CARD, audited=True),
    )
    async def lookup_customers(
        request: Request,
        access: AccessDep,
        email: str | None = None,
        phone: str | None = None,
        identity: Annotated[str | None, Query(description="kind:value or kind:provider:value")] = None,
        q: Annotated[
            str | None, Query(max_length=200, description="search: name, email or phone prefix")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=100, description="search page size")] = 20,
        cursor: Annotated[str | None, Query(description="search: next_cursor of the previous page")] = None,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
    ) -> JSONResponse:
        """Find the customers an identity belongs to (one, or several sharing it), or search with ``q``:
        customers whose name (or a word of it), email or phone starts with ``q``, a page at a time.

        A role that masks contacts may not look up (403 ``lookup_not_allowed``); one that masks names or
        contacts may not search (403 ``search_not_allowed``)."""
        if q is not None:
            if email or phone or identity:
                raise ApiError(422, "invalid_lookup", "give q alone, or one of email, phone or identity")
            async with _pool(request).connection() as conn:
                await _wait_for_position(conn, min_position, wait_ms)
                cards, next_cursor = await card_reads.search_page(
                    conn, access, q, cursor, limit, settings.default_region
                )
            return JSONResponse(
                {"items": [_card_view(access, card) for card in cards], "next_cursor": next_cursor}
            )
        await _refuse_contact_lookup(request, access)
        key = _lookup_identity(email, phone, identity, settings.default_region)
        async with _pool(request).connection() as conn, autocommitted(conn):  # see _read_card
            await _wait_for_position(conn, min_position, wait_ms)
            found = await store.cards_by_identity(conn, key.key, access.rows(RowResource.CUSTOMERS))
            if not found:
                # For the access log only; the caller gets the same empty list either way.
                hidden = await store.cards_by_identity(conn, key.key, RowScope.everything())
                hidden_id = UUID(hidden[0]["customer_id"]) if hidden else None
                await access.record(conn, Outcome.HIDDEN if hidden else Outcome.NOT_FOUND, hidden_id)
            for card in found:
                found_id = UUID(card["customer_id"])
                await access.record(conn, Outcome.OK, found_id, found_id)
        return JSONResponse({"items": [_card_view(access, card) for card in found]})

    @router.get(
        "/v1/customers/{customer_id}",
        response_model=CustomerCardAnswer,
        responses=NOT_FOUND,
        openapi_extra=secured(Permission.READ_CARD, audited=True),
    )
    async def get_customer(
        request: Request,
        access: AccessDep,
        customer_id: UUID,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
    ) -> JSONResponse:
        """The unified customer card, without the fields the caller's role may not see.

        A merged-away id answers with the survivor's card and says so (``requested_id``, and the
        survivor's address in ``Content-Location``). Callers who may read deals also get ``sales``.
        """
        async with _pool(request).connection() as conn, autocommitted(conn):  # see _read_card
            await _wait_for_position(conn, min_position, wait_ms)
            found = await _read_card(conn, access, customer_id)
            now = request.app.state.access_control.clock()
            section = await card_reads.sales_section(conn, request, access, sales, found, now)
        answer = {**_card_view(access, found), **card_reads.redirected(customer_id, found)}
        if section is not None:
            answer["sales"] = section.model_dump(mode="json")
        served = f"/v1/customers/{found['customer_id']}"
        headers = {"Content-Location": served} if "requested_id" in answer else None
        return JSONResponse(answer, headers=headers)

    @router.get(
        "/v1/customers/{customer_id}/timeline",
        response_model=TimelinePage,
        responses=NOT_FOUND,
        openapi_extra=secured(Permission.READ_TIMELINE, audited=True),
    )
    async def get_timeline(
        request: Request,
        access: AccessDep,
        customer_id: UUID,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: str | None = None,
        channel: Annotated[list[Channel] | None, Query(description="only these channels")] = None,
        event_type: Annotated[
            list[str] | None, Query(alias="type", description="only these event types")
        ] = None,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
    ) -> dict[str, Any]:
        """Every interaction of the customer, newest first, with cursor pagination; ``channel`` and
        ``type`` (each repeatable) narrow it. A cursor is only valid with the filters it was issued for."""
        try:
            before = decode_cursor(cursor) if cursor else None
        except BadCursor as exc:
            raise ApiError(422, "invalid_cursor", str(exc)) from exc
        unknown = sorted(set(event_type or ()) - set(_INTERACTION_TYPES))
        if unknown:
            known = ", ".join(_INTERACTION_TYPES)
            raise ApiError(422, "invalid_event_type", f"unknown type {unknown[0]!r}; types: {known}")
        async with _pool(request).connection() as conn, autocommitted(conn):  # see _read_card
            await _wait_for_position(conn, min_position, wait_ms)
            found = await _read_card(conn, access, customer_id)
            page = await store.timeline(
                conn,
                UUID(found["customer_id"]),
                before,
                limit,
                channels=[c.value for c in channel or ()],
                event_types=event_type or (),
            )
        return {
            "items": page.items,
            "next_cursor": encode_cursor(page.next_before) if page.next_before is not None else None,
        }

    return router


def build_app(settings: ApiSettings, *, policy: Policy | None = None, clock: Clock = utc_now) -> FastAPI:
    """The API app; the pool and access control open with the app's lifespan.

    ``policy`` defaults to the file of ``HUB_ACCESS_POLICY_FILE`` (else ``deploy/access-policy.toml``);
    ``clock`` decides key expiry (tests move it).
    """
    policy = policy or load_policy(settings.access_policy_file)
    policy.check_view(CARD_VIEW, CustomerCard)
    jwt = JwtVerifier(settings) if settings.jwt_enabled else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dsn = settings.pg_dsn.get_secret_value()
        # the API owns keys, the access log and the sales commands' idempotency keys
        await apply_migrations_async(dsn, ACCESS_MIGRATIONS, sales_routes.MIGRATIONS)
        async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=settings.api_pool_size) as pool:
            app.state.pool = pool
            app.state.access_control = AccessControl(
                policy,
                pool,
                jwt=jwt,
                auth_failures=FailureLimiter(limits.parse(settings.auth_failure_limit)),
                personal_values=store.personal_values,
                clock=clock,
            )
            yield

    app = hub_app("Interaction Hub read API", lifespan)  # its OpenAPI document: guarded route below
    app.router.route_class = GuardedRoute  # routes declared on the app itself are guarded too

    @app.get("/health", tags=["health"], openapi_extra=public("liveness probe; no customer data"))
    async def health(request: Request) -> dict[str, Any]:
        """Liveness plus the log position the customer cards include."""
        async with _pool(request).connection() as conn:
            return {"status": "ok", "card_checkpoint": await store.card_checkpoint(conn)}

    @app.get("/openapi.json", include_in_schema=False, openapi_extra=secured(Permission.READ_API_DOCS))
    async def openapi_document() -> dict[str, Any]:
        """The interface description, for authenticated callers whose roles grant read_api_docs."""
        return app.openapi()

    app.include_router(customers_router(settings))
    app.include_router(identity_commands.router(settings))
    app.include_router(identity_corrections.router(settings))
    app.include_router(attribute_commands.router())
    app.include_router(documents.router(settings))
    app.include_router(card_reads.router())
    app.include_router(merge_commands.router())
    app.include_router(forget.router(settings))
    app.include_router(admin.router())
    app.include_router(audit.router(settings))
    app.include_router(sales_routes.router(settings))
    app.include_router(analytics.router(settings))
    metrics.instrument(app)  # GET /metrics (public, like /health) and per-route latency
    return app
