"""Pure task distribution: a team's queue, folded from its stream, and the choice of the next assignee.

The choice is a function of the configuration and the queue's state only, so it is deterministic; the
shell makes it race-free by deciding inside the append lock and appending to the queue's stream with
the version it read (a concurrent assignment would make that append fail instead of double-booking).

* round robin: the next available member after the one the rotation chose last, in configured order
  (explicit assignments do not move the rotation); a member at the cap, when the team has one, is
  skipped;
* least loaded: the available member with the fewest open tasks, never one at the cap; ties go to the
  member the rotation reaches first, so equal loads take turns instead of always favouring the first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from uuid import UUID

from contracts.sales_config import DistributionPolicy, Member, StaffConfig, Team
from contracts.sales_tasks import QueueEvent, Routing, TaskQueued, TaskReleased
from services.api.sales_errors import IllegalTransition, InvalidCommand


@dataclass(frozen=True)
class TeamQueue:
    """A team's open tasks by assignee and whom the rotation chose last; ``version`` is its stream's."""

    team: str
    version: int | None = None  # None: the stream does not exist yet
    open: Mapping[UUID, str] = field(default_factory=dict)
    last_rotated: str | None = None

    def load(self, staff_id: str) -> int:
        return sum(1 for assignee in self.open.values() if assignee == staff_id)


def evolve_queue(queue: TeamQueue, event: QueueEvent, version: int) -> TeamQueue:
    """The queue after ``event`` (stored at stream ``version``)."""
    tasks = dict(queue.open)
    last = queue.last_rotated
    if isinstance(event, TaskQueued):
        tasks[event.task_id] = event.assignee
        last = event.assignee if event.routing is not Routing.EXPLICIT else last
    elif isinstance(event, TaskReleased) and tasks.get(event.task_id) == event.assignee:
        del tasks[event.task_id]
    return replace(queue, version=version, open=tasks, last_rotated=last)


def fold_queue(team: str, history: Iterable[tuple[int, QueueEvent]]) -> TeamQueue:
    queue = TeamQueue(team)
    for version, event in history:
        queue = evolve_queue(queue, event, version)
    return queue


@dataclass(frozen=True)
class Assignment:
    """Who gets a task, of which team, and how they were chosen."""

    assignee: str
    team: str
    routing: Routing


@dataclass(frozen=True)
class Target:
    """Where a command sends a task: to a named staff member, or to a team's policy."""

    assignee: str | None = None
    team: str | None = None

    def __post_init__(self) -> None:
        if (self.assignee is None) == (self.team is None):
            raise InvalidCommand("name exactly one of assignee or team", "invalid_target")


def team_for(target: Target, staff: StaffConfig) -> Team:
    """The team whose queue the target's task joins; 422 for an unknown team or staff member."""
    if target.team is not None:
        team = staff.team(target.team)
        if team is None:
            known = ", ".join(t.id for t in staff.teams)
            raise InvalidCommand(f"no team {target.team!r}; teams: {known}", "unknown_team")
        return team
    assert target.assignee is not None  # Target holds exactly one
    member_team = staff.team_of(target.assignee)
    if member_team is None:
        raise InvalidCommand(
            f"{target.assignee!r} is not a staff member (deploy/staff.toml)", "unknown_staff"
        )
    return member_team


def _rotation(members: tuple[Member, ...], last: str | None) -> list[Member]:
    """Members in configured order, starting after ``last`` (from the first when ``last`` is unknown)."""
    ids = [member.id for member in members]
    start = ids.index(last) + 1 if last in ids else 0
    return [*members[start:], *members[:start]]


def choose(team: Team, queue: TeamQueue) -> Assignment:
    """The member the team's policy picks now; 409 ``no_available_staff`` when none can take a task."""
    under_cap = [
        member
        for member in _rotation(team.members, queue.last_rotated)
        if member.available and (team.cap is None or queue.load(member.id) < team.cap)
    ]
    if not under_cap:
        raise IllegalTransition(
            f"no member of team {team.id} is available below the cap of {team.cap} open tasks",
            "no_available_staff",
        )
    if team.policy is DistributionPolicy.ROUND_ROBIN:
        chosen = under_cap[0]
    else:
        chosen = min(under_cap, key=lambda member: queue.load(member.id))  # min keeps the first of equals
    return Assignment(chosen.id, team.id, Routing(team.policy.value))


def assign(target: Target, team: Team, queue: TeamQueue) -> Assignment:
    """An explicit assignee as given (availability and caps bind only the policy), else the policy's pick."""
    if target.assignee is not None:
        return Assignment(target.assignee, team.id, Routing.EXPLICIT)
    return choose(team, queue)
