"""Square webhooks -> :class:`PurchaseRecorded` (payments) and :class:`RefundRecorded` (refunds).

``payment.created`` / ``payment.updated``: only a ``COMPLETED`` payment is a purchase; ``APPROVED``,
``PENDING``, ``CANCELED`` and ``FAILED`` are acknowledged and ignored. The **payment id** is the
provider message id, so the two notifications of one payment (and every redelivery of either) are
one event: whichever completed notification arrives first is recorded. Square's own ``event_id``
differs per notification, so it would count one payment twice.

``refund.created`` / ``refund.updated``: only a ``COMPLETED`` refund gave money back (``PENDING``,
``REJECTED`` and ``FAILED`` are ignored); its provider message id is ``refund:<refund id>``, so both
notifications of one refund are one event. A refund names no customer, only its ``payment_id``, so
every purchase also carries the identity ``external:square_payment:<payment id>`` and the refund is
attributed through it, landing on the buyer's card. Its ``order_id`` is the **payment id**, which is
the purchase's provider message id: the refund's own ``order_id`` is the order Square makes for the
refund, not the purchase's, and the payment's order is not in the refund payload.

``order.created`` / ``order.updated`` / ``order.fulfillment.updated`` carry only the order's id,
state, version and location (no lines, no buyer): the purchase is the completed payment of the order
and a refund its completed refund, so order notifications are acknowledged and ignored rather than
refused, lest Square retry them for days.

Square sends money in the currency's minor units (cents; yen have none): :func:`minor_to_decimal`
turns them into exact decimals with the ISO 4217 exponent. A payment carries no order lines, so
the purchase has one line, "Square payment", for the amount paid (tips included). Nor does it carry
a discount (the order does, and order notifications carry no amounts), so a Square purchase records
none: ``discount`` absent means "not said", never "not discounted".
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from contracts import (
    Identity,
    IdentityKind,
    Money,
    Payment,
    PurchaseLine,
    PurchaseRecorded,
    RefundRecorded,
    Sender,
)
from contracts.identity import SQUARE_PAYMENT
from services.ingress.errors import IgnoredDelivery, InvalidPayload, UnsupportedEventType
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

PROVIDER = "square"
PAYMENT_TYPES = frozenset({"payment.created", "payment.updated"})
REFUND_TYPES = frozenset({"refund.created", "refund.updated"})
ORDER_TYPES = frozenset({"order.created", "order.updated", "order.fulfillment.updated"})
EVENT_TYPES = PAYMENT_TYPES | REFUND_TYPES | ORDER_TYPES
LINE_NAME = "Square payment"
PAYMENT_IDENTITY = SQUARE_PAYMENT
"""Provider of the ``external:square_payment:<payment id>`` identity every purchase carries (after the
buyer's own), so a later refund, whose payload names only its payment, finds the buyer's card."""

#: ISO 4217 currencies whose minor unit is not the cent (everything else has two decimals).
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV"),
        0,
    ),
    **dict.fromkeys(("XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def minor_to_decimal(amount: int, currency: str) -> Decimal:
    """``amount`` minor units of ``currency`` as an exact decimal: 1999 USD -> 19.99, 1999 JPY -> 1999."""
    return Decimal(amount).scaleb(-_EXPONENTS.get(currency, 2))


def translate(
    raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[PurchaseRecorded | RefundRecorded]:
    """One purchase per completed payment, one refund per completed refund; raises
    :class:`IgnoredDelivery` for any other status and for order notifications."""
    notification = load_json(raw)
    kind = notification.required("type").text()
    if kind not in EVENT_TYPES:
        raise UnsupportedEventType(f"field type: Square event type is not one of {sorted(EVENT_TYPES)}")
    if kind in ORDER_TYPES:
        raise IgnoredDelivery(
            f"square {kind} carries no lines or buyer: purchases and refunds come from payment and"
            " refund notifications"
        )
    found = notification.required("data").required("object")
    if kind in REFUND_TYPES:
        return [_refund(found.required("refund"), received_at, correlation_id, default_region)]
    return [_purchase(found.required("payment"), received_at, correlation_id, default_region)]


def _purchase(
    payment: Node, received_at: datetime, correlation_id: str, default_region: str
) -> PurchaseRecorded:
    status = _completed(payment, "payment", "a completed purchase")
    payment_id = payment.required("id").ident()
    total = _money(_paid(payment))
    with contract_errors("square payment"):
        return PurchaseRecorded(
            event_id=event_id(PROVIDER, payment_id),
            occurred_at=payment.required("created_at").aware_datetime(),
            received_at=received_at,
            correlation_id=correlation_id,
            provider=PROVIDER,
            provider_message_id=payment_id,
            sender=Sender(
                identities=(
                    *sender_identities(_candidates(payment), default_region),
                    _payment_identity(payment_id),
                )
            ),
            summary=_summary(payment),
            order_id=payment.child("order_id").optional_ident() or payment_id,
            lines=(PurchaseLine(name=LINE_NAME, quantity=Decimal(1), unit_price=total, total=total),),
            total=total,
            payments=(Payment(method=_method(payment), amount=total, status=status),),
        )


def _refund(refund: Node, received_at: datetime, correlation_id: str, default_region: str) -> RefundRecorded:
    _completed(refund, "refund", "money given back")
    refund_id = refund.required("id").ident()
    payment_id = refund.required("payment_id").ident()
    message_id = f"refund:{refund_id}"
    with contract_errors("square refund"):
        return RefundRecorded(
            event_id=event_id(PROVIDER, message_id),
            occurred_at=refund.required("created_at").aware_datetime(),
            received_at=received_at,
            correlation_id=correlation_id,
            provider=PROVIDER,
            provider_message_id=message_id,
            sender=Sender(identities=(_payment_identity(payment_id),)),
            summary=summarise(f"Refund on {LINE_NAME.lower()} {payment_id}"),
            order_id=payment_id,
            refund_id=refund_id,
            amount=_money(refund.required("amount_money")),
            reason=clip(refund.child("reason").optional_text(), 1000),
            payment_id=payment_id,
        )


def _completed(node: Node, what: str, meaning: str) -> str:
    """The ``status``, which must be ``COMPLETED``; :class:`IgnoredDelivery` naming it otherwise."""
    status = node.required("status").text().upper()
    if status != "COMPLETED":
        raise IgnoredDelivery(f"square {what} status {status.lower()[:60]} is not {meaning}")
    return status


def _payment_identity(payment_id: str) -> Identity:
    return Identity(kind=IdentityKind.EXTERNAL, value=payment_id, provider=PAYMENT_IDENTITY)


def _paid(payment: Node) -> Node:
    """``total_money`` (amount plus tip) when Square sends it, else ``amount_money``."""
    total = payment.child("total_money")
    return payment.required("amount_money") if total.is_missing() else total


def _money(node: Node) -> Money:
    amount_node = node.required("amount")
    if not isinstance(amount_node.value, int) or isinstance(amount_node.value, bool):
        raise InvalidPayload(f"field {amount_node.path} must be an integer of minor units")
    currency = node.required("currency").text().upper()
    with contract_errors(f"field {node.path}"):
        return Money(amount=minor_to_decimal(amount_node.value, currency), currency=currency)


def _candidates(payment: Node) -> list[IdentityCandidate]:
    return [
        IdentityCandidate(
            IdentityKind.EMAIL, payment.child("buyer_email_address").optional_text(), "buyer_email_address"
        ),
        IdentityCandidate(
            IdentityKind.EXTERNAL, payment.child("customer_id").optional_ident(), "customer_id", PROVIDER
        ),
    ]


def _method(payment: Node) -> str:
    """``card (VISA)``, ``cash``, ``wallet``...: the source type, with the card brand when known."""
    source = (payment.child("source_type").optional_text() or "unknown").lower()
    details = payment.child("card_details")
    card = details.child("card") if not details.is_missing() else details
    brand = card.child("card_brand").optional_text() if not card.is_missing() else None
    return (f"{source} ({brand})" if brand else source)[:64]


def _summary(payment: Node) -> str:
    receipt = payment.child("receipt_number").optional_text()
    return summarise(f"{LINE_NAME}, receipt {receipt}" if receipt else LINE_NAME)
