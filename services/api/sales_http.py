"""What every sales command route shares: the idempotency header, the stamp, and mapping refusals to HTTP.

Refusals are translated here, once: domain refusals keep their own status (404, 409, 422, 403), a
version conflict the store itself detects is a 409 too, and an unreachable store is a 503 to retry.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

import structlog
from fastapi import Header, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from contracts import event_id_for
from plumbing.access.fastapi import Access, control_of
from plumbing.eventstore import EventStoreUnavailable, WrongExpectedVersion
from plumbing.eventstore.postgres import Conn
from plumbing.http import ApiError, ErrorResponse
from services.api.sales_commands import (
    DEFAULT_KEY_TTL,
    KEY_PATTERN,
    Answer,
    IdempotencyKey,
    Work,
    request_fingerprint,
    run_command,
)
from services.api.sales_errors import CommandRefused
from services.api.sales_stamp import Stamp

IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="repeat a command safely: the same key and request return the first answer",
    ),
]
REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such deal or task (or not one the caller may touch)"},
    409: {
        "model": ErrorResponse,
        "description": "wrong expected_version, or not possible in the current state",
    },
    422: {
        "model": ErrorResponse,
        "description": "invalid command, or an idempotency key reused for another request",
    },
}
log = structlog.get_logger()


def pool_of(request: Request) -> AsyncConnectionPool[Conn]:
    pool: AsyncConnectionPool[Conn] = request.app.state.pool
    return pool


class Command:
    """One command request: who, when, under which idempotency key (kept for ``key_ttl``)."""

    def __init__(
        self,
        request: Request,
        access: Access,
        key: str | None,
        body: BaseModel | None,
        key_ttl: timedelta = DEFAULT_KEY_TTL,
    ) -> None:
        self.request = request
        self.access = access
        dumped = body.model_dump(mode="json") if body is not None else {}
        fingerprint = request_fingerprint(request.method, request.url.path, dumped)
        principal = access.principal.id
        self.key = IdempotencyKey(principal, key, fingerprint, key_ttl) if key is not None else None
        # The request's fingerprint is part of the seed: a key reused for another request after it
        # expired makes new events, while a repeat of the same request still derives the same ids
        # (the store's idempotency by event id catches it even after its key is forgotten).
        seed = (
            event_id_for("sales-command", f"{principal}\x1f{key}\x1f{fingerprint}")
            if key is not None
            else uuid.uuid4()
        )
        self.stamp = Stamp(
            actor=principal, at=control_of(request).clock(), correlation_id=access.request_id, seed=seed
        )

    async def run(self, work: Work) -> JSONResponse:
        """Run ``work`` in the command transaction and answer; refusals become the hub's error shape."""
        route = self.access.route
        try:
            answer = await run_command(pool_of(self.request), self.key, work)
        except CommandRefused as exc:
            log.info("sales_command_refused", route=route, code=exc.code, status=exc.status)
            raise ApiError(exc.status, exc.code, exc.message) from exc
        except WrongExpectedVersion as exc:
            log.info("sales_command_conflict", route=route, stream_id=exc.stream_id)
            raise ApiError(409, "wrong_expected_version", str(exc)) from exc
        except EventStoreUnavailable as exc:
            log.warning("sales_command_store_unavailable", route=route)
            raise ApiError(
                503, "store_unavailable", "the event store cannot be reached", {"Retry-After": "1"}
            ) from exc
        log.info("sales_command", route=route, status=answer.status, replayed=answer.replayed, **_ids(answer))
        return _response(answer)


def _ids(answer: Answer) -> dict[str, Any]:
    return {name: value for name, value in answer.body.items() if name.endswith("_id") or name == "position"}


def _response(answer: Answer) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)
