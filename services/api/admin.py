"""Admin endpoints: principals and their roles, API keys (create, list, revoke, rotate), the roles.

Principals of the identity provider (bearer JWTs) are not listed: their roles live in the IdP.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from contracts import Channel
from plumbing.access import api_keys, directory
from plumbing.access.api_keys import IssuedKey, StoredKey
from plumbing.access.control import AccessControl
from plumbing.access.directory import PrincipalRecord
from plumbing.access.durations import parse_duration
from plumbing.access.fastapi import AccessDep, control_of, guarded_router, secured
from plumbing.access.policy import Permission, Policy, RolePolicy, ScopeKind
from plumbing.access.principal import PRINCIPAL_ID_PATTERN, PrincipalKind
from plumbing.http import ApiError, ErrorResponse

KEY_ID_PATTERN = r"^[0-9a-f]{16}$"
PrincipalId = Annotated[str, Path(pattern=PRINCIPAL_ID_PATTERN)]
KeyId = Annotated[str, Path(pattern=KEY_ID_PATTERN)]
_KEY_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such key (or revoked / expired, for rotation)"}
}
log = structlog.get_logger()


class PrincipalIn(BaseModel):
    """Roles and row-scope attributes of a principal that authenticates with API keys."""

    kind: PrincipalKind = PrincipalKind.STAFF
    roles: list[str] = Field(min_length=1)
    team: str | None = Field(default=None, max_length=100)
    channels: list[Channel] = Field(default_factory=list)


class KeyOut(BaseModel):
    key_id: str
    principal_id: str
    scopes: list[Permission] | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    rotated_from: str | None
    status: str


class PrincipalOut(BaseModel):
    principal_id: str
    kind: PrincipalKind
    roles: list[str]
    team: str | None
    channels: list[str]
    access: dict[str, Any] = Field(description="per permission held: rows reached and fields hidden")
    keys: list[KeyOut]
    updated_at: datetime
    updated_by: str


class PrincipalList(BaseModel):
    items: list[PrincipalOut]


class KeyList(BaseModel):
    items: list[KeyOut]


class KeyIn(BaseModel):
    principal_id: str = Field(pattern=PRINCIPAL_ID_PATTERN)
    expires_in: str = Field(default="90d", description="90d, 24h, 30m, 45s")
    scopes: list[Permission] | None = Field(default=None, description="narrow the roles; null: all")


class RotateIn(BaseModel):
    overlap: str = Field(default="24h", description="how long the old key keeps working")


class IssuedKeyOut(BaseModel):
    """The new key; ``key`` is shown this once and is not stored anywhere."""

    key_id: str
    key: str
    principal_id: str
    expires_at: datetime
    scopes: list[Permission] | None
    rotated_from: str | None


class RoleOut(BaseModel):
    description: str
    permissions: list[Permission]
    rows: dict[str, str]
    mask: list[str] = Field(default_factory=list, description="kinds of personal values masked everywhere")
    hide: dict[str, list[str]]
    rate_limit: str


def access_summary(policy: Policy, roles: list[str]) -> dict[str, Any]:
    """What ``roles`` reach, per permission: which rows, which hidden fields and which masked kinds."""
    summary: dict[str, Any] = {}
    for permission in Permission:
        grant = policy.grant(roles, permission)
        if grant is None:
            continue
        summary[permission.value] = {
            "rows": {res.value: kind.value for res, kind in grant.rows.items() if kind is not ScopeKind.NONE},
            "hidden": {view: sorted(paths) for view, paths in grant.hidden.items() if paths},
        }
        if grant.masked:
            summary[permission.value]["masked"] = sorted(grant.masked)
    return summary


def _key_out(key: StoredKey, control: AccessControl) -> KeyOut:
    return KeyOut(
        key_id=key.key_id,
        principal_id=key.principal_id,
        scopes=None if key.scopes is None else sorted(key.scopes),
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        rotated_from=key.rotated_from,
        status=key.status(control.clock()),
    )


def _issued_out(issued: IssuedKey) -> IssuedKeyOut:
    return IssuedKeyOut(
        key_id=issued.key_id,
        key=issued.key,
        principal_id=issued.principal_id,
        expires_at=issued.expires_at,
        scopes=None if issued.scopes is None else sorted(issued.scopes),
        rotated_from=issued.rotated_from,
    )


def _duration(text: str, field: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ApiError(422, "invalid_duration", f"{field}: {exc}") from exc


def _principal_out(record: PrincipalRecord, keys: list[StoredKey], control: AccessControl) -> PrincipalOut:
    """A principal with what its roles give it and its keys (``keys`` are this principal's)."""
    return PrincipalOut(
        principal_id=record.principal_id,
        kind=record.kind,
        roles=record.roles,
        team=record.team,
        channels=record.channels,
        access=access_summary(control.policy, record.roles),
        keys=[_key_out(key, control) for key in keys],
        updated_at=record.updated_at,
        updated_by=record.updated_by,
    )


def _role_out(policy: Policy, role: RolePolicy) -> RoleOut:
    return RoleOut(
        description=role.description,
        permissions=sorted(role.permissions),
        rows={res.value: kind.value for res, kind in role.rows.items()},
        mask=sorted(role.mask),
        hide={view: list(paths) for view, paths in role.hide.items()},
        rate_limit=role.rate_limit or policy.rate_limit,
    )


def router() -> APIRouter:
    routes = guarded_router(tags=["admin"])
    admin_only = secured(Permission.ADMIN)

    @routes.get("/v1/admin/roles", response_model=dict[str, RoleOut], openapi_extra=admin_only)
    async def list_roles(request: Request, access: AccessDep) -> dict[str, RoleOut]:
        """The roles of the access policy in force."""
        policy = control_of(request).policy
        return {name: _role_out(policy, role) for name, role in policy.roles.items()}

    @routes.get("/v1/admin/principals", response_model=PrincipalList, openapi_extra=admin_only)
    async def list_principals(request: Request, access: AccessDep) -> PrincipalList:
        """Who has access to what: every API-key principal, its roles, reach and keys."""
        control = control_of(request)
        async with control.pool.connection() as conn:
            principals = await directory.list_principals(conn)
            keys = await api_keys.list_keys(conn)
        keys_of: dict[str, list[StoredKey]] = defaultdict(list)
        for key in keys:
            keys_of[key.principal_id].append(key)
        return PrincipalList(items=[_principal_out(p, keys_of[p.principal_id], control) for p in principals])

    @routes.put("/v1/admin/principals/{principal_id}", response_model=PrincipalOut, openapi_extra=admin_only)
    async def assign_roles(
        request: Request, access: AccessDep, principal_id: PrincipalId, body: PrincipalIn
    ) -> PrincipalOut:
        """Create a principal or replace its kind, roles, team and channels (effective at once)."""
        control = control_of(request)
        unknown = control.policy.unknown_roles(body.roles)
        if unknown:
            raise ApiError(422, "unknown_role", f"no such roles: {', '.join(unknown)}")
        async with control.pool.connection() as conn:
            record = await directory.upsert_principal(
                conn,
                principal_id,
                kind=body.kind,
                roles=body.roles,
                team=body.team,
                channels=[c.value for c in body.channels],
                by=access.principal.id,
            )
            keys = await api_keys.list_keys(conn, principal_id)
        log.info("roles_assigned", target=principal_id, roles=record.roles)
        return _principal_out(record, keys, control)

    @routes.get("/v1/admin/keys", response_model=KeyList, openapi_extra=admin_only)
    async def list_keys(
        request: Request,
        access: AccessDep,
        principal_id: Annotated[str | None, Query(pattern=PRINCIPAL_ID_PATTERN)] = None,
    ) -> KeyList:
        """Every key (never a secret), newest first."""
        control = control_of(request)
        async with control.pool.connection() as conn:
            keys = await api_keys.list_keys(conn, principal_id)
        return KeyList(items=[_key_out(k, control) for k in keys])

    @routes.post(
        "/v1/admin/keys",
        status_code=201,
        response_model=IssuedKeyOut,
        responses={404: {"model": ErrorResponse, "description": "no such principal"}},
        openapi_extra=admin_only,
    )
    async def create_key(request: Request, access: AccessDep, body: KeyIn) -> IssuedKeyOut:
        """A new key for an existing principal; the answer is the only place the key appears."""
        control = control_of(request)
        lifetime = _duration(body.expires_in, "expires_in")
        async with control.pool.connection() as conn:
            if await directory.get_principal(conn, body.principal_id) is None:
                raise ApiError(404, "principal_not_found", f"no principal {body.principal_id}")
            issued = await api_keys.issue_key(
                conn,
                body.principal_id,
                lifetime=lifetime,
                scopes=None if body.scopes is None else frozenset(body.scopes),
                created_by=access.principal.id,
                now=control.clock(),
            )
        log.info("api_key_issued", new_key_id=issued.key_id, target=issued.principal_id)
        return _issued_out(issued)

    @routes.delete(
        "/v1/admin/keys/{key_id}", status_code=204, responses=_KEY_NOT_FOUND, openapi_extra=admin_only
    )
    async def revoke_key(request: Request, access: AccessDep, key_id: KeyId) -> Response:
        """Revoke a key at once (its next request gets 401)."""
        control = control_of(request)
        async with control.pool.connection() as conn:
            revoked = await api_keys.revoke_key(conn, key_id, by=access.principal.id, now=control.clock())
        if not revoked:
            raise ApiError(404, "key_not_found", f"no key {key_id}")
        log.info("api_key_revoked", revoked_key_id=key_id)
        return Response(status_code=204)

    @routes.post(
        "/v1/admin/keys/{key_id}/rotate",
        status_code=201,
        response_model=IssuedKeyOut,
        responses=_KEY_NOT_FOUND,
        openapi_extra=admin_only,
    )
    async def rotate_key(
        request: Request, access: AccessDep, key_id: KeyId, body: RotateIn | None = None
    ) -> IssuedKeyOut:
        """A new key for the same principal; the old one keeps working for ``overlap``, then expires."""
        control = control_of(request)
        overlap = _duration((body or RotateIn()).overlap, "overlap")
        async with control.pool.connection() as conn:
            issued = await api_keys.rotate_key(
                conn, key_id, overlap=overlap, by=access.principal.id, now=control.clock()
            )
        if issued is None:
            raise ApiError(404, "key_not_found", f"no usable key {key_id}")
        log.info("api_key_rotated", old_key_id=key_id, new_key_id=issued.key_id)
        return _issued_out(issued)

    return routes
