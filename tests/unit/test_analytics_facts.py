"""The analytics projection's pure parts: reply times per conversation, deal stage visits, traits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from projections.analytics.facts import Sale, Thread, Touch, step_thread
from projections.analytics.traits import traits_of

pytestmark = pytest.mark.unit

CUSTOMER = uuid.UUID(int=1)
T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def message(minutes: float, direction: str, n: int, channel: str = "chat", agent: str | None = None) -> Touch:
    return Touch(
        n, uuid.uuid4(), CUSTOMER, T0 + timedelta(minutes=minutes), channel, "w", direction, agent, "x"
    )


def replay(touches: list[Touch]) -> list[tuple[float, bool, str | None]]:
    thread: Thread | None = None
    found = []
    for touch in touches:
        thread, response = step_thread(thread, touch)
        if response is not None:
            found.append((response.seconds, response.first, response.agent))
    return found


def test_a_reply_is_timed_from_the_earliest_unanswered_message_and_first_once_per_conversation() -> None:
    found = replay(
        [
            message(0, "inbound", 1),
            message(5, "inbound", 2),  # still waiting since minute 0
            message(10, "outbound", 3, agent="alice"),  # 600 s, first of the conversation
            message(11, "outbound", 4, agent="alice"),  # nobody waits: no reply time
            message(20, "inbound", 5),
            message(22, "outbound", 6, agent="bob"),  # 120 s, same conversation
            message(60 * 30, "inbound", 7),  # 29 h of silence: a new conversation
            message(60 * 31, "outbound", 8),  # 3600 s, first again, no agent named
        ]
    )
    assert found == [(600, True, "alice"), (120, False, "bob"), (3600, True, None)]


def test_an_outbound_message_first_starts_no_wait() -> None:
    assert replay([message(0, "outbound", 1), message(1, "inbound", 2), message(3, "outbound", 3)]) == [
        (120, False, None)
    ]


def sale(
    n: int, days: int, kind: str, amount: str, items: tuple[str, ...] = (), discounted: bool = False
) -> Sale:
    return Sale(
        n,
        uuid.uuid4(),
        CUSTOMER,
        T0 + timedelta(days=days),
        kind,  # type: ignore[arg-type]
        f"o{n}",
        "pos",
        "shop",
        "EUR",
        Decimal(amount),
        discounted,
        items,
        {},
    )


def test_traits_fold_every_fact_of_a_customer() -> None:
    touches = [
        message(0, "inbound", 1),
        message(1, "inbound", 2, channel="email"),
        message(2, "inbound", 3, channel="email"),
        message(3, "outbound", 4),
    ]
    sales = [
        sale(5, 1, "purchase", "100", ("SKU-1", "SKU-2")),
        sale(6, 2, "purchase", "40", ("SKU-2",), discounted=True),
        sale(7, 3, "refund", "15"),
    ]
    traits = traits_of(CUSTOMER, touches, sales)
    assert traits is not None
    assert traits.preferred_channel == "email"  # two inbound emails against one chat
    assert traits.inbound_by_channel == {"chat": 1, "email": 2}
    assert (traits.purchase_count, traits.items) == (2, ("SKU-1", "SKU-2"))
    assert traits.lifetime_value == {"EUR": Decimal("125")}
    assert traits.last_discount_at == T0 + timedelta(days=2)
    assert traits.first_seen_at == T0 and traits.last_contact_at == T0 + timedelta(minutes=3)
    assert traits_of(CUSTOMER, [], []) is None
