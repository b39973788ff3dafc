"""The purchase rule as pure functions: which deal a purchase closes, and the event it appends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts import DealStatus, Money, PurchaseLine, PurchaseRecorded, Sender, event_id_for
from contracts.identity import IdentityKind, normalise_identity
from contracts.read.pipeline import DealView, StageVisit
from projections.pipeline.autoclose_rule import ACTOR, Candidate, close_as_won, eligible
from services.api.sales_config import load_rules

pytestmark = pytest.mark.unit

PIPELINES = load_rules().pipelines  # retail: on_purchase, ratio 0.5; events: ratio 0.2; b2b: off
AT = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)


def _purchase(total: str, currency: str = "EUR", order: str = "SO-1") -> PurchaseRecorded:
    money = Money(amount=Decimal(total), currency=currency)
    return PurchaseRecorded(
        event_id=event_id_for("shopify", order),
        occurred_at=AT,
        received_at=AT,
        correlation_id=order,
        provider="shopify",
        provider_message_id=order,
        sender=Sender(identities=(normalise_identity(IdentityKind.EMAIL, "ada@example.com"),)),
        order_id=order,
        lines=(PurchaseLine(name="Sofa", quantity=Decimal(1), unit_price=money, total=money),),
        total=money,
    )


def _candidate(
    pipeline: str = "retail", amount: str = "100", currency: str = "EUR", opened: int = 1
) -> Candidate:
    return Candidate(uuid.uuid4(), pipeline, currency, Decimal(amount), opened)


def test_a_purchase_closes_the_oldest_eligible_deal_first() -> None:
    newer, older = _candidate(opened=9), _candidate(opened=3)

    assert eligible([newer, older], _purchase("100"), PIPELINES) == [older, newer]


@pytest.mark.parametrize(
    ("candidate", "purchase"),
    [
        (_candidate(currency="USD"), _purchase("100", "EUR")),
        (_candidate(amount="100"), _purchase("49.99")),
        (_candidate(pipeline="b2b"), _purchase("100")),
        (_candidate(pipeline="gone"), _purchase("100")),
    ],
    ids=["other-currency", "below-the-ratio", "pipeline-without-the-rule", "pipeline-no-longer-configured"],
)
def test_a_purchase_closes_nothing_the_rule_does_not_cover(
    candidate: Candidate, purchase: PurchaseRecorded
) -> None:
    assert eligible([candidate], purchase, PIPELINES) == []


def test_the_ratio_is_per_pipeline_and_inclusive() -> None:
    assert eligible([_candidate(amount="100")], _purchase("50.00"), PIPELINES) != []
    assert eligible([_candidate("events", amount="1000")], _purchase("200"), PIPELINES) != []
    assert eligible([_candidate("events", amount="1000")], _purchase("199.99"), PIPELINES) == []


def _deal(status: DealStatus = DealStatus.OPEN) -> DealView:
    return DealView(
        deal_id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        pipeline_id="retail",
        title="Sofa",
        amount=Decimal(100),
        currency="EUR",
        stage_id="offer",
        status=status,
        owner_id="alice",
        opened_at=AT,
        stage_history=(StageVisit(stage_id="offer", entered_at=AT, entered_position=1),),
        version=3,
        opened_position=1,
        last_position=4,
        updated_at=AT,
    )


def test_closing_records_what_was_bought_and_which_order_with_an_id_derived_from_the_purchase() -> None:
    deal, purchase = _deal(), _purchase("120.00", order="SO-9")

    won = close_as_won(deal, purchase, PIPELINES)
    again = close_as_won(deal, purchase, PIPELINES)

    assert won is not None and again is not None
    assert won.event_id == again.event_id != purchase.event_id
    assert (won.actor, won.from_stage, won.stage_id, won.order_id) == (ACTOR, "offer", "won", "SO-9")
    assert won.amount == Money(amount=Decimal("120.00"), currency="EUR")
    assert won.purchase_event_id == purchase.event_id


@pytest.mark.parametrize("status", [DealStatus.WON, DealStatus.LOST])
def test_a_deal_someone_already_closed_is_left_as_it_is(status: DealStatus) -> None:
    assert close_as_won(_deal(status), _purchase("100"), PIPELINES) is None


def _bought(created: datetime, received: datetime) -> PurchaseRecorded:
    """A purchase the shop says was made at ``created`` and the hub received at ``received``."""
    return _purchase("100").model_copy(update={"occurred_at": created, "received_at": received})


def test_a_purchase_made_before_the_deal_opened_does_not_close_it() -> None:
    opened_today = _deal()  # opened at AT
    yesterdays_order = _bought(AT - timedelta(days=1), AT + timedelta(minutes=5))

    assert close_as_won(opened_today, yesterdays_order, PIPELINES) is None


def test_a_later_purchase_closes_the_deal_when_the_hub_received_it_not_at_the_shops_date() -> None:
    deal = _deal()
    order = _bought(AT + timedelta(hours=1), AT + timedelta(hours=3))

    won = close_as_won(deal, order, PIPELINES)

    assert won is not None
    assert won.occurred_at == AT + timedelta(hours=3)


def test_a_purchase_received_before_the_deal_entered_its_stage_closes_it_without_a_negative_stay() -> None:
    moved_later = _deal().model_copy(
        update={
            "stage_history": (
                StageVisit(stage_id="offer", entered_at=AT + timedelta(hours=2), entered_position=3),
            )
        }
    )
    order = _bought(AT + timedelta(minutes=10), AT + timedelta(hours=1))

    won = close_as_won(moved_later, order, PIPELINES)

    assert won is not None
    assert won.occurred_at == AT + timedelta(hours=2)


def test_an_order_dated_in_the_second_the_deal_opened_counts_as_after_it() -> None:
    deal = _deal().model_copy(update={"opened_at": AT + timedelta(microseconds=700_000)})

    assert close_as_won(deal, _bought(AT, AT + timedelta(seconds=1)), PIPELINES) is not None
