"""Bearer JWTs from the company's identity provider, verified against its JWKS.

Checked: the signature (asymmetric algorithms only, key chosen by ``kid``), ``iss``, ``aud``,
``exp``, ``nbf`` when present, and that ``sub`` is there. Roles, team and channels come from
configurable claims; roles the policy does not know are ignored (and grant nothing).
"""

from __future__ import annotations

import asyncio
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from plumbing.access.principal import Principal, PrincipalKind
from plumbing.access.settings import AccessSettings

_SERVICE_ROLE = "service_account"


class TokenRejected(Exception):
    """The token is not one we accept; the reason is for our logs, never for the caller."""


class IdentityProviderUnavailable(Exception):
    """The JWKS could not be fetched, so no token can be checked right now."""


class JwtVerifier:
    """Verifies tokens and maps their claims onto a :class:`Principal`."""

    def __init__(self, settings: AccessSettings) -> None:
        if settings.jwt_issuer is None or settings.jwt_audience is None:
            raise ValueError("JWT verification needs HUB_JWT_ISSUER and HUB_JWT_AUDIENCE")
        self._settings = settings
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._client: PyJWKClient | None = None
        self._keys: PyJWKSet | None = None
        if settings.jwt_jwks_url is not None:
            self._client = PyJWKClient(
                settings.jwt_jwks_url, cache_keys=True, lifespan=max(settings.jwks_cache_s, 1), timeout=5
            )
        elif settings.jwt_jwks_file is not None:
            self._keys = PyJWKSet.from_json(settings.jwt_jwks_file.read_text(encoding="utf-8"))

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; :class:`TokenRejected` otherwise."""
        key = await self._signing_key(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=self._settings.jwt_algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._settings.jwt_leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"{type(exc).__name__}: {exc}") from exc
        return self._principal(claims)

    async def _signing_key(self, token: str) -> PyJWK:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"malformed token: {exc}") from exc
        if header.get("alg") not in self._settings.jwt_algorithms:
            raise TokenRejected(f"algorithm {header.get('alg')!r} is not accepted")
        kid = header.get("kid")
        if self._client is not None:
            return await self._fetched_key(self._client, kid, token)
        assert self._keys is not None  # one of url / file is required by the settings
        return _key_from_set(self._keys, kid)

    @staticmethod
    async def _fetched_key(client: PyJWKClient, kid: Any, token: str) -> PyJWK:
        # PyJWKClient fetches with urllib (blocking), so it runs off the event loop; it caches keys.
        try:
            if isinstance(kid, str):
                return await asyncio.to_thread(client.get_signing_key, kid)
            return await asyncio.to_thread(client.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as exc:
            raise IdentityProviderUnavailable(str(exc)) from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"no signing key: {exc}") from exc

    def _principal(self, claims: dict[str, Any]) -> Principal:
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise TokenRejected("sub must be a non-empty string")
        roles = _strings(claims.get(self._settings.jwt_roles_claim))
        team = claims.get(self._settings.jwt_team_claim)
        return Principal(
            id=subject,
            kind=PrincipalKind.SERVICE if _SERVICE_ROLE in roles else PrincipalKind.STAFF,
            roles=roles,
            team=team if isinstance(team, str) else None,
            channels=_strings(claims.get(self._settings.jwt_channels_claim)),
            token_subject=subject,
        )


def _key_from_set(keys: PyJWKSet, kid: Any) -> PyJWK:
    if isinstance(kid, str):
        for key in keys.keys:
            if key.key_id == kid:
                return key
        raise TokenRejected(f"no key {kid!r} in the JWKS")
    if len(keys.keys) == 1:
        return keys.keys[0]
    raise TokenRejected("the token names no kid and the JWKS has several keys")


def _strings(value: Any) -> tuple[str, ...]:
    """A claim given as a list of strings or one space-separated string."""
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()
