"""Staff upload a document for a customer: ``POST /v1/customers/{customer_id}/documents``.

The body is either the file itself (its ``Content-Type``; ``filename`` and ``title`` as query
parameters) or ``multipart/form-data`` with a ``file`` part (and optionally ``title``). Larger than
``HUB_MAX_DOCUMENT_BYTES`` is refused with 413 while reading, before anything is stored. The bytes go to
the content-addressed blob store first (durable before the event exists; storing them again is free),
then ``customer.document.attached`` is appended in the sales commands' shell, the caller as actor:
404 for a customer that does not exist or is outside the caller's rows, 409 for one merged into
another. The answer carries the blob's address and the store ``position``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.types import Message

from contracts import BlobRef, DocumentAttached, customer_stream
from contracts.documents import CONTENT_TYPE_PATTERN
from contracts.read.kinds import Personal, PersonalKind
from plumbing.access.fastapi import Access, AccessDep, guarded_router, secured
from plumbing.access.policy import Permission
from plumbing.blobs import FileBlobStore
from plumbing.eventstore import ANY, NewEvent
from plumbing.eventstore.postgres import Conn, append_locked
from plumbing.http import ApiError, ErrorResponse
from services.api.merge_store import require_customer, require_not_merged
from services.api.sales_commands import Answer
from services.api.sales_errors import CommandRefused
from services.api.sales_http import REFUSALS, Command, IdempotencyHeader, pool_of
from services.api.settings import ApiSettings

#: Room for the multipart envelope (boundaries, part headers, a title) around the file itself.
MULTIPART_SLACK = 64 * 1024
_OCTETS = "application/octet-stream"
_CONTENT_TYPE = re.compile(CONTENT_TYPE_PATTERN)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
RESPONSES: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    404: {"model": ErrorResponse, "description": "no such customer (or not one the caller may see)"},
    409: {"model": ErrorResponse, "description": "the customer was merged into another one"},
    413: {"model": ErrorResponse, "description": "the document is larger than the configured limit"},
    422: {"model": ErrorResponse, "description": "empty body, bad content type, or no file part"},
}
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string", "maxLength": 300},
                    },
                }
            },
        },
    }
}


class Upload(BaseModel):
    """What was uploaded, as the idempotency fingerprint and the event see it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str
    size_bytes: int
    content_type: str = Field(max_length=200)
    filename: str | None = Field(default=None, max_length=300)
    title: str | None = Field(default=None, max_length=300)


class DocumentStored(BaseModel):
    customer_id: UUID
    event_id: UUID
    sha256: str
    size_bytes: int
    content_type: str
    filename: Annotated[str | None, Personal(PersonalKind.DOCUMENTS)]
    title: Annotated[str | None, Personal(PersonalKind.DOCUMENTS)]
    position: int


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "document_too_large", f"a document may have at most {limit} bytes")


async def read_capped(request: Request, cap: int, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``cap`` bytes (or declares more)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _clean_name(name: str | None) -> str | None:
    """The last path segment of a client's file name, without control characters, clipped."""
    if not name:
        return None
    cleaned = _UNSAFE_NAME.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return cleaned[:300] or None


def _content_type(given: str | None) -> str:
    content_type = (given or _OCTETS).strip()
    if not _CONTENT_TYPE.match(content_type) or len(content_type) > 200:
        message = f"{content_type[:100]!r} is not a media type (type/subtype)"
        raise ApiError(422, "invalid_content_type", message)
    return content_type


async def _multipart(request: Request, body: bytes) -> tuple[bytes, str | None, str | None, str | None]:
    """(file bytes, content type, file name, title) of a ``multipart/form-data`` body read already."""

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=1, max_fields=4)
    try:
        part, title = form.get("file"), form.get("title")
        if not isinstance(part, UploadFile):
            raise ApiError(422, "missing_file", "the multipart body needs a file part named 'file'")
        data = await part.read()
        return data, part.content_type, part.filename, title if isinstance(title, str) else None
    finally:
        await form.close()


async def _checked_customer(access: Access, request: Request, customer_id: UUID) -> None:
    """Refuse before storing bytes for a customer the command would refuse anyway (checked again
    inside the command, under the append lock)."""
    async with pool_of(request).connection() as conn:
        try:
            require_not_merged(await require_customer(conn, access, customer_id))
        except CommandRefused as exc:
            raise ApiError(exc.status, exc.code, exc.message) from exc


async def _attach(conn: Conn, command: Command, customer_id: UUID, upload: Upload) -> Answer:
    require_not_merged(await require_customer(conn, command.access, customer_id))
    event = DocumentAttached(
        **DocumentAttached.type_fields(),
        **command.stamp.envelope(0),
        customer_id=customer_id,
        document=BlobRef(sha256=upload.sha256, size_bytes=upload.size_bytes),
        content_type=upload.content_type,
        filename=upload.filename,
        title=upload.title,
    )
    meta = {"actor": command.access.principal.id, "customer_id": str(customer_id)}
    appended = await append_locked(conn, customer_stream(customer_id), [NewEvent(event, meta)], ANY)
    stored = DocumentStored(
        customer_id=customer_id, event_id=event.event_id, position=appended.last_position, **dict(upload)
    )
    return Answer(201, stored.model_dump(mode="json"))


def router(settings: ApiSettings) -> APIRouter:
    routes = guarded_router(tags=["customers"])
    blobs = FileBlobStore(settings.blob_dir)
    limit = settings.max_document_bytes

    @routes.post(
        "/v1/customers/{customer_id}/documents",
        response_model=DocumentStored,
        responses=RESPONSES,
        status_code=201,
        openapi_extra={**secured(Permission.RUN_COMMANDS), **_BODY},
    )
    async def upload_document(
        request: Request,
        access: AccessDep,
        customer_id: UUID,
        filename: Annotated[str | None, Query(max_length=300)] = None,
        title: Annotated[str | None, Query(max_length=300)] = None,
        key: IdempotencyHeader = None,
    ) -> JSONResponse:
        """Upload a document (raw body or multipart) for the customer; it appears in the card's documents."""
        await _checked_customer(access, request, customer_id)
        given_type = request.headers.get("content-type", "")
        multipart = given_type.lower().startswith("multipart/form-data")
        body = await read_capped(request, limit + MULTIPART_SLACK if multipart else limit, limit)
        if multipart:
            data, part_type, part_name, part_title = await _multipart(request, body)
            given_type, filename, title = part_type or _OCTETS, part_name or filename, part_title or title
        else:
            data = body
        if len(data) > limit:
            raise _too_large(limit)
        if not data:
            raise ApiError(422, "empty_document", "the document is empty")
        content_type = _content_type(given_type)
        ref = await blobs.put(data)
        upload = Upload(
            sha256=ref.sha256,
            size_bytes=ref.size_bytes,
            content_type=content_type,
            filename=_clean_name(filename),
            title=(title or "").strip()[:300] or None,
        )
        command = Command(request, access, key, upload)
        return await command.run(lambda conn: _attach(conn, command, customer_id, upload))

    return routes
