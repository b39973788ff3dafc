"""Who is calling: a staff member or a service account, and the credential they came with."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from plumbing.access.policy import Permission, ScopeKind

#: Principal ids are log-safe names: ``alice``, ``svc-billing``, ``alice@example.com``.
PRINCIPAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$"


class PrincipalKind(StrEnum):
    STAFF = "staff"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``key_id`` is set for API keys, ``token_subject`` for identity-provider tokens; ``scopes`` (keys
    only) narrow what the roles allow. ``team`` and ``channels`` feed row scopes.
    """

    id: str
    kind: PrincipalKind
    roles: tuple[str, ...]
    team: str | None = None
    channels: tuple[str, ...] = ()
    key_id: str | None = None
    token_subject: str | None = None
    scopes: frozenset[Permission] | None = None

    def rows(self, kind: ScopeKind) -> RowScope:
        """A row scope of ``kind`` filled in with this principal's id, team and channels."""
        return RowScope(kind=kind, principal_id=self.id, team=self.team, channels=self.channels)


@dataclass(frozen=True)
class RowScope:
    """Which rows a query may return; stores turn it into a WHERE clause."""

    kind: ScopeKind
    principal_id: str
    team: str | None = None
    channels: tuple[str, ...] = ()

    @classmethod
    def everything(cls) -> RowScope:
        """For internal reads that are not a principal's (never for what leaves the API)."""
        return cls(kind=ScopeKind.ALL, principal_id="-")
