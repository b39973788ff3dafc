"""Failed authentications are limited per client address: after N refused credentials in a window, the
address gets 429 with Retry-After for everything, a valid key included, until the window passes; other
addresses are not affected."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from services.api.app import build_app
from services.api.settings import ApiSettings
from tests.support.access import KeyIssuer
from tests.support.api_app import Seeded, bearer

pytestmark = pytest.mark.security

ATTACKER, COLLEAGUE = "203.0.113.7", "198.51.100.9"
WRONG = "hub_0123456789abcdef_" + "x" * 43  # well formed, but no such key


def _guess(n: int) -> str:
    return f"hub_{n:016x}_" + "y" * 43


Clients = Callable[[str], httpx.AsyncClient]


@asynccontextmanager
async def _app(database: str, limit: str) -> AsyncIterator[Clients]:
    """The API with ``limit``, and a client factory per source address."""
    app: FastAPI = build_app(ApiSettings(pg_dsn=database, auth_failure_limit=limit))  # type: ignore[arg-type]
    opened: list[httpx.AsyncClient] = []

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        made = httpx.AsyncClient(transport=transport, base_url="http://api.test")
        opened.append(made)
        return made

    async with app.router.lifespan_context(app):
        try:
            yield client
        finally:
            for made in opened:
                await made.aclose()


async def test_after_n_refused_keys_an_address_is_turned_away_even_with_a_valid_key_and_others_are_not(
    database: str, api_keys: KeyIssuer, seeded: Seeded
) -> None:
    valid = api_keys.issue(["support_agent"], "agent-1", channels=["chat"])
    url = f"/v1/customers/{seeded.chatter}"

    async with _app(database, "3/minute") as clients:
        attacker, colleague = clients(ATTACKER), clients(COLLEAGUE)
        guesses = [await attacker.get(url, headers=bearer(_guess(n))) for n in range(3)]
        blocked = await attacker.get(url, headers=bearer(valid))
        guess_after = await attacker.get(url, headers=bearer(WRONG))
        colleague_reads = await colleague.get(url, headers=bearer(valid))
        colleague_guess = await colleague.get(url, headers=bearer(WRONG))

    assert [g.status_code for g in guesses] == [401, 401, 401]
    assert blocked.status_code == 429 and guess_after.status_code == 429
    assert blocked.json()["error"]["code"] == "too_many_failed_authentications"
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    assert colleague_reads.status_code == 200 and colleague_guess.status_code == 401


async def test_requests_without_credentials_are_not_counted_as_failures(
    database: str, api_keys: KeyIssuer, seeded: Seeded
) -> None:
    valid = api_keys.issue(["support_agent"], "agent-2", channels=["chat"])
    url = f"/v1/customers/{seeded.chatter}"

    async with _app(database, "2/minute") as clients:
        anonymous = [await clients(ATTACKER).get(url) for _ in range(5)]
        after = await clients(ATTACKER).get(url, headers=bearer(valid))

    assert {a.status_code for a in anonymous} == {401}
    assert after.status_code == 200


async def test_the_address_may_try_again_once_the_window_has_passed(
    database: str, api_keys: KeyIssuer, seeded: Seeded
) -> None:
    valid = api_keys.issue(["support_agent"], "agent-3", channels=["chat"])
    url = f"/v1/customers/{seeded.chatter}"

    async with _app(database, "2/1 second") as clients:
        attacker = clients(ATTACKER)
        for _ in range(2):
            assert (await attacker.get(url, headers=bearer(WRONG))).status_code == 401
        assert (await attacker.get(url, headers=bearer(valid))).status_code == 429
        deadline = time.monotonic() + 10
        answer = await attacker.get(url, headers=bearer(valid))
        while answer.status_code == 429 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            answer = await attacker.get(url, headers=bearer(valid))

    assert answer.status_code == 200


def test_a_limit_that_is_not_one_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="HUB_AUTH_FAILURE_LIMIT"):
        ApiSettings(pg_dsn="postgresql://x@127.0.0.1:1/x", auth_failure_limit="lots")  # type: ignore[arg-type]
