"""Settings of access control, mixed into the settings of every API that serves principals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import limits
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from plumbing.access.ratelimit import DEFAULT_AUTH_FAILURE_LIMIT

#: Asymmetric algorithms only: a JWKS holds public keys, and HS* with a public key is the classic
#: algorithm-confusion attack.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class AccessSettings(BaseSettings):
    """``HUB_ACCESS_POLICY_FILE``, ``HUB_AUTH_FAILURE_LIMIT`` and the ``HUB_JWT_*`` variables.

    Bearer JWTs are accepted only when ``jwt_issuer`` is set; then ``jwt_audience`` and one of
    ``jwt_jwks_url`` / ``jwt_jwks_file`` are required. ``auth_failure_limit``: how many refused
    credentials one client address may present per window (``limits`` notation, e.g. "20/minute")
    before it gets 429 for everything, valid credentials included, until the window passes.
    """

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    access_policy_file: Path | None = None
    auth_failure_limit: str = DEFAULT_AUTH_FAILURE_LIMIT
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_jwks_url: str | None = None
    jwt_jwks_file: Path | None = None
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["RS256", "ES256"])
    jwt_roles_claim: str = "roles"
    jwt_team_claim: str = "team"
    jwt_channels_claim: str = "channels"
    jwt_leeway_s: float = Field(default=30.0, ge=0, le=300)
    jwks_cache_s: int = Field(default=300, ge=0)

    @field_validator("auth_failure_limit")
    @classmethod
    def _a_rate(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError as exc:
            raise ValueError(f"HUB_AUTH_FAILURE_LIMIT {value!r}: {exc}") from exc
        return value

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("jwt_algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        refused = sorted(set(value) - ASYMMETRIC_ALGORITHMS)
        if refused or not value:
            raise ValueError(f"only asymmetric JWT algorithms are accepted, not {refused or 'none'}")
        return value

    @model_validator(mode="after")
    def _jwt_complete(self) -> AccessSettings:
        if self.jwt_issuer is None:
            return self
        if not self.jwt_audience:
            raise ValueError("HUB_JWT_AUDIENCE is required with HUB_JWT_ISSUER")
        if (self.jwt_jwks_url is None) == (self.jwt_jwks_file is None):
            raise ValueError("set exactly one of HUB_JWT_JWKS_URL and HUB_JWT_JWKS_FILE")
        return self

    @property
    def jwt_enabled(self) -> bool:
        return self.jwt_issuer is not None
