"""What a real trial found: discounts and our agents, from the webhook to the reminder and the staff report.

A discounted Shopify order must count as discounted (so the loyalty reminder is not offered to a customer
who used a code days ago), and the widget's agent and the till's cashier must reach staff effectiveness,
linked to the staff member ``staff.toml`` names them for.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts import DealOpened, DealWon, Envelope, InteractionEvent, Money, derived_event_id
from contracts.read.analytics import Trigger
from contracts.sales_config import ConfigError, parse_staff
from hub import samples_pos_voice as pv
from hub.samples import chat_message, sample_person, shopify_order
from projections.analytics.facts import Fact, evolve_deal, sale_of, step_thread, touch_of
from services.api.analytics_config import LoyaltyRule
from services.api.analytics_reminders import History, Purchase, due
from services.api.analytics_reports import ReplyFact, TouchFact, Window, staff_report
from services.ingress.translate import Translator, chat_widget, shopify, till

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
PERSON = sample_person("trial")
CUSTOMER = uuid.UUID(int=5)
LOYALTY = LoyaltyRule(id="loyal", kind="loyalty_discount", purchases=3, within_days=365, no_discount_days=90)
MARCH = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def _fact(event: Envelope, position: int = 1) -> Fact:
    return Fact(position, event, CUSTOMER, {})


def _received(translate: Translator, raw: bytes) -> InteractionEvent:
    [event] = translate(raw, received_at=NOW, correlation_id="trial", default_region="US")
    return event


def _shopify_order(order_id: int, days_ago: int, *, code: str | None = None) -> bytes:
    order = json.loads(
        shopify_order(
            PERSON, order_id, [("MUG", "Mug", 2, "12.00")], "EUR", created_at=NOW - timedelta(days_ago)
        )
    )
    if code is not None:  # a 10% code, as Shopify reports it on the order and on the line
        order["discount_codes"] = [{"code": code, "amount": "2.40", "type": "percentage"}]
        order["total_discounts"] = "2.40"
        order["total_price"] = "21.60"
        order["line_items"][0]["discount_allocations"] = [{"amount": "2.40", "discount_application_index": 0}]
    return json.dumps(order).encode()


def _history(*orders: bytes) -> History:
    purchases = []
    for position, raw in enumerate(orders, start=1):
        event = _received(shopify.translate, raw)
        sale = sale_of(_fact(event, position))
        assert sale is not None
        trigger = Trigger(
            position=position,
            event_id=sale.event_id,
            event_type=event.event_type,
            occurred_at=sale.occurred_at,
        )
        purchases.append(Purchase(trigger, sale.discounted))
    return History(CUSTOMER, "alice", purchases=tuple(purchases))


def test_a_customer_who_used_a_shopify_discount_code_days_ago_is_not_offered_a_loyalty_discount() -> None:
    used_a_code = _history(
        _shopify_order(1, 200), _shopify_order(2, 100), _shopify_order(3, 5, code="WELCOME10")
    )
    paid_full_price = _history(_shopify_order(1, 200), _shopify_order(2, 100), _shopify_order(3, 5))

    assert used_a_code.purchases[-1].discounted
    assert due(used_a_code, [LOYALTY], NOW, lambda _p, _s: None) == []
    assert [r.rule for r in due(paid_full_price, [LOYALTY], NOW, lambda _p, _s: None)] == ["loyal"]


STAFF = parse_staff(
    """
version = 1
[[teams]]
id = "north"
name = "North store"
members = [
  { id = "alice", channel_ids = ["widget:agent-17"] },
  { id = "bob", channel_ids = ["till:cashier-17"] },
]
"""
)


def test_widget_replies_and_till_sales_count_for_the_staff_member_their_channel_ids_name() -> None:
    visitor = json.loads(chat_message(PERSON, "m-1", "Are blue mugs back?"))
    reply = {**visitor, "message_id": "m-2", "author": {"type": "agent", "agent_id": "agent-17"}}
    reply["sent_at"] = (datetime.fromisoformat(visitor["sent_at"]) + timedelta(minutes=4)).isoformat()
    asked, answered = (_received(chat_widget.translate, json.dumps(m).encode()) for m in (visitor, reply))
    sold = _received(till.translate, pv.till_receipt(PERSON, "R-9", [pv.TillItem("MUG", "Mug", 1, "12.00")]))
    touches = [touch_of(_fact(event, n)) for n, event in enumerate((asked, answered, sold), start=1)]
    assert touches[0] is not None and touches[1] is not None
    thread, _ = step_thread(None, touches[0])
    _, response = step_thread(thread, touches[1])
    assert response is not None and response.agent == "widget:agent-17"
    in_march = [
        TouchFact(CUSTOMER, MARCH.start + timedelta(days=n), n, t.channel, t.source, t.direction, t.agent)
        for n, t in enumerate(touches)
        if t
    ]
    replies = [ReplyFact(response.agent, MARCH.start + timedelta(days=1), response.seconds, response.first)]

    def team_of(staff_id: str) -> str | None:
        team = STAFF.team_of(staff_id)
        return team.id if team else None

    rows = staff_report(in_march, replies, [], [], MARCH, NOW, team_of, STAFF.staff_for_agent)

    by = {row.staff_id: row for row in rows}
    assert (by["alice"].team, by["alice"].interactions_handled, by["alice"].replies) == ("north", 1, 1)
    assert (by["bob"].team, by["bob"].interactions_handled) == ("north", 1)
    assert "widget:agent-17" not in by and "till:cashier-17" not in by


def test_an_unclaimed_agent_keeps_its_channel_id_and_a_bare_staff_id_links_itself() -> None:
    assert STAFF.staff_for_agent("widget:agent-99") is None
    assert STAFF.staff_for_agent("widget:alice") == "alice"
    assert STAFF.staff_for_agent("alice") == "alice"  # a call's agent: Twilio's client name


def test_a_channel_id_claimed_by_two_staff_members_is_refused() -> None:
    with pytest.raises(ConfigError, match="channel id 'widget:agent-17' is declared twice"):
        parse_staff(
            """
version = 1
[[teams]]
id = "north"
name = "North"
members = [
  { id = "alice", channel_ids = ["widget:agent-17"] },
  { id = "bob", channel_ids = ["widget:agent-17"] },
]
"""
        )


def test_a_win_stamped_before_its_stage_began_is_closed_when_the_stage_began_in_analytics_too() -> None:
    opened_at = NOW - timedelta(days=2)
    money = Money(amount=Decimal("24.00"), currency="EUR")
    envelope = {"received_at": NOW, "correlation_id": "trial", "actor": "hub.autoclose"}
    deal_id = uuid.uuid4()
    opened = DealOpened(
        **DealOpened.type_fields(),
        **envelope,
        event_id=uuid.uuid4(),
        occurred_at=opened_at,
        deal_id=deal_id,
        customer_id=CUSTOMER,
        title="Mugs",
        amount=money,
        pipeline_id="retail",
        stage_id="lead",
        owner_id="alice",
    )
    won = DealWon(
        **DealWon.type_fields(),
        **envelope,
        event_id=derived_event_id(opened.event_id, "won"),
        occurred_at=opened_at - timedelta(days=30),  # the shop's order date, as wins were once stamped
        deal_id=deal_id,
        from_stage="lead",
        stage_id="won",
        amount=money,
    )

    row = evolve_deal(evolve_deal(None, 1, opened), 2, won)

    assert row is not None and row.closed_at == opened_at
    assert all(v.left_at is None or v.left_at >= v.entered_at for v in row.visits)
