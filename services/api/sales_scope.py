"""Whose deals and tasks a request reaches: the ``deals`` row scope of the access policy, made concrete.

``own_and_team`` means rows owned by (deals) or assigned to (tasks) the caller or a member of the
caller's team, as deploy/staff.toml lists the team. The same rule serves commands (a deal outside the
scope answers like one that does not exist) and queries (as a WHERE condition).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from contracts.sales_config import StaffConfig
from plumbing.access.policy import ScopeKind
from plumbing.access.principal import RowScope
from services.api.sales_errors import OutOfScope


@dataclass(frozen=True)
class StaffScope:
    """Everyone's rows, or the rows of ``staff_ids`` only."""

    everyone: bool
    staff_ids: frozenset[str] = frozenset()

    @classmethod
    def of(cls, scope: RowScope, staff: StaffConfig) -> StaffScope:
        if scope.kind is ScopeKind.ALL:
            return cls(everyone=True)
        if scope.kind is ScopeKind.OWN_AND_TEAM:
            return cls(
                everyone=False, staff_ids=frozenset({scope.principal_id, *staff.teammates(scope.team)})
            )
        return cls(everyone=False)

    def covers(self, staff_id: str) -> bool:
        return self.everyone or staff_id in self.staff_ids

    def require(self, staff_id: str) -> None:
        """403 unless the caller may give work to ``staff_id``."""
        if not self.covers(staff_id):
            raise OutOfScope(f"you may not give work to {staff_id!r}: neither you nor your team")

    def condition(self, column: sql.Composable) -> tuple[sql.Composable, dict[str, Any]]:
        """The WHERE condition on a staff id ``column``, and its parameters."""
        if self.everyone:
            return sql.SQL("TRUE"), {}
        return sql.SQL("{} = ANY(%(scope_staff)s)").format(column), {"scope_staff": sorted(self.staff_ids)}
