"""The deal stage machine as a pure function: command + state -> events, or a refusal."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from contracts import (
    DealAmountChanged,
    DealEvent,
    DealLost,
    DealOpened,
    DealReopened,
    DealStageMoved,
    DealStatus,
    DealWon,
    Money,
)
from services.api.sales_config import load_rules
from services.api.sales_deals import (
    ChangeAmount,
    ChangeExpectedClose,
    ChangeOwner,
    DealChange,
    DealState,
    LoseDeal,
    MoveStage,
    OpenDeal,
    ReopenDeal,
    WinDeal,
    decide,
    decide_open,
    fold,
)
from services.api.sales_errors import IllegalTransition, InvalidCommand, WrongVersion
from services.api.sales_stamp import Stamp

pytestmark = pytest.mark.unit

RULES = load_rules()  # the shipped deploy/pipelines.toml and deploy/staff.toml
AT = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)
EUR = "EUR"


def _stamp(n: int = 0) -> Stamp:
    return Stamp(
        actor="alice", at=AT, correlation_id=f"corr-{n}", seed=uuid.uuid5(uuid.NAMESPACE_URL, str(n))
    )


def _money(amount: str, currency: str = EUR) -> Money:
    return Money(amount=Decimal(amount), currency=currency)


def _opening(**overrides: object) -> OpenDeal:
    fields: dict[str, object] = {
        "deal_id": uuid.UUID(int=1),
        "customer_id": uuid.UUID(int=2),
        "title": "Corner sofa",
        "amount": _money("1200.50"),
        "pipeline_id": "retail",
        "owner_id": "alice",
    }
    return OpenDeal(**{**fields, **overrides})  # type: ignore[arg-type]


class Deal:
    """A deal's history built by applying decisions, the way the shell does (without a store)."""

    def __init__(self, **opening: object) -> None:
        self.history: list[tuple[int, DealEvent]] = []
        self._add(decide_open(_opening(**opening), RULES, _stamp()))

    def _add(self, events: list[DealEvent]) -> list[DealEvent]:
        for event in events:
            self.history.append((len(self.history), event))
        return events

    @property
    def state(self) -> DealState:
        state = fold(self.history)
        assert state is not None
        return state

    def do(self, command: DealChange) -> list[DealEvent]:
        return self._add(decide(command, self.state, RULES, _stamp(len(self.history))))


def test_a_deal_opens_in_the_first_open_stage_of_its_pipeline_by_default() -> None:
    (opened,) = decide_open(_opening(), RULES, _stamp())

    assert isinstance(opened, DealOpened)
    assert (opened.pipeline_id, opened.stage_id, opened.actor) == ("retail", "lead", "alice")
    assert opened.amount == _money("1200.50")


def test_a_deal_cannot_open_in_a_closed_stage_an_unknown_stage_or_an_unknown_pipeline() -> None:
    with pytest.raises(InvalidCommand, match=r"not an open stage.*close a deal with /win or /lose"):
        decide_open(_opening(stage_id="won"), RULES, _stamp())
    with pytest.raises(InvalidCommand, match="'nowhere' is not an open stage of pipeline retail"):
        decide_open(_opening(stage_id="nowhere"), RULES, _stamp())
    with pytest.raises(InvalidCommand, match="no pipeline 'moon'"):
        decide_open(_opening(pipeline_id="moon"), RULES, _stamp())


def test_a_deal_needs_a_known_staff_member_as_owner_and_a_non_negative_amount() -> None:
    with pytest.raises(InvalidCommand, match="'mallory' is not a staff member"):
        decide_open(_opening(owner_id="mallory"), RULES, _stamp())
    with pytest.raises(InvalidCommand, match="must not be negative"):
        decide_open(_opening(amount=_money("-1")), RULES, _stamp())


def test_event_ids_are_derived_from_the_stamp_so_a_retried_command_makes_the_same_events() -> None:
    first = decide_open(_opening(), RULES, _stamp(7))
    again = decide_open(_opening(), RULES, _stamp(7))

    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert first[0].event_id != decide_open(_opening(), RULES, _stamp(8))[0].event_id


def test_an_open_deal_moves_between_open_stages_and_its_version_counts_events() -> None:
    deal = Deal()

    (moved,) = deal.do(MoveStage(0, "offer"))

    assert isinstance(moved, DealStageMoved)
    assert (moved.from_stage, moved.to_stage) == ("lead", "offer")
    assert (deal.state.stage_id, deal.state.version) == ("offer", 1)


def test_a_command_decided_against_an_old_version_is_refused_before_anything_else() -> None:
    deal = Deal()
    deal.do(MoveStage(0, "offer"))

    with pytest.raises(WrongVersion, match="is at version 1, not 0"):
        deal.do(MoveStage(0, "nowhere"))  # an invalid stage too, but the version speaks first


def test_moving_to_the_current_stage_or_to_a_closed_stage_is_refused() -> None:
    deal = Deal()

    with pytest.raises(IllegalTransition, match="the stage is already lead") as same:
        deal.do(MoveStage(0, "lead"))
    assert same.value.code == "no_change"
    with pytest.raises(InvalidCommand, match="close a deal with /win or /lose"):
        deal.do(MoveStage(0, "won"))


def test_winning_closes_into_the_won_stage_with_the_order_and_keeps_the_amount_unless_given() -> None:
    deal = Deal()

    (won,) = deal.do(WinDeal(0, order_id="SO-1"))

    assert isinstance(won, DealWon)
    assert (won.from_stage, won.stage_id, won.order_id, won.amount) == (
        "lead",
        "won",
        "SO-1",
        _money("1200.50"),
    )
    assert deal.state.status is DealStatus.WON
    other = Deal()
    (final,) = other.do(WinDeal(0, amount=_money("999.99")))
    assert isinstance(final, DealWon) and final.amount == _money("999.99")
    assert other.state.amount == _money("999.99")


def test_losing_needs_a_configured_reason() -> None:
    deal = Deal()

    with pytest.raises(InvalidCommand, match="'bad_luck' is not a loss reason of pipeline retail"):
        deal.do(LoseDeal(0, "bad_luck"))
    (lost,) = deal.do(LoseDeal(0, "price", "too dear"))

    assert isinstance(lost, DealLost)
    assert (lost.stage_id, lost.reason, lost.comment) == ("lost", "price", "too dear")


def test_a_pipeline_may_narrow_the_loss_reasons() -> None:
    deal = Deal(pipeline_id="b2b")

    with pytest.raises(InvalidCommand, match="not a loss reason of pipeline b2b"):
        deal.do(LoseDeal(0, "no_response"))


@pytest.mark.parametrize(
    "command",
    [
        MoveStage(1, "offer"),
        ChangeAmount(1, Money(amount=Decimal(5), currency=EUR)),
        ChangeOwner(1, "bob"),
        ChangeExpectedClose(1, date(2025, 7, 1)),
        WinDeal(1),
        LoseDeal(1, "price"),
    ],
    ids=lambda command: type(command).__name__,
)
def test_a_closed_deal_changes_only_by_being_reopened(command: DealChange) -> None:
    deal = Deal()
    deal.do(LoseDeal(0, "price"))

    with pytest.raises(IllegalTransition, match=r"deal .* is lost; reopen it first"):
        deal.do(command)


def test_reopening_returns_to_the_stage_the_deal_closed_from_unless_told_otherwise() -> None:
    deal = Deal()
    deal.do(MoveStage(0, "qualified"))
    deal.do(LoseDeal(1, "timing"))

    (reopened,) = deal.do(ReopenDeal(2))

    assert isinstance(reopened, DealReopened)
    assert (reopened.from_stage, reopened.stage_id) == ("lost", "qualified")
    assert deal.state.status is DealStatus.OPEN
    deal.do(WinDeal(3))
    deal.do(ReopenDeal(4, "offer"))
    assert (deal.state.stage_id, deal.state.status) == ("offer", DealStatus.OPEN)


def test_only_a_closed_deal_can_be_reopened() -> None:
    with pytest.raises(IllegalTransition, match=r"cannot reopen: deal .* is open"):
        Deal().do(ReopenDeal(0))


def test_changes_that_change_nothing_are_refused_as_no_change() -> None:
    deal = Deal(expected_close=date(2025, 7, 1))

    for command in (
        ChangeAmount(0, _money("1200.50")),
        ChangeOwner(0, "alice"),
        ChangeExpectedClose(0, date(2025, 7, 1)),
    ):
        with pytest.raises(IllegalTransition) as refused:
            deal.do(command)
        assert refused.value.code == "no_change"


def test_amount_owner_and_expected_close_changes_record_the_previous_value() -> None:
    deal = Deal()

    (amount,) = deal.do(ChangeAmount(0, _money("80", "USD")))
    deal.do(ChangeOwner(1, "bob"))
    deal.do(ChangeExpectedClose(2, date(2025, 8, 1)))

    assert isinstance(amount, DealAmountChanged) and amount.previous == _money("1200.50")
    state = deal.state
    assert (state.amount, state.owner_id, state.expected_close, state.version) == (
        _money("80", "USD"),
        "bob",
        date(2025, 8, 1),
        3,
    )
    with pytest.raises(InvalidCommand, match="not a staff member"):
        deal.do(ChangeOwner(3, "mallory"))
