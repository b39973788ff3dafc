"""The safety net behind masks by kind: a route whose answer carries a contact in free text (no field
marks it) still never shows it to a role that masks contacts, in JSON or in CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import Response

from plumbing.access.fastapi import guarded_router, secured
from plumbing.access.policy import Permission
from plumbing.access.scrub import MARKER
from services.api.app import build_app
from services.api.settings import ApiSettings
from tests.support.access import KeyIssuer
from tests.support.api_app import Seeded, bearer

pytestmark = pytest.mark.security


def _careless_routes(seeded: Seeded) -> Any:
    """Routes that forget every mask: free text naming the customer, as JSON and as CSV."""
    routes = guarded_router(tags=["test"])
    person = seeded.chatter_person
    text = f"Call {person.name} on {person.phone} or write to {person.email.upper()}"

    @routes.get("/v1/test/notes/{customer_id}", openapi_extra=secured(Permission.READ_CARD))
    async def notes(customer_id: UUID) -> dict[str, Any]:
        return {"customer_id": str(customer_id), "note": text, "digits": person.phone.removeprefix("+")}

    @routes.get("/v1/test/notes.csv", openapi_extra=secured(Permission.READ_CARD))
    async def notes_csv() -> Response:
        return Response(f"customer_id,note\n{seeded.chatter},{text}\n", media_type="text/csv")

    return routes


@pytest.fixture
async def app(database: str, seeded: Seeded) -> AsyncIterator[FastAPI]:
    built = build_app(ApiSettings(pg_dsn=database))  # type: ignore[arg-type]
    built.include_router(_careless_routes(seeded))
    async with built.router.lifespan_context(built):
        yield built


async def _get(app: FastAPI, url: str, key: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        return await client.get(url, headers=bearer(key))


async def test_contacts_and_names_in_free_text_are_scrubbed_for_the_analyst_and_kept_for_others(
    app: FastAPI, api_keys: KeyIssuer, seeded: Seeded
) -> None:
    person = seeded.chatter_person
    analyst = api_keys.issue(["marketing_analyst"], "analyst-1")
    service = api_keys.issue(["service_account"], "svc-1")
    url = f"/v1/test/notes/{seeded.chatter}"

    masked = await _get(app, url, analyst)
    clear = await _get(app, url, service)

    assert masked.status_code == 200
    assert masked.json() == {
        "customer_id": str(seeded.chatter),
        "note": f"Call {MARKER} on {MARKER} or write to {MARKER}",
        "digits": MARKER,
    }
    assert person.email in clear.text.lower() and person.phone in clear.text and person.name in clear.text


async def test_a_csv_answer_is_scrubbed_too(app: FastAPI, api_keys: KeyIssuer, seeded: Seeded) -> None:
    person = seeded.chatter_person
    analyst = api_keys.issue(["marketing_analyst"], "analyst-2")

    answer = await _get(app, "/v1/test/notes.csv", analyst)

    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.text.splitlines()[1] == f"{seeded.chatter},Call {MARKER} on {MARKER} or write to {MARKER}"
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert person.email not in answer.text.lower()
