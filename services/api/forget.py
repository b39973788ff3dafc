"""``POST /v1/customers/{id}/forget``: the right to erasure, for administrators only.

The work is :func:`plumbing.erasure.forget` (crypto-shredding): the answer says which customers were
forgotten, where the ``customer.forgotten`` event landed (read your write with ``min_position``) and
how many raw blobs were deleted. Forgetting twice is harmless: the keys are already gone.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from plumbing.access.fastapi import AccessDep, guarded_router, secured
from plumbing.access.policy import Permission
from plumbing.blobs import FileBlobStore
from plumbing.erasure import UnknownCustomer, forget
from plumbing.eventstore.postgres import Conn
from plumbing.http import ApiError, ErrorResponse
from services.api.settings import ApiSettings

_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such customer"}
}


class ForgetBody(BaseModel):
    """Why: a short code or ticket reference, never text about the person (it is kept for ever)."""

    reason: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")


class ForgetAnswer(BaseModel):
    customer_id: UUID
    forgotten_ids: list[UUID]
    event_id: UUID
    position: int
    keys_destroyed: int
    identities_removed: int
    blobs_erased: int


def router(settings: ApiSettings) -> APIRouter:
    routes = guarded_router(tags=["admin"])
    blobs = FileBlobStore(settings.blob_dir)

    @routes.post(
        "/v1/customers/{customer_id}/forget",
        response_model=ForgetAnswer,
        responses=_RESPONSES,
        status_code=201,
        openapi_extra=secured(Permission.ADMIN),
    )
    async def forget_customer(
        request: Request, access: AccessDep, customer_id: UUID, body: ForgetBody
    ) -> ForgetAnswer:
        """Forget a customer and everyone merged into it: personal fields read as erased from now on."""
        pool = request.app.state.pool
        conn: Conn
        async with pool.connection() as conn:
            try:
                done = await forget(conn, blobs, customer_id, actor=access.principal.id, reason=body.reason)
            except UnknownCustomer as exc:
                raise ApiError(404, "customer_not_found", str(exc)) from exc
        return ForgetAnswer(
            customer_id=customer_id,
            forgotten_ids=list(done.event.forgotten_ids),
            event_id=done.event.event_id,
            position=done.position,
            keys_destroyed=done.keys_destroyed,
            identities_removed=done.identities_removed,
            blobs_erased=len(done.event.erased_blobs),
        )

    return routes
