"""API keys for tests: issued straight into a test's database, as `hub keys create` does."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import psycopg

from plumbing.access.api_keys import IssuedKey
from plumbing.access.policy import Permission, load_policy
from plumbing.access.principal import PrincipalKind
from plumbing.access.provisioning import provision_key

T = TypeVar("T")

#: Sees every customer with every field: what the end-to-end tests read cards with.
READER_ROLE = "sales_manager"


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code, even when this thread already runs a loop."""
    result: list[T] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


async def issue_key_async(
    dsn: str,
    principal_id: str | None = None,
    roles: Sequence[str] = (READER_ROLE,),
    *,
    kind: PrincipalKind = PrincipalKind.STAFF,
    team: str | None = None,
    channels: Sequence[str] = (),
    lifetime: timedelta = timedelta(days=1),
    scopes: frozenset[Permission] | None = None,
) -> IssuedKey:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        return await provision_key(
            conn,
            load_policy(),
            principal_id or f"test-{uuid.uuid4().hex[:8]}",
            roles=roles,
            kind=kind,
            team=team,
            channels=channels,
            lifetime=lifetime,
            scopes=scopes,
            by="tests",
        )


def issue_key(
    dsn: str, principal_id: str | None = None, roles: Sequence[str] = (READER_ROLE,), **kw: Any
) -> str:
    """A fresh key (the secret) for a principal with ``roles`` in the database at ``dsn``."""
    return run_blocking(issue_key_async(dsn, principal_id, roles, **kw)).key


@dataclass(frozen=True)
class KeyIssuer:
    """The ``api_keys`` fixture: ``api_keys.issue(roles=[...], channels=[...])``."""

    dsn: str

    def issue(self, roles: Sequence[str] = (READER_ROLE,), principal_id: str | None = None, **kw: Any) -> str:
        return issue_key(self.dsn, principal_id, roles, **kw)

    async def issue_async(
        self, roles: Sequence[str] = (READER_ROLE,), principal_id: str | None = None, **kw: Any
    ) -> IssuedKey:
        return await issue_key_async(self.dsn, principal_id, roles, **kw)
