"""Authentication, rate limiting and authorisation of one request, in that order.

Framework-free, so the same checks serve any HTTP front end; :mod:`plumbing.access.fastapi`
maps the outcomes onto HTTP answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from uuid import UUID

import limits
from psycopg_pool import AsyncConnectionPool

from contracts.read.kinds import PersonalKind
from plumbing.access import api_keys
from plumbing.access.jwt import JwtVerifier, TokenRejected
from plumbing.access.policy import Grant, Permission, Policy
from plumbing.access.principal import Principal, PrincipalKind
from plumbing.access.ratelimit import DEFAULT_AUTH_FAILURE_LIMIT, FailureLimiter, RateLimiter
from plumbing.eventstore.postgres import Conn, autocommitted

Clock = Callable[[], datetime]
#: The personal values of the given kinds of the given customers (those an answer names), for the
#: value-based safety net behind masks (:mod:`plumbing.access.scrub`); the API that knows customers
#: provides it.
PersonalValues = Callable[[Conn, Iterable[UUID], frozenset[PersonalKind]], Awaitable[set[str]]]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Unauthenticated(Exception):
    """No credentials, or credentials we do not accept. ``reason`` is for logs only."""

    def __init__(self, reason: str, *, presented: bool, key_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.presented = presented
        self.key_id = key_id


class RateLimited(Exception):
    def __init__(self, principal: Principal, retry_after_s: int) -> None:
        super().__init__(f"{principal.id} is over its rate limit")
        self.principal = principal
        self.retry_after_s = retry_after_s


class TooManyFailures(Exception):
    """The client address failed to authenticate too often lately; it is turned away unheard."""

    def __init__(self, address: str, retry_after_s: int) -> None:
        super().__init__(f"{address} failed to authenticate too often")
        self.address = address
        self.retry_after_s = retry_after_s


class Forbidden(Exception):
    """A known principal whose roles (and key scopes) lack the route's permission."""

    def __init__(self, principal: Principal, permission: Permission) -> None:
        super().__init__(f"{principal.id} lacks {permission}")
        self.principal = principal
        self.permission = permission


class AccessControl:
    """Everything a request is checked against: policy, key store, identity provider, limits."""

    def __init__(
        self,
        policy: Policy,
        pool: AsyncConnectionPool[Conn],
        *,
        jwt: JwtVerifier | None = None,
        limiter: RateLimiter | None = None,
        auth_failures: FailureLimiter | None = None,
        personal_values: PersonalValues | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.policy = policy
        self.pool = pool
        self.jwt = jwt
        self.limiter = limiter or RateLimiter()
        self.auth_failures = auth_failures or FailureLimiter(limits.parse(DEFAULT_AUTH_FAILURE_LIMIT))
        self.personal_values = personal_values
        self.clock = clock

    async def admit(
        self, token: str | None, permission: Permission, address: str | None = None
    ) -> tuple[Principal, Grant]:
        """The principal and what it may do here, or :class:`TooManyFailures` (``address``, the
        client's, failed to authenticate too often), :class:`Unauthenticated`, :class:`RateLimited`,
        :class:`Forbidden` (checked in that order: a flood of forbidden requests is still limited)."""
        principal = await self._authenticate_from(address, token)
        verdict = await self.limiter.hit(principal.id, self.policy.rate_limit_for(principal.roles))
        if not verdict.allowed:
            raise RateLimited(principal, verdict.retry_after_s)
        grant = self.policy.grant(principal.roles, permission, principal.scopes)
        if grant is None:
            raise Forbidden(principal, permission)
        return principal, grant

    async def _authenticate_from(self, address: str | None, token: str | None) -> Principal:
        """Credentials presented and refused count against ``address``; an address over its limit is
        refused before its credentials are even looked at, so guessing gains nothing."""
        if address is None:
            return await self.authenticate(token)
        wait_s = await self.auth_failures.wait_s(address)
        if wait_s:
            raise TooManyFailures(address, wait_s)
        try:
            return await self.authenticate(token)
        except Unauthenticated as exc:
            if exc.presented:
                await self.auth_failures.failed(address)
            raise

    async def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated("no bearer credentials", presented=False)
        if api_keys.looks_like_key(token):
            return await self._key_principal(token)
        if self.jwt is None:
            raise Unauthenticated("not an API key, and JWTs are not configured", presented=True)
        try:
            return await self.jwt.verify(token)
        except TokenRejected as exc:
            raise Unauthenticated(f"jwt rejected: {exc}", presented=True) from exc

    async def _key_principal(self, token: str) -> Principal:
        key_id = api_keys.key_id_of(token)
        if key_id is None:
            raise Unauthenticated("malformed API key", presented=True)
        async with self.pool.connection() as conn, autocommitted(conn):  # one statement: no BEGIN
            stored = await api_keys.find_key(conn, key_id)
        # One answer for unknown, wrong secret, revoked and expired; the log keeps the difference.
        if stored is None:
            raise Unauthenticated("unknown API key", presented=True, key_id=key_id)
        if not api_keys.matches(stored, token):
            raise Unauthenticated("wrong API key secret", presented=True, key_id=key_id)
        now = self.clock()
        if not stored.usable_at(now):
            raise Unauthenticated(f"API key {stored.status(now)}", presented=True, key_id=key_id)
        return Principal(
            id=stored.principal_id,
            kind=PrincipalKind(stored.principal_kind),
            roles=stored.roles,
            team=stored.team,
            channels=stored.channels,
            key_id=stored.key_id,
            scopes=stored.scopes,
        )
