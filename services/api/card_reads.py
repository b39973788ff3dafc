"""What the card routes add to a stored card: the sales section, where a merged-away id led, search
pages, and one attribute's history (``GET /v1/customers/{customer_id}/attributes/{name}/history``).

Field masks apply everywhere: a role that may not see an attribute's history (a hidden field, or an
attribute of a masked kind) gets 403 for it, whatever the customer (the refusal depends on the role,
never on the row), and search is refused to roles that may not see the names and contacts it matches
on, so a search can never tell them what they cannot read.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel, JsonValue

from contracts import AttributeName
from contracts.base import STORED
from contracts.read.card_parts import AttributeChange, Profile
from contracts.read.card_search import query_term
from contracts.read.customer_card import CustomerCard
from contracts.read.kinds import ATTRIBUTE_KINDS, PersonalBy, PersonalKind
from plumbing.access.access_log import Outcome
from plumbing.access.fastapi import Access, AccessDep, control_of, guarded_router, secured
from plumbing.access.kinds import kinds_of_field
from plumbing.access.policy import Permission, RowResource
from plumbing.access.principal import RowScope
from plumbing.eventstore.postgres import Conn
from plumbing.http import ApiError, ErrorResponse
from services.api import store
from services.api.read_your_writes import MinPosition, WaitMs, wait_for_position
from services.api.sales_http import pool_of
from services.api.sales_reads import CustomerSales, SalesReads
from services.api.sales_scope import StaffScope

CARD_VIEW = "customer_card"
#: Card fields a search matches on; a role hiding any of them may not search.
SEARCHED_FIELDS = ("display_name", "emails", "phones", "identities", "profile", "profile.name")
#: Kinds of values a search matches on; a role masking any of them may not search.
SEARCHED_KINDS = frozenset({PersonalKind.NAMES, PersonalKind.CONTACTS})
_BY_ATTRIBUTE = PersonalBy("attribute", ATTRIBUTE_KINDS)
#: Shortest search prefix (after folding): shorter ones match most of the customers.
MIN_QUERY = 2


class AttributeHistory(BaseModel):
    """One attribute of a card: its current value and every change, newest first.

    ``requested_id`` is set when the id asked for was merged into ``customer_id``.
    """

    customer_id: UUID
    requested_id: UUID | None = None
    attribute: AttributeName
    current: Annotated[JsonValue, _BY_ATTRIBUTE] = None
    changes: Annotated[list[AttributeChange], _BY_ATTRIBUTE]


def hidden(access: Access, *paths: str) -> bool:
    """Whether the caller's role masks any of ``paths`` of the card (or a field they sit in)."""
    masked = access.grant.hidden.get(CARD_VIEW, frozenset())
    return any(path in masked or path.split(".", 1)[0] in masked for path in paths)


def attribute_hidden(access: Access, name: AttributeName) -> bool:
    """Whether the caller may not see attribute ``name``: a hidden field, or a value of a masked kind."""
    if hidden(access, f"attribute_history.{name.value}", f"profile.{name.value}"):
        return True
    return bool(kinds_of_field(Profile, name.value) & access.grant.masked)


async def sales_section(
    conn: Conn, request: Request, access: Access, reads: SalesReads, card: dict[str, Any], now: datetime
) -> CustomerSales | None:
    """The card's deals, open tasks and notes when the caller's roles may read deals (in the deals
    rows those roles give), else None: then the card carries no sales section at all."""
    principal = access.principal
    grant = control_of(request).policy.grant(principal.roles, Permission.READ_DEALS, principal.scopes)
    if grant is None:
        return None
    scope = StaffScope.of(principal.rows(grant.rows[RowResource.DEALS]), reads.rules.staff)
    return await reads.section(conn, scope, card, now)


def redirected(requested: UUID, card: dict[str, Any]) -> dict[str, Any]:
    """The fields saying that ``requested`` was merged away and this card speaks for it (or none)."""
    served = UUID(card["customer_id"])
    return {} if served == requested else {"requested_id": str(requested)}


class BadSearchCursor(ValueError):
    """A search cursor this API did not issue."""


def encode_search_cursor(after: UUID) -> str:
    return base64.urlsafe_b64encode(f"c:{after}".encode()).decode().rstrip("=")


def decode_search_cursor(cursor: str) -> UUID:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = text.partition(":")
        if prefix != "c":
            raise ValueError("not a search cursor")
        return UUID(value)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadSearchCursor("cursor is not one this API issued") from exc


async def search_page(
    conn: Conn, access: Access, q: str, cursor: str | None, limit: int, region: str = "US"
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the cards whose name, email or phone starts with ``q`` (the caller's rows, by
    customer id), each recorded in the access log, and the cursor of the next page (None: last page).
    A whole phone number in the national form of ``region`` (the default region) is found too.

    403 for a role that may not see what is searched; 422 for a query too short to narrow anything.
    """
    if hidden(access, *SEARCHED_FIELDS) or SEARCHED_KINDS & access.grant.masked:
        await access.record(conn, Outcome.FORBIDDEN, None)
        message = "your role may not see names and contacts, so it may not search by them"
        raise ApiError(403, "search_not_allowed", message)
    prefix = query_term(q, region)
    if len(prefix) < MIN_QUERY:
        raise ApiError(422, "query_too_short", f"give at least {MIN_QUERY} letters or digits to search by")
    try:
        after = decode_search_cursor(cursor) if cursor else None
    except BadSearchCursor as exc:
        raise ApiError(422, "invalid_cursor", str(exc)) from exc
    cards = await store.search_cards(conn, prefix, access.rows(RowResource.CUSTOMERS), after, limit + 1)
    page = cards[:limit]
    for card in page:
        served = UUID(card["customer_id"])
        await access.record(conn, Outcome.OK, served, served)
    next_cursor = encode_search_cursor(UUID(page[-1]["customer_id"])) if len(cards) > limit else None
    return page, next_cursor


async def _record_miss(conn: Conn, access: Access, customer_id: UUID) -> None:
    exists = await store.card(conn, customer_id, RowScope.everything()) is not None
    await access.record(conn, Outcome.HIDDEN if exists else Outcome.NOT_FOUND, customer_id)


def router() -> APIRouter:
    routes = guarded_router(tags=["customers"])

    @routes.get(
        "/v1/customers/{customer_id}/attributes/{name}/history",
        response_model=AttributeHistory,
        responses={
            403: {"model": ErrorResponse, "description": "the caller's role may not see this attribute"},
            404: {"model": ErrorResponse, "description": "no such customer (or not one the caller may see)"},
        },
        openapi_extra=secured(Permission.READ_CARD, audited=True),
    )
    async def attribute_history(
        request: Request,
        access: AccessDep,
        customer_id: UUID,
        name: AttributeName,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
    ) -> AttributeHistory:
        """Every change of one profile attribute (value, when, source event, actor), newest first."""
        async with pool_of(request).connection() as conn:
            await wait_for_position(conn, store.card_checkpoint, min_position, wait_ms, "customer card")
            if attribute_hidden(access, name):
                await access.record(conn, Outcome.FORBIDDEN, customer_id)
                raise ApiError(403, "field_hidden", f"your role may not see the attribute {name.value}")
            card = await store.card(conn, customer_id, access.rows(RowResource.CUSTOMERS))
            if card is None:
                await _record_miss(conn, access, customer_id)
                raise ApiError(404, "customer_not_found", f"no customer {customer_id}")
            await access.record(conn, Outcome.OK, customer_id, UUID(card["customer_id"]))
        # A card folded before attributes existed has none; one the hub wrote passed the edge checks.
        stored = CustomerCard.model_validate(card, context=STORED)
        return AttributeHistory(
            customer_id=stored.customer_id,
            attribute=name,
            current=stored.profile.model_dump(mode="json")[name.value],
            changes=stored.attribute_history.of(name)[::-1],
            **redirected(customer_id, card),
        )

    return routes
