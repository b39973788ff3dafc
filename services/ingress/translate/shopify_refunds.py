"""Shopify ``refunds/create`` webhooks -> :class:`RefundRecorded`, and the choice by topic.

The refund's amount is what its successful ``refund`` transactions paid back; a refund that moved
no money (a restock only) is acknowledged and ignored. A refund payload names no customer, only
its order, so the sender is the order's identity ``external:shopify_order:<order id>``, which
every Shopify order event also carries: the refund lands on the card of whoever placed the order.

The refund id (``refund:<id>``) is the provider message id; only a payload without one falls back
to the ``X-Shopify-Webhook-Id`` header, which Shopify keeps across retries of one delivery.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

from contracts import IdentityKind, InteractionEvent, Money, PurchaseLine, RefundRecorded, Sender
from services.ingress.errors import IgnoredDelivery, InvalidPayload, UnsupportedEventType
from services.ingress.translate import shopify
from services.ingress.translate._common import (
    IdentityCandidate,
    Node,
    clip,
    contract_errors,
    event_id,
    load_json,
    sender_identities,
    summarise,
)

PROVIDER = shopify.PROVIDER
ORDER_TOPICS = frozenset({"orders/create", "orders/paid"})
REFUND_TOPIC = "refunds/create"

TranslateFn = Callable[..., Sequence[InteractionEvent]]


def translator_for(topic: str | None, webhook_id: str | None) -> TranslateFn:
    """The translator for ``X-Shopify-Topic``; without the header, an order (as before topics)."""
    topic = (topic or "").strip().lower()
    if not topic or topic in ORDER_TOPICS:
        return shopify.translate
    if topic == REFUND_TOPIC:

        def refund(
            raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
        ) -> list[RefundRecorded]:
            return translate(
                raw,
                received_at=received_at,
                correlation_id=correlation_id,
                default_region=default_region,
                webhook_id=webhook_id,
            )

        return refund
    raise UnsupportedEventType("header X-Shopify-Topic names a topic this endpoint does not take")


def translate(
    raw: bytes,
    *,
    received_at: datetime,
    correlation_id: str,
    default_region: str,
    webhook_id: str | None = None,
) -> list[RefundRecorded]:
    """One event per refund that paid money back; raises :class:`InvalidPayload` naming the field."""
    refund = load_json(raw)
    order_id = refund.required("order_id").ident()
    message_id = _message_id(refund, webhook_id)
    paid = _paid(refund)
    amount = _amount(paid)
    lines = tuple(_line(item, amount.currency) for item in refund.child("refund_line_items").items())
    occurred = refund.child("processed_at")
    occurred = refund.required("created_at") if occurred.is_missing() else occurred
    with contract_errors("shopify refund"):
        event = RefundRecorded(
            event_id=event_id(PROVIDER, message_id),
            occurred_at=occurred.aware_datetime(),
            received_at=received_at,
            correlation_id=correlation_id,
            provider=PROVIDER,
            provider_message_id=message_id,
            sender=Sender(
                identities=sender_identities(
                    [IdentityCandidate(IdentityKind.EXTERNAL, order_id, "order_id", shopify.ORDER_IDENTITY)],
                    default_region,
                )
            ),
            summary=_summary(order_id, lines),
            order_id=order_id,
            refund_id=message_id.partition(":")[2],
            amount=amount,
            lines=lines,
            reason=clip(refund.child("note").optional_text(), 1000),
            payment_id=_refunded_transaction(paid),
        )
    return [event]


def _message_id(refund: Node, webhook_id: str | None) -> str:
    refund_id = refund.child("id").optional_ident()
    if refund_id is not None:
        return f"refund:{refund_id}"
    fallback = (webhook_id or "").strip()
    if not fallback:
        raise InvalidPayload("field id is missing and there is no X-Shopify-Webhook-Id header")
    return f"webhook:{fallback}"


def _paid(refund: Node) -> list[Node]:
    """The successful ``refund`` transactions; :class:`IgnoredDelivery` when none moved money."""
    paid = [
        t
        for t in refund.child("transactions").items()
        if t.child("kind").optional_text() == "refund" and t.child("status").optional_text() == "success"
    ]
    if not paid:
        raise IgnoredDelivery("shopify refund has no successful refund transaction: it moved no money")
    return paid


def _refunded_transaction(paid: list[Node]) -> str | None:
    """The transaction (``parent_id``) the refund paid back through, when all of its transactions name
    the same one."""
    parents = {t.child("parent_id").optional_ident() for t in paid}
    return parents.pop() if len(parents) == 1 else None


def _amount(paid: list[Node]) -> Money:
    """The sum of the successful ``refund`` transactions, which must share one currency."""
    currencies = {t.required("currency").text().upper() for t in paid}
    if len(currencies) != 1:
        raise InvalidPayload("field transactions: refund transactions are in more than one currency")
    total = sum((t.required("amount").decimal() for t in paid), Decimal(0))
    with contract_errors("field transactions"):
        return Money(amount=total, currency=currencies.pop())


def _line(item: Node, currency: str) -> PurchaseLine:
    """A refunded line: its quantity, the item's unit price, and the refunded subtotal."""
    line_item = item.required("line_item")
    quantity = item.required("quantity").decimal()
    subtotal_set = item.child("subtotal_set")
    shop_money = subtotal_set if subtotal_set.is_missing() else subtotal_set.child("shop_money")
    if not shop_money.is_missing():
        currency = shop_money.required("currency_code").text().upper()
        subtotal = shop_money.required("amount").decimal()
    else:
        subtotal = item.required("subtotal").decimal()
    with contract_errors(f"field {item.path}"):
        return PurchaseLine(
            sku=clip(line_item.child("sku").optional_text(), 200),
            name=clip(line_item.required("title").text(), 500) or "",
            quantity=quantity,
            unit_price=Money(amount=line_item.required("price").decimal(), currency=currency),
            total=Money(amount=subtotal, currency=currency),
        )


def _summary(order_id: str, lines: tuple[PurchaseLine, ...]) -> str:
    """``Refund on order 820982911946154508: 1 x IPod Nano`` - what came back, never amounts."""
    items = ", ".join(f"{line.quantity.normalize():f} x {line.name}" for line in lines)
    return summarise(f"Refund on order {order_id}" + (f": {items}" if items else ""))
