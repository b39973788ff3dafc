"""Creating a principal's key in one step, for the command line, the demo and test set-ups.

The admin endpoints do the same through the API; this path exists so the very first admin key can
be made by whoever runs the deployment (with database access), before any key exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from contracts import Channel
from plumbing.access import api_keys, directory
from plumbing.access.api_keys import IssuedKey
from plumbing.access.control import utc_now
from plumbing.access.policy import Permission, Policy
from plumbing.access.principal import PrincipalKind
from plumbing.eventstore.postgres import Conn


class ProvisioningError(ValueError):
    """Unknown roles or channels, or a key for a principal that does not exist."""


def check_roles(policy: Policy, roles: Sequence[str], channels: Sequence[str] = ()) -> None:
    """Refuse roles the policy does not define, or unknown channels, naming the valid ones."""
    unknown = policy.unknown_roles(roles)
    if unknown:
        raise ProvisioningError(
            f"no such roles: {', '.join(unknown)}; the roles are {', '.join(sorted(policy.roles))}"
            " (defined in the access policy)"
        )
    odd = sorted(set(channels) - {channel.value for channel in Channel})
    if odd:
        raise ProvisioningError(f"no such channels: {', '.join(odd)}; use {', '.join(Channel)}")


async def provision_key(
    conn: Conn,
    policy: Policy,
    principal_id: str,
    *,
    roles: Sequence[str] = (),
    kind: PrincipalKind = PrincipalKind.STAFF,
    team: str | None = None,
    channels: Sequence[str] = (),
    lifetime: timedelta = timedelta(days=90),
    scopes: frozenset[Permission] | None = None,
    by: str,
) -> IssuedKey:
    """Issue a key for ``principal_id``; with ``roles``, first create or update the principal."""
    if roles:
        check_roles(policy, roles, channels)
        await directory.upsert_principal(
            conn, principal_id, kind=kind, roles=list(roles), team=team, channels=list(channels), by=by
        )
    elif await directory.get_principal(conn, principal_id) is None:
        raise ProvisioningError(f"no principal {principal_id}: give it a role")
    return await api_keys.issue_key(
        conn, principal_id, lifetime=lifetime, scopes=scopes, created_by=by, now=utc_now()
    )
