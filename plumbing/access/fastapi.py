"""The one place FastAPI routes are guarded: :class:`GuardedRoute`.

Every route of an API built with :func:`guarded_router` declares its access rule with
``openapi_extra=secured(Permission.X)`` or ``openapi_extra=public("why")``; a route without one
cannot be registered. Before FastAPI parses anything of the request, the route authenticates the
caller, applies the rate limit, checks the declared permission and leaves an :class:`Access` for the
handler (``access: AccessDep``). Handlers then use ``access.rows(...)`` in their SQL and
``access.view(...)`` on what they return: row scopes and field masks come only from there. Masks by
kind of personal value need no handler's help: the route applies them to the whole answer, after the
handler (:mod:`plumbing.access.response_masks`).

The rule is also written into the OpenAPI document (``x-hub-access``), so a test can walk every
operation and fail on one without a policy.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import BaseModel

from plumbing.access import access_log
from plumbing.access.control import AccessControl, Forbidden, RateLimited, TooManyFailures, Unauthenticated
from plumbing.access.jwt import IdentityProviderUnavailable
from plumbing.access.kinds import mask_kinds, plan
from plumbing.access.masks import apply_mask
from plumbing.access.policy import Grant, Permission, RowResource
from plumbing.access.principal import Principal, RowScope
from plumbing.access.response_masks import mask_response
from plumbing.eventstore.postgres import Conn
from plumbing.http import ApiError, ErrorResponse

ACCESS_EXTENSION = "x-hub-access"
REALM = "interaction-hub"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
#: Only documents the scheme in OpenAPI (and the docs' "Authorize" button); checking is ours.
_bearer = HTTPBearer(auto_error=False, description="An API key (hub_...) or a JWT of the identity provider")
_DENIALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "no credentials, or credentials not accepted"},
    403: {"model": ErrorResponse, "description": "the caller's roles lack this route's permission"},
    429: {"model": ErrorResponse, "description": "over the caller's rate limit; see Retry-After"},
}
log = structlog.get_logger()


class MissingAccessRule(TypeError):
    """A route was declared without ``secured(...)`` or ``public(...)``."""


@dataclass(frozen=True)
class AccessRule:
    """A route's permission (None: public, with the reason) and whether its reads are audited.

    Audited routes record every read with :meth:`Access.record`; the guard records refusals, taking
    the customer id from a ``customer_id`` path parameter when the route has one.
    """

    permission: Permission | None
    public_reason: str | None = None
    audited: bool = False

    def extension(self) -> dict[str, Any]:
        if self.permission is None:
            return {"public": self.public_reason, "enforced": True}
        return {"permission": self.permission.value, "audited": self.audited, "enforced": True}


def secured(permission: Permission, *, audited: bool = False) -> dict[str, Any]:
    """``openapi_extra`` of a guarded route; ``audited``: it reads customers, record every read."""
    return {ACCESS_EXTENSION: AccessRule(permission, audited=audited)}


def public(reason: str) -> dict[str, Any]:
    """``openapi_extra`` of a route anyone may call (health checks); say why."""
    return {ACCESS_EXTENSION: AccessRule(None, public_reason=reason)}


@dataclass(frozen=True)
class Access:
    """What the guard decided for this request; handlers get it as ``access: AccessDep``."""

    principal: Principal
    grant: Grant
    route: str
    request_id: str

    def rows(self, resource: RowResource) -> RowScope:
        """The rows of ``resource`` this request may touch; put it in the query's WHERE."""
        return self.principal.rows(self.grant.rows[resource])

    def view(
        self, view: str, document: dict[str, Any], model: type[BaseModel] | None = None
    ) -> dict[str, Any]:
        """``document`` without the fields this request may not see (KeyError for unknown views) and,
        given the ``model`` it was dumped from, without values of the kinds it masks (needed where the
        document does not leave as the route's JSON answer, say as a CSV file)."""
        hidden = apply_mask(document, self.grant.hidden[view])
        if model is None:
            return hidden
        masked: dict[str, Any] = mask_kinds(plan(model), hidden, self.grant.masked)
        return masked

    async def record(
        self,
        conn: Conn,
        outcome: access_log.Outcome,
        customer_id: UUID | None,
        served_customer_id: UUID | None = None,
    ) -> None:
        """Append this read to the access log on ``conn`` and commit, so the entry stays even when
        the handler answers with an error next (call it outside ``conn.transaction()`` blocks)."""
        await access_log.append(
            conn,
            self.principal,
            route=self.route,
            customer_id=customer_id,
            served_customer_id=served_customer_id,
            outcome=outcome,
            request_id=self.request_id,
        )
        await conn.commit()
        log.info("customer_read", route=self.route, customer_id=str(customer_id), outcome=outcome.value)

    async def record_bulk(self, conn: Conn, customer_ids: list[UUID]) -> None:
        """Append a bulk read (a segment's members, an export) to the access log: one row per customer
        it returned, written in one statement, sharing this request's id; one row without a customer
        when it returned none. Committed like :meth:`record`."""
        if not customer_ids:
            await self.record(conn, access_log.Outcome.OK, None)
            return
        await access_log.append_many(
            conn, self.principal, route=self.route, customer_ids=customer_ids, request_id=self.request_id
        )
        await conn.commit()
        log.info("customers_read", route=self.route, customers=len(customer_ids))


async def current_access(request: Request) -> Access:
    """The access :class:`GuardedRoute` admitted. ``async`` so FastAPI calls it on the event loop: a
    plain ``def`` dependency is sent to the thread pool on every request (a thread hand-off and GIL
    contention per read, a tenth of the API's time under load)."""
    access = getattr(request.state, "hub_access", None)
    if not isinstance(access, Access):
        raise RuntimeError("this route is not guarded by GuardedRoute")
    return access


AccessDep = Annotated[Access, Depends(current_access)]


def control_of(request: Request) -> AccessControl:
    control = getattr(request.app.state, "access_control", None)
    if not isinstance(control, AccessControl):
        raise RuntimeError("app.state.access_control is not set")
    return control


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class GuardedRoute(APIRoute):
    """An APIRoute that refuses to exist without an access rule, and enforces it."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        extra = dict(kwargs.get("openapi_extra") or {})
        rule = extra.get(ACCESS_EXTENSION)
        if isinstance(rule, dict) and rule.get("enforced"):  # re-declared, e.g. by include_router
            rule = _rule_from_extension(rule)
        if not isinstance(rule, AccessRule):
            raise MissingAccessRule(f"route {path} declares no access rule: use secured(...) or public(...)")
        self.access_rule = rule
        kwargs["openapi_extra"] = {**extra, ACCESS_EXTENSION: rule.extension()}
        if rule.permission is not None:
            dependencies = list(kwargs.get("dependencies") or [])
            if not any(dep.dependency is _bearer for dep in dependencies):
                dependencies.insert(0, Depends(_bearer))
            kwargs["dependencies"] = dependencies
            kwargs["responses"] = {**_DENIALS, **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        rule = self.access_rule
        if rule.permission is None:
            return handler
        permission = rule.permission
        route = f"{','.join(sorted(self.methods or ()))} {self.path}"

        model = self.response_model

        async def guarded(request: Request) -> Response:
            access = await _admit(request, permission, rule, route)
            request.state.hub_access = access
            with structlog.contextvars.bound_contextvars(
                principal_id=access.principal.id, key_id=access.principal.key_id, request_id=access.request_id
            ):
                response = await handler(request)
                masked = access.grant.masked
                return await mask_response(control_of(request), request, response, model, masked)

        return guarded


def _rule_from_extension(extension: dict[str, Any]) -> AccessRule:
    if extension.get("permission") is None:
        return AccessRule(None, public_reason=str(extension.get("public")))
    return AccessRule(Permission(extension["permission"]), audited=bool(extension.get("audited")))


async def _admit(request: Request, permission: Permission, rule: AccessRule, route: str) -> Access:
    control = control_of(request)
    request_id = _request_id(request)
    address = request.client.host if request.client else None
    try:
        principal, grant = await control.admit(bearer_token(request), permission, address)
    except TooManyFailures as exc:
        log.warning("access_refused_after_failures", route=route, address=exc.address, request_id=request_id)
        raise ApiError(
            429,
            "too_many_failed_authentications",
            "too many refused credentials from this address; try again later",
            {"Retry-After": str(exc.retry_after_s)},
        ) from exc
    except Unauthenticated as exc:
        log.info("access_denied", route=route, reason=exc.reason, key_id=exc.key_id, request_id=request_id)
        challenge = f'Bearer realm="{REALM}"' + (', error="invalid_token"' if exc.presented else "")
        message = "invalid or expired credentials" if exc.presented else "authentication required"
        raise ApiError(401, "unauthenticated", message, {"WWW-Authenticate": challenge}) from exc
    except RateLimited as exc:
        log.info("access_rate_limited", route=route, principal_id=exc.principal.id, request_id=request_id)
        raise ApiError(
            429, "rate_limited", "too many requests", {"Retry-After": str(exc.retry_after_s)}
        ) from exc
    except Forbidden as exc:
        log.info("access_forbidden", route=route, principal_id=exc.principal.id, permission=permission.value)
        if rule.audited:
            await _record_forbidden(control, exc.principal, request, route, request_id)
        raise ApiError(403, "forbidden", f"this principal lacks the {permission.value} permission") from exc
    except IdentityProviderUnavailable as exc:
        log.warning("identity_provider_unavailable", reason=str(exc))
        raise ApiError(
            503, "identity_provider_unavailable", "tokens cannot be checked right now", {"Retry-After": "5"}
        ) from exc
    return Access(principal=principal, grant=grant, route=route, request_id=request_id)


async def _record_forbidden(
    control: AccessControl, principal: Principal, request: Request, route: str, request_id: str
) -> None:
    given = request.path_params.get("customer_id")
    try:
        customer_id = UUID(str(given)) if given is not None else None
    except ValueError:
        customer_id = None
    async with control.pool.connection() as conn:
        await access_log.append(
            conn,
            principal,
            route=route,
            customer_id=customer_id,
            served_customer_id=None,
            outcome=access_log.Outcome.FORBIDDEN,
            request_id=request_id,
        )


def guarded_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes are :class:`GuardedRoute`s. Declare full paths (no ``prefix``):
    the access log records the path template the route was declared with."""
    if kwargs.get("prefix"):
        raise ValueError("declare full paths on guarded routers; the access log records them")
    return APIRouter(route_class=GuardedRoute, **kwargs)
