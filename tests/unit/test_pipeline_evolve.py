"""The pipeline fold: stage history, time in stage, stale flags, replays, the pipeline as of a past point."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

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
    NoteAdded,
)
from contracts.read.pipeline import DealView, is_stale, summarize, time_in_stages
from projections.pipeline.evolve import Fact, evolve, fold, pipeline_as_of
from services.api.sales_config import load_rules

pytestmark = pytest.mark.unit

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
RETAIL = load_rules().pipelines.pipeline("retail")
assert RETAIL is not None


class Log:
    """Deal events at given times, with store positions and stream versions, as the projection sees them."""

    def __init__(self) -> None:
        self.facts: list[Fact] = []
        self.versions: dict[UUID, int] = {}

    def add(self, event_type: type[DealEvent], deal_id: UUID, at: datetime, **fields: Any) -> Fact:
        version = self.versions.get(deal_id, -1) + 1
        self.versions[deal_id] = version
        event = event_type(
            **event_type.type_fields(),
            event_id=uuid.uuid4(),
            occurred_at=at,
            received_at=at,
            correlation_id="test",
            actor="alice",
            deal_id=deal_id,
            **fields,
        )
        fact = Fact(position=len(self.facts) + 1, stream_version=version, event=event)
        self.facts.append(fact)
        return fact

    def open(self, at: datetime, amount: str = "100.00", currency: str = "EUR", stage: str = "lead") -> UUID:
        deal_id = uuid.uuid4()
        self.add(
            DealOpened,
            deal_id,
            at,
            customer_id=uuid.UUID(int=1),
            title="Sofa",
            amount=Money(amount=Decimal(amount), currency=currency),
            pipeline_id="retail",
            stage_id=stage,
            owner_id="alice",
        )
        return deal_id

    def move(self, deal_id: UUID, at: datetime, to: str) -> Fact:
        deals = fold({}, self.facts)
        return self.add(DealStageMoved, deal_id, at, from_stage=deals[deal_id].stage_id, to_stage=to)

    def deals(self) -> dict[UUID, DealView]:
        return fold({}, self.facts)


def test_a_deal_view_records_every_stage_visit_with_its_entry_and_exit() -> None:
    log = Log()
    deal = log.open(T0)
    log.move(deal, T0 + timedelta(days=2), "offer")
    log.add(DealLost, deal, T0 + timedelta(days=5), from_stage="offer", stage_id="lost", reason="price")

    view = log.deals()[deal]

    assert [(v.stage_id, v.entered_at, v.left_at) for v in view.stage_history] == [
        ("lead", T0, T0 + timedelta(days=2)),
        ("offer", T0 + timedelta(days=2), T0 + timedelta(days=5)),
        ("lost", T0 + timedelta(days=5), None),
    ]
    assert (view.status, view.lost_reason, view.closed_at, view.version) == (
        DealStatus.LOST,
        "price",
        T0 + timedelta(days=5),
        2,
    )


def test_reopening_clears_the_outcome_and_winning_takes_the_final_amount() -> None:
    log = Log()
    deal = log.open(T0)
    log.add(DealLost, deal, T0 + timedelta(days=1), from_stage="lead", stage_id="lost", reason="price")
    log.add(DealReopened, deal, T0 + timedelta(days=2), from_stage="lost", stage_id="offer")
    reopened = log.deals()[deal]
    final = Money(amount=Decimal("80.00"), currency="USD")
    log.add(
        DealWon,
        deal,
        T0 + timedelta(days=3),
        from_stage="offer",
        stage_id="won",
        amount=final,
        order_id="SO-1",
    )
    won = log.deals()[deal]

    assert (reopened.status, reopened.lost_reason, reopened.closed_at) == (DealStatus.OPEN, None, None)
    assert (won.status, won.amount, won.currency, won.won_order_id) == (
        DealStatus.WON,
        Decimal("80.00"),
        "USD",
        "SO-1",
    )


def test_a_fact_already_folded_in_changes_nothing() -> None:
    log = Log()
    deal = log.open(T0)
    moved = log.move(deal, T0 + timedelta(days=1), "offer")
    view = log.deals()[deal]

    assert evolve(view, moved) is view
    assert fold(log.deals(), log.facts) == log.deals()


def test_events_that_are_not_about_deals_leave_views_alone() -> None:
    note = NoteAdded(
        **NoteAdded.type_fields(),
        event_id=uuid.uuid4(),
        occurred_at=T0,
        received_at=T0,
        correlation_id="c",
        actor="alice",
        note_id=uuid.uuid4(),
        customer_id=uuid.UUID(int=1),
        text="hello",
    )

    assert evolve(None, Fact(1, 0, note)) is None


def test_time_in_stage_adds_up_every_visit_and_counts_the_current_one_up_to_now() -> None:
    log = Log()
    deal = log.open(T0)
    log.move(deal, T0 + timedelta(days=1), "qualified")
    log.move(deal, T0 + timedelta(days=1, hours=12), "lead")  # back again
    log.move(deal, T0 + timedelta(days=2), "offer")

    times = {
        t.stage_id: (t.visits, t.seconds) for t in time_in_stages(log.deals()[deal], T0 + timedelta(days=3))
    }

    day = 86_400
    assert times == {"lead": (2, day + day // 2), "qualified": (1, day // 2), "offer": (1, day)}


@pytest.mark.parametrize(
    ("stage", "days", "stale"),
    [("lead", 7, False), ("lead", 7.01, True), ("qualified", 13, False), ("qualified", 15, True)],
)
def test_an_open_deal_is_stale_once_it_sat_in_its_stage_longer_than_the_stage_threshold(
    stage: str, days: float, stale: bool
) -> None:
    log = Log()
    deal = log.open(T0, stage=stage)

    assert RETAIL is not None
    assert is_stale(log.deals()[deal], RETAIL, T0 + timedelta(days=days)) is stale


def test_a_closed_deal_is_never_stale() -> None:
    log = Log()
    deal = log.open(T0)
    log.add(
        DealWon, deal, T0, from_stage="lead", stage_id="won", amount=Money(amount=Decimal(1), currency="EUR")
    )

    assert RETAIL is not None
    assert not is_stale(log.deals()[deal], RETAIL, T0 + timedelta(days=400))


def test_the_pipeline_as_of_a_position_is_the_fold_of_the_log_up_to_it() -> None:
    log = Log()
    first = log.open(T0, "100.00")
    log.move(first, T0 + timedelta(days=1), "offer")
    cut = len(log.facts)
    second = log.open(T0 + timedelta(days=2), "50.00")
    log.add(
        DealAmountChanged,
        first,
        T0 + timedelta(days=3),
        previous=Money(amount=Decimal(100), currency="EUR"),
        amount=Money(amount=Decimal(300), currency="EUR"),
    )

    then = pipeline_as_of(log.facts, position=cut)

    assert set(then) == {first}
    assert (then[first].stage_id, then[first].amount) == ("offer", Decimal("100.00"))
    assert pipeline_as_of(log.facts) == log.deals()
    assert set(pipeline_as_of(log.facts, at=T0 + timedelta(days=2))) == {first, second}
    assert pipeline_as_of(log.facts, at=T0 + timedelta(days=2))[first].amount == Decimal("100.00")


def test_the_forecast_of_a_past_moment_weighs_the_deals_as_they_stood_then() -> None:
    log = Log()
    deal = log.open(T0, "1000.00")
    log.move(deal, T0 + timedelta(days=1), "offer")
    assert RETAIL is not None
    period = (T0 - timedelta(days=30), T0 + timedelta(days=30))

    before_move = summarize(pipeline_as_of(log.facts, at=T0).values(), RETAIL, *period)
    after_move = summarize(pipeline_as_of(log.facts).values(), RETAIL, *period)

    assert before_move.forecast == {"EUR": Decimal("100.0000")}  # 1000.00 x 0.10 in lead
    assert after_move.forecast == {"EUR": Decimal("600.0000")}  # 1000.00 x 0.60 in offer


def test_a_win_stamped_before_its_stage_began_closes_when_the_stage_began_so_no_stay_is_negative() -> None:
    log = Log()
    deal = log.open(T0)
    log.move(deal, T0 + timedelta(days=2), "offer")
    money = Money(amount=Decimal("100.00"), currency="EUR")
    # As a purchase once stamped it: the shop's order date, a month before the deal even opened.
    log.add(DealWon, deal, T0 - timedelta(days=30), from_stage="offer", stage_id="won", amount=money)

    view = log.deals()[deal]

    assert view.closed_at == T0 + timedelta(days=2)
    assert all(s.seconds >= 0 for s in time_in_stages(view, T0 + timedelta(days=3)))
    assert [(v.stage_id, v.entered_at, v.left_at) for v in view.stage_history][-2:] == [
        ("offer", T0 + timedelta(days=2), T0 + timedelta(days=2)),
        ("won", T0 + timedelta(days=2), None),
    ]
