"""Fixtures of the access tests: two seeded customers and an in-process API over them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from plumbing.eventstore.postgres import Conn
from tests.support.api_app import Seeded, api_client, seed_two_customers


@pytest.fixture
async def seeded(pool: AsyncConnectionPool[Conn]) -> Seeded:
    return await seed_two_customers(pool, uuid.uuid4().hex[:8])


@pytest.fixture
async def client(database: str, seeded: Seeded) -> AsyncIterator[httpx.AsyncClient]:
    """The API with the default policy; modules that need other settings override it."""
    async with api_client(database) as opened:
        yield opened
