"""Distribution policies and the task state machine as pure functions: fairness, caps, determinism."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from contracts.sales_config import DistributionPolicy, Member, Team
from contracts.sales_tasks import (
    QueueEvent,
    Routing,
    TaskAssigned,
    TaskKind,
    TaskQueued,
    TaskReleased,
    TaskStatus,
)
from services.api.sales_assign import Assignment, Target, TeamQueue, assign, choose, evolve_queue
from services.api.sales_errors import IllegalTransition, InvalidCommand, WrongVersion
from services.api.sales_stamp import Stamp
from services.api.sales_tasks import (
    CreateTask,
    TaskState,
    decide_close,
    decide_create,
    decide_reassign,
    evolve_task,
    fold_task,
)

pytestmark = pytest.mark.unit

AT = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


def _team(policy: DistributionPolicy, cap: int | None = None, away: tuple[str, ...] = ()) -> Team:
    members = tuple(Member(id=name, available=name not in away) for name in ("ann", "ben", "cat", "dan"))
    return Team(id="t", name="T", policy=policy, cap=cap, members=members)


def _stamp(n: int = 0) -> Stamp:
    return Stamp(actor="lead", at=AT, correlation_id="c", seed=uuid.uuid5(uuid.NAMESPACE_URL, f"s{n}"))


class Queue:
    """A team queue driven the way the shell drives it: choose, then record the queued event."""

    def __init__(self) -> None:
        self.state = TeamQueue("t")
        self.n = 0

    def record(self, event_type: type[QueueEvent], **fields: Any) -> None:
        event = event_type(
            **event_type.type_fields(),
            event_id=uuid.uuid4(),
            occurred_at=AT,
            received_at=AT,
            correlation_id="c",
            actor="lead",
            team="t",
            **fields,
        )
        version = -1 if self.state.version is None else self.state.version
        self.state = evolve_queue(self.state, event, version + 1)

    def take(self, team: Team, target: Target | None = None) -> Assignment:
        chosen = assign(target or Target(team=team.id), team, self.state)
        self.record(TaskQueued, task_id=uuid.uuid4(), assignee=chosen.assignee, routing=chosen.routing)
        return chosen

    def release(self, assignee: str) -> None:
        task_id = next(t for t, who in self.state.open.items() if who == assignee)
        self.record(TaskReleased, task_id=task_id, assignee=assignee, why="completed")


def test_round_robin_is_fair_over_a_thousand_assignments() -> None:
    team, queue = _team(DistributionPolicy.ROUND_ROBIN), Queue()

    counts = Counter(queue.take(team).assignee for _ in range(1000))

    assert counts == {"ann": 250, "ben": 250, "cat": 250, "dan": 250}


def test_round_robin_goes_in_configured_order_and_skips_who_is_away() -> None:
    team, queue = _team(DistributionPolicy.ROUND_ROBIN, away=("ben",)), Queue()

    assert [queue.take(team).assignee for _ in range(5)] == ["ann", "cat", "dan", "ann", "cat"]


def test_an_explicit_assignment_does_not_move_the_rotation() -> None:
    team, queue = _team(DistributionPolicy.ROUND_ROBIN), Queue()
    queue.take(team)  # ann

    explicit = queue.take(team, Target(assignee="dan"))

    assert (explicit.assignee, explicit.routing) == ("dan", Routing.EXPLICIT)
    assert queue.take(team).assignee == "ben"


def test_least_loaded_spreads_evenly_never_exceeds_the_cap_then_refuses() -> None:
    team, queue = _team(DistributionPolicy.LEAST_LOADED, cap=250), Queue()

    counts = Counter(queue.take(team).assignee for _ in range(1000))

    assert counts == {"ann": 250, "ben": 250, "cat": 250, "dan": 250}
    with pytest.raises(IllegalTransition, match="below the cap of 250") as refused:
        queue.take(team)
    assert refused.value.code == "no_available_staff"


def test_least_loaded_sends_work_to_whoever_finished_theirs() -> None:
    team, queue = _team(DistributionPolicy.LEAST_LOADED, cap=10), Queue()
    for _ in range(8):
        queue.take(team)
    queue.release("cat")
    queue.release("cat")

    assert [queue.take(team).assignee for _ in range(2)] == ["cat", "cat"]


def test_least_loaded_caps_hold_over_a_thousand_assignments_with_completions() -> None:
    team, queue = _team(DistributionPolicy.LEAST_LOADED, cap=3, away=("dan",)), Queue()
    given: Counter[str] = Counter()
    for n in range(1000):
        given[queue.take(team).assignee] += 1
        assert max(queue.state.load(m) for m in ("ann", "ben", "cat")) <= 3
        if n % 3 == 2:  # someone finishes every third assignment, in turn
            busiest = max(("ann", "ben", "cat"), key=queue.state.load)
            for _ in range(queue.state.load(busiest)):
                queue.release(busiest)
    assert given["dan"] == 0
    assert max(given.values()) - min(given.values()) <= 3


def test_the_choice_depends_only_on_the_queue_state_and_the_configuration() -> None:
    team = _team(DistributionPolicy.LEAST_LOADED, cap=5)
    first, second = Queue(), Queue()
    for _ in range(7):
        first.take(team)
        second.take(team)

    assert choose(team, first.state) == choose(team, second.state)


def test_a_target_names_exactly_one_of_assignee_or_team() -> None:
    with pytest.raises(InvalidCommand, match="exactly one"):
        Target(assignee="ann", team="t")
    with pytest.raises(InvalidCommand, match="exactly one"):
        Target()


def _created(to: str = "ann") -> tuple[TaskState, CreateTask]:
    command = CreateTask(
        uuid.uuid4(), TaskKind.CALL_BACK, "Call back", AT + timedelta(days=1), uuid.uuid4(), None
    )
    decision = decide_create(command, Assignment(to, "t", Routing.EXPLICIT), _stamp())
    state = fold_task(enumerate(decision.task))
    assert state is not None
    return state, command


def test_a_new_task_is_created_assigned_and_queued_together() -> None:
    command = CreateTask(uuid.uuid4(), TaskKind.MEETING, "Meet", AT, uuid.uuid4(), None)

    decision = decide_create(command, Assignment("ben", "t", Routing.ROUND_ROBIN), _stamp())

    assert [e.event_type for e in decision.task] == ["sales.task.created", "sales.task.assigned"]
    (queued,) = decision.queues["t"]
    assert isinstance(queued, TaskQueued) and (queued.assignee, queued.routing) == (
        "ben",
        Routing.ROUND_ROBIN,
    )
    assert len({e.event_id for e in [*decision.task, queued]}) == 3


def test_reassigning_releases_the_old_queue_slot_and_takes_a_new_one() -> None:
    state, _ = _created("ann")

    decision = decide_reassign(state, 1, Assignment("erin", "south", Routing.LEAST_LOADED), _stamp(1))

    (assigned,) = decision.task
    assert isinstance(assigned, TaskAssigned) and assigned.previous_assignee == "ann"
    assert [type(e).__name__ for e in decision.queues["t"]] == ["TaskReleased"]
    assert [type(e).__name__ for e in decision.queues["south"]] == ["TaskQueued"]


def test_reassigning_to_the_same_person_or_from_an_old_version_is_refused() -> None:
    state, _ = _created("ann")

    with pytest.raises(IllegalTransition, match="already ann's"):
        decide_reassign(state, 1, Assignment("ann", "t", Routing.EXPLICIT), _stamp(1))
    with pytest.raises(WrongVersion):
        decide_reassign(state, 0, Assignment("ben", "t", Routing.EXPLICIT), _stamp(1))


@pytest.mark.parametrize("outcome", ["completed", "cancelled"])
def test_a_closed_task_cannot_be_closed_again_or_reassigned(
    outcome: Literal["completed", "cancelled"],
) -> None:
    state, _ = _created("ann")
    decision = decide_close(state, 1, outcome, "done", _stamp(1))
    (closed_event,) = decision.task
    closed = evolve_task(state, closed_event, 2)
    assert closed is not None and closed.status is TaskStatus(outcome)
    (released,) = decision.queues["t"]
    assert isinstance(released, TaskReleased) and (released.assignee, released.why) == ("ann", outcome)

    with pytest.raises(IllegalTransition, match=f"is {outcome}"):
        decide_close(closed, 2, "completed", None, _stamp(3))
    with pytest.raises(IllegalTransition, match=f"is {outcome}"):
        decide_reassign(closed, 2, Assignment("ben", "t", Routing.EXPLICIT), _stamp(3))
