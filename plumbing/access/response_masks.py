"""Masks by kind over a whole answer, applied by the guard after the handler, so no handler can forget.

For a caller whose roles mask kinds of personal values (:class:`~contracts.read.kinds.PersonalKind`):

1. a JSON answer is walked with the route's response model, and every field marked with a masked kind
   is removed wherever it sits (:mod:`plumbing.access.kinds`);
2. then, in JSON and text answers alike (CSV exports, HTML report pages), the safety net: the personal
   values of those kinds of every customer the answer or the request names (by id) are looked up and
   replaced by :data:`~plumbing.access.scrub.MARKER` wherever they still appear (free text a person
   typed, a cell of a CSV file).

Answers that are not JSON or text (the report pages' static scripts) are passed as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from contracts.read.kinds import PersonalKind
from plumbing.access.control import AccessControl
from plumbing.access.kinds import mask_kinds, plan
from plumbing.access.scrub import Scrubber

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: Customers looked up per query of the safety net.
_BATCH = 1000


async def mask_response(
    control: AccessControl, request: Request, response: Response, model: Any, masked: frozenset[PersonalKind]
) -> Response:
    """``response`` without values of the ``masked`` kinds (the same object when nothing changed)."""
    body = getattr(response, "body", None)
    if not masked or not isinstance(body, bytes) or not body:
        return response
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        document = json.loads(body)
        if model is not None:
            document = mask_kinds(plan(model), document, masked)
        scrubber = await _scrubber(control, request, body.decode(), masked)
        changed = json.dumps(
            scrubber.document(document), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()
    elif media.startswith("text/"):
        text = body.decode(response.charset or "utf-8", errors="replace")
        scrubber = await _scrubber(control, request, text, masked)
        changed = scrubber.text(text).encode(response.charset or "utf-8")
    else:
        return response
    return response if changed == body else _rebuilt(response, changed)


async def _scrubber(
    control: AccessControl, request: Request, text: str, masked: frozenset[PersonalKind]
) -> Scrubber:
    """The safety net for the customers named in ``text`` and in the request's path and query."""
    if control.personal_values is None:
        return Scrubber(())
    named = [text, *map(str, request.path_params.values()), *request.query_params.values()]
    customer_ids = sorted({UUID(found) for part in named for found in _UUID.findall(part)})
    if not customer_ids:
        return Scrubber(())
    values: set[str] = set()
    async with control.pool.connection() as conn:
        for batch in _batches(customer_ids):
            values |= await control.personal_values(conn, batch, masked)
    return Scrubber(values)


def _batches(ids: list[UUID]) -> Iterable[list[UUID]]:
    for start in range(0, len(ids), _BATCH):
        yield ids[start : start + _BATCH]


def _rebuilt(response: Response, body: bytes) -> Response:
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(body, status_code=response.status_code, headers=headers, background=response.background)
