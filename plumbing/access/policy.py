"""Roles and policies as configuration: which endpoints, which fields and which rows a role gets.

The policy lives in a TOML file shipped with the deployment (``deploy/access-policy.toml``, or the
file named by ``HUB_ACCESS_POLICY_FILE``) and is validated when an API starts: a typo stops the
start instead of silently granting or hiding something.

How several roles combine (:meth:`Policy.grant`): only the roles that grant the permission a request
needs are considered; rows are the widest of theirs, hidden fields and masked kinds the union of theirs.
So a principal never sees more through two roles than through one of them alone (it may see less).

Two ways to keep values from a role: ``mask`` names *kinds* of personal values (contacts, names,
profile, messages, documents: :class:`~contracts.read.kinds.PersonalKind`), removed wherever they appear
in any answer; ``hide`` names *fields* of one view (what is not a kind: a card's purchase list).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import limits
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from contracts.read.kinds import PersonalKind
from plumbing.access.masks import unknown_paths

RoleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class Permission(StrEnum):
    """What a route needs; a route declares exactly one (see :mod:`plumbing.access.fastapi`)."""

    READ_CARD = "read_card"
    READ_TIMELINE = "read_timeline"
    READ_PAYMENTS = "read_payments"
    RUN_COMMANDS = "run_commands"
    AUDIT = "audit"
    ADMIN = "admin"
    READ_API_DOCS = "read_api_docs"  # the OpenAPI document: no data, but not for anonymous callers
    READ_DEALS = "read_deals"  # pipelines, deals and tasks (rows: the deals scope)
    WRITE_DEALS = "write_deals"  # sales commands: deals, notes, tasks (rows: the deals scope)
    MERGE_CUSTOMERS = "merge_customers"  # merge two customers by hand, undo a merge (rows: customers)
    MANAGE_SEGMENTS = "manage_segments"  # save and delete analytics segment definitions (no customer rows)


class RowResource(StrEnum):
    """Kinds of rows a scope can restrict."""

    CUSTOMERS = "customers"
    DEALS = "deals"


class ScopeKind(StrEnum):
    """Which rows of a resource a role reaches.

    ``channels``: customers who interacted on one of the principal's channels.
    ``own_and_team``: rows owned by the principal or by their team (deals; the deals API applies it).
    """

    NONE = "none"
    CHANNELS = "channels"
    OWN_AND_TEAM = "own_and_team"
    ALL = "all"


#: Which scope kinds make sense for which rows; anything else is refused when the policy loads.
ALLOWED_SCOPES: Mapping[RowResource, frozenset[ScopeKind]] = {
    RowResource.CUSTOMERS: frozenset({ScopeKind.ALL, ScopeKind.CHANNELS}),
    RowResource.DEALS: frozenset({ScopeKind.ALL, ScopeKind.OWN_AND_TEAM}),
}
_BREADTH = {ScopeKind.NONE: 0, ScopeKind.CHANNELS: 1, ScopeKind.OWN_AND_TEAM: 1, ScopeKind.ALL: 2}
#: Permissions that read customers, so a role holding one must say which customers.
_CUSTOMER_READS = frozenset({Permission.READ_CARD, Permission.READ_TIMELINE, Permission.READ_PAYMENTS})
#: Permissions that touch deals and tasks, so a role holding one must say whose.
_DEAL_ACCESS = frozenset({Permission.READ_DEALS, Permission.WRITE_DEALS})


class PolicyError(ValueError):
    """The policy file is missing, unreadable or inconsistent."""


def _rate(value: str) -> str:
    try:
        limits.parse(value)
    except ValueError as exc:
        raise ValueError(f"rate limit {value!r}: {exc}") from exc
    return value


class ViewPolicy(BaseModel):
    """A read model the API hands out; ``payment_fields`` are dropped unless ``read_payments``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    payment_fields: tuple[str, ...] = ()


class RolePolicy(BaseModel):
    """One role: its permissions, rows per resource, kinds of personal values masked everywhere, fields
    hidden per view, and rate limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    permissions: frozenset[Permission]
    rows: dict[RowResource, ScopeKind] = Field(default_factory=dict)
    mask: frozenset[PersonalKind] = frozenset()
    hide: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    rate_limit: str | None = None

    @field_validator("rate_limit")
    @classmethod
    def _valid_rate(cls, value: str | None) -> str | None:
        return None if value is None else _rate(value)

    @model_validator(mode="after")
    def _consistent(self) -> RolePolicy:
        for resource, kind in self.rows.items():
            if kind not in ALLOWED_SCOPES[resource]:
                raise ValueError(f"rows.{resource} = {kind!r} is not a scope of {resource}")
        if self.permissions & _CUSTOMER_READS and RowResource.CUSTOMERS not in self.rows:
            raise ValueError("a role that reads customers must say which: set rows.customers")
        if self.permissions & _DEAL_ACCESS and RowResource.DEALS not in self.rows:
            raise ValueError("a role that reads or writes deals must say whose: set rows.deals")
        return self


class Policy(BaseModel):
    """The whole access policy: views, roles, and the default rate limit per principal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1]
    rate_limit: str
    views: dict[str, ViewPolicy] = Field(default_factory=dict)
    roles: dict[RoleName, RolePolicy]

    @field_validator("rate_limit")
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        return _rate(value)

    @model_validator(mode="after")
    def _views_known(self) -> Policy:
        for name, role in self.roles.items():
            unknown = set(role.hide) - set(self.views)
            if unknown:
                raise ValueError(f"role {name} hides fields of unknown views {sorted(unknown)}")
        return self

    def check_view(self, view: str, model: type[BaseModel]) -> None:
        """Fail unless every path the policy names for ``view`` is a field of ``model``.

        A misspelt path would otherwise hide nothing, silently.
        """
        if view not in self.views:
            raise PolicyError(f"the policy has no [views.{view}]")
        named = {*self.views[view].payment_fields}
        for role in self.roles.values():
            named.update(role.hide.get(view, ()))
        missing = unknown_paths(model, named)
        if missing:
            raise PolicyError(f"view {view}: no such fields {sorted(missing)}")

    def unknown_roles(self, roles: Iterable[str]) -> list[str]:
        return sorted(set(roles) - set(self.roles))

    def permissions_of(self, roles: Iterable[str], scopes: frozenset[Permission] | None = None) -> set[str]:
        """Every permission the roles give, narrowed by a key's ``scopes``; for listings."""
        granted: set[Permission] = set()
        for name in roles:
            if name in self.roles:
                granted |= self.roles[name].permissions
        return {p.value for p in (granted if scopes is None else granted & scopes)}

    def grant(
        self, roles: Iterable[str], permission: Permission, scopes: frozenset[Permission] | None = None
    ) -> Grant | None:
        """What ``roles`` allow for a request needing ``permission``; None when it is not allowed.

        ``scopes`` (an API key's) narrow the roles' permissions; None means no narrowing.
        """
        granting: list[tuple[RolePolicy, frozenset[Permission]]] = []
        for name in roles:
            role = self.roles.get(name)
            if role is None:
                continue
            held = role.permissions if scopes is None else role.permissions & scopes
            if permission in held:
                granting.append((role, held))
        if not granting:
            return None
        rows = {
            resource: max(
                (role.rows.get(resource, ScopeKind.NONE) for role, _ in granting), key=_BREADTH.__getitem__
            )
            for resource in RowResource
        }
        hidden = {
            view: frozenset().union(*(self._hidden(role, held, view) for role, held in granting))
            for view in self.views
        }
        masked = frozenset[PersonalKind]().union(*(role.mask for role, _ in granting))
        return Grant(permission=permission, rows=rows, hidden=hidden, masked=masked)

    def _hidden(self, role: RolePolicy, held: frozenset[Permission], view: str) -> frozenset[str]:
        paths = set(role.hide.get(view, ()))
        if Permission.READ_PAYMENTS not in held:
            paths.update(self.views[view].payment_fields)
        return frozenset(paths)

    def rate_limit_for(self, roles: Iterable[str]) -> limits.RateLimitItem:
        """The most generous limit among the principal's roles, or the default."""
        items = [limits.parse(self.roles[r].rate_limit or self.rate_limit) for r in roles if r in self.roles]
        if not items:
            return limits.parse(self.rate_limit)
        return max(items, key=lambda item: item.amount / item.get_expiry())


@dataclass(frozen=True)
class Grant:
    """The effective access of one request: rows per resource, hidden field paths per view, and the
    kinds of personal values removed from everything it answers."""

    permission: Permission
    rows: Mapping[RowResource, ScopeKind]
    hidden: Mapping[str, frozenset[str]]
    masked: frozenset[PersonalKind] = frozenset()

    def sees(self, kind: PersonalKind) -> bool:
        return kind not in self.masked


def default_policy_file() -> Path:
    """``deploy/access-policy.toml`` of the checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "deploy" / "access-policy.toml"


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate the policy file: ``path``, else ``HUB_ACCESS_POLICY_FILE``, else
    :func:`default_policy_file`."""
    named = os.environ.get("HUB_ACCESS_POLICY_FILE")
    path = path or (Path(named) if named else default_policy_file())
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"cannot read the access policy {path}: {exc}") from exc
    try:
        return Policy.model_validate(document)
    except ValueError as exc:
        raise PolicyError(f"invalid access policy {path}: {exc}") from exc
