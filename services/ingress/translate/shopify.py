"""Shopify order webhooks (``orders/create``, ``orders/paid``; online and POS) -> :class:`PurchaseRecorded`.

The order id is the provider message id, so ``orders/create`` and a later ``orders/paid`` for the
same order are one event: the first to arrive is recorded and the other dedupes against it. All
amounts are decimal strings in the shop currency and stay :class:`~decimal.Decimal` end to end.

Discounts: a line's ``discount_allocations`` (their ``amount``s) are its ``discount`` and come off its
total; the order's ``total_discounts`` is the purchase's ``discount`` and ``discount_codes[].code`` its
codes, so a discounted order counts as one (analytics, the loyalty reminder).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from urllib.parse import SplitResult, parse_qs, urlsplit

from contracts import Campaign, Identity, IdentityKind, Money, Payment, PurchaseLine, PurchaseRecorded, Sender
from contracts.identity import SHOPIFY_ORDER
from services.ingress.errors import InvalidPayload
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

PROVIDER = "shopify"
ORDER_IDENTITY = SHOPIFY_ORDER
"""Provider of the ``external:shopify_order:<order id>`` identity every order event carries (after
the buyer's own), so a later refund, whose payload names only its order, finds the buyer's card."""


def _order(order_id: str) -> Identity:
    return Identity(kind=IdentityKind.EXTERNAL, value=order_id, provider=ORDER_IDENTITY)


def translate(
    raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[PurchaseRecorded]:
    """One event per order; raises :class:`InvalidPayload` naming the first missing or bad field."""
    order = load_json(raw)
    order_id = order.required("id").ident()
    currency = order.required("currency").text().upper()
    lines = _lines(order, currency)
    total = _money(order.required("total_price"), currency)
    customer = order.child("customer")
    with contract_errors("shopify order"):
        event = PurchaseRecorded(
            event_id=event_id(PROVIDER, order_id),
            occurred_at=order.required("created_at").aware_datetime(),
            received_at=received_at,
            correlation_id=correlation_id,
            provider=PROVIDER,
            provider_message_id=order_id,
            sender=Sender(
                identities=(
                    *sender_identities(_candidates(order, customer), default_region),
                    _order(order_id),
                ),
                display_name=_customer_name(customer),
                email_marketing=_consent(customer, "email_marketing_consent", "accepts_marketing"),
                sms_marketing=_consent(customer, "sms_marketing_consent"),
            ),
            summary=_summary(order, lines),
            order_id=order_id,
            lines=lines,
            total=total,
            payments=(_payment(order, total),),
            campaign=_campaign(order),
            discount=_optional_money(order.child("total_discounts"), currency),
            discount_codes=_discount_codes(order),
        )
    return [event]


#: UTM parameter -> :class:`Campaign` field.
_UTM = {"utm_source": "source", "utm_medium": "medium", "utm_campaign": "name", "utm_term": "term"}
_UTM |= {"utm_content": "content"}


def _campaign(order: Node) -> Campaign | None:
    """UTM parameters of ``landing_site`` (a path with a query, or a whole URL) and the host of
    ``referring_site``; None when the order says neither (a POS sale, a draft order). Best effort: a
    malformed URL or value is left out, never a reason to refuse the order."""
    query = parse_qs(_split(order.child("landing_site").optional_text()).query)
    found = {field: query[key][0] for key, field in _UTM.items() if query.get(key)}
    found["referrer"] = _split(order.child("referring_site").optional_text()).hostname or ""
    kept = {field: clip(value.strip(), 200) for field, value in found.items() if _label(value)}
    return Campaign(**kept) if kept else None


def _split(url: str | None) -> SplitResult:
    try:
        parts = urlsplit(url or "")
        parts.hostname  # noqa: B018 - raises on a malformed host (an unclosed IPv6 bracket)
    except ValueError:
        return urlsplit("")
    return parts


def _label(value: str) -> bool:
    return bool(value.strip()) and value.isprintable()


def _lines(order: Node, currency: str) -> tuple[PurchaseLine, ...]:
    items = order.required("line_items").items()
    if not items:
        raise InvalidPayload(f"field {order.child('line_items').path} is empty")
    return tuple(_line(item, currency) for item in items)


def _line(item: Node, currency: str) -> PurchaseLine:
    """``price`` is the unit price before discounts; the line total is price x quantity less the
    line's discount allocations (never below zero), exactly."""
    quantity_node = item.required("quantity")
    quantity = quantity_node.decimal()
    if quantity <= 0:
        raise InvalidPayload(f"field {quantity_node.path} must be positive")
    unit_price = _money(item.required("price"), currency)
    discount = _allocated(item, currency)
    taken_off = discount.amount if discount is not None else Decimal(0)
    with contract_errors(f"field {item.path}"):
        return PurchaseLine(
            sku=clip(item.child("sku").optional_text(), 200),
            name=clip(item.required("title").text(), 500) or "",
            quantity=quantity,
            unit_price=unit_price,
            total=Money(amount=max(unit_price.amount * quantity - taken_off, Decimal(0)), currency=currency),
            discount=discount,
        )


def _allocated(item: Node, currency: str) -> Money | None:
    """The sum of a line's ``discount_allocations``; None when Shopify sent none (older payloads)."""
    allocations = item.child("discount_allocations")
    if allocations.is_missing():
        return None
    amounts = [allocation.required("amount").decimal() for allocation in allocations.items()]
    with contract_errors(f"field {allocations.path}"):
        return Money(amount=sum(amounts, Decimal(0)), currency=currency)


def _money(node: Node, currency: str) -> Money:
    with contract_errors(f"field {node.path}"):
        return Money(amount=node.decimal(), currency=currency)


def _optional_money(node: Node, currency: str) -> Money | None:
    return None if node.is_missing() else _money(node, currency)


def _discount_codes(order: Node) -> tuple[str, ...]:
    """The codes of ``discount_codes`` (``[{"code", "amount", "type"}]``), as the buyer typed them."""
    codes = (entry.child("code").optional_text() for entry in order.child("discount_codes").items()[:50])
    return tuple(clip(code.strip(), 255) or "" for code in codes if code)


def _candidates(order: Node, customer: Node) -> list[IdentityCandidate]:
    """Order-level contact first (what the buyer typed at checkout), then the customer record's."""
    candidates = [
        IdentityCandidate(IdentityKind.EMAIL, order.child("email").optional_text(), "email"),
        IdentityCandidate(IdentityKind.PHONE, order.child("phone").optional_text(), "phone"),
    ]
    if not customer.is_missing():
        candidates += [
            IdentityCandidate(IdentityKind.EMAIL, customer.child("email").optional_text(), "customer.email"),
            IdentityCandidate(IdentityKind.PHONE, customer.child("phone").optional_text(), "customer.phone"),
            IdentityCandidate(
                IdentityKind.EXTERNAL, customer.child("id").optional_ident(), "customer.id", PROVIDER
            ),
        ]
    return candidates


def _customer_name(customer: Node) -> str | None:
    if customer.is_missing():
        return None
    parts = [customer.child(key).optional_text() for key in ("first_name", "last_name")]
    return clip(" ".join(part for part in parts if part), 200) or None


def _consent(customer: Node, consent: str, legacy: str | None = None) -> bool | None:
    """Marketing consent from the customer record: ``<consent>.state`` (``subscribed`` or not), else
    the legacy boolean; None when Shopify said neither (or a state that is no answer, like ``pending``)."""
    if customer.is_missing():
        return None
    record = customer.child(consent)
    state = None if record.is_missing() else record.child("state").value
    if isinstance(state, str):
        return {"subscribed": True, "not_subscribed": False, "unsubscribed": False}.get(state.lower())
    given = customer.child(legacy).value if legacy else None
    return given if isinstance(given, bool) else None


def _payment(order: Node, total: Money) -> Payment:
    """One payment of the order total, by the first gateway; Shopify's webhook carries no transactions."""
    gateways = [name.optional_text() for name in order.child("payment_gateway_names").items()]
    method = next((name for name in gateways if name), None) or order.child("gateway").optional_text()
    status = order.child("financial_status").optional_text() or "unknown"
    with contract_errors("field financial_status"):
        return Payment(method=(method or "unknown")[:64], amount=total, status=status[:64])


def _summary(order: Node, lines: tuple[PurchaseLine, ...]) -> str:
    """``#1001 (pos): 3 x Blue mug, 1 x Tea`` - the order name, where it was sold, and what."""
    name = order.child("name").optional_text() or f"order {order.required('id').ident()}"
    source = order.child("source_name").optional_text()
    where = f" ({source})" if source else ""
    items = ", ".join(f"{line.quantity.normalize():f} x {line.name}" for line in lines)
    return summarise(f"{name}{where}: {items}")
