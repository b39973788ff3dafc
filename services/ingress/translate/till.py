"""Our in-store tills' signed receipts -> :class:`PurchaseRecorded`.

The receipt format is ours, so it is a strict schema (:class:`TillReceipt`, unknown fields refused)
and its arithmetic is checked: every line total is ``quantity x unit_price - discount``, the
subtotal is the sum of the lines, the total is subtotal + tax, and the payments pay the total. A
receipt that does not add up is refused (422) naming the field, because the till has a bug and a
wrong lifetime value must not reach the card.

The provider message id is ``<store_id>/<receipt_id>`` (receipt numbers are unique per store), so a
till re-sending a receipt records it once. A receipt with neither a loyalty card nor customer
contact is an anonymous sale: acknowledged and ignored.

Each line's ``discount`` is carried as the line's and their sum as the purchase's, with the
``discount_codes`` the cashier entered; ``cashier_id`` is the purchase's ``agent_id``.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from contracts import IdentityKind, Money, Payment, PurchaseLine, PurchaseRecorded, Sender
from services.ingress.errors import IgnoredDelivery, InvalidPayload
from services.ingress.translate._common import (
    IdentityCandidate,
    contract_errors,
    event_id,
    sender_identities,
    summarise,
)

PROVIDER = "till"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TillLine(_Strict):
    """One receipt line; ``discount`` is the amount taken off the whole line, ``total`` what it cost."""

    sku: Text
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    quantity: Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=4)]
    unit_price: Amount
    discount: Amount = Decimal(0)
    total: Amount


class TillTotals(_Strict):
    subtotal: Amount
    tax: Amount = Decimal(0)
    total: Amount


class TillPayment(_Strict):
    method: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    amount: Amount


class TillCustomer(_Strict):
    phone: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=320)


class TillReceipt(_Strict):
    """The body our tills POST to ``/webhooks/pos/till`` (amounts are decimal strings or numbers)."""

    receipt_id: Text
    store_id: Text
    cashier_id: Text
    occurred_at: AwareDatetime
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    lines: tuple[TillLine, ...] = Field(min_length=1, max_length=500)
    totals: TillTotals
    payments: tuple[TillPayment, ...] = Field(min_length=1, max_length=20)
    loyalty_card: Text | None = None
    customer: TillCustomer | None = None
    discount_codes: tuple[Text, ...] = Field(default=(), max_length=50)


def translate(
    raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[PurchaseRecorded]:
    """One purchase per receipt; raises :class:`InvalidPayload` naming the field that is wrong."""
    receipt = parse_receipt(raw)
    check_totals(receipt)
    candidates = _candidates(receipt)
    if all(candidate.value is None for candidate in candidates):
        raise IgnoredDelivery("till receipt has no loyalty card or customer contact: an anonymous sale")
    message_id = f"{receipt.store_id}/{receipt.receipt_id}"
    currency = receipt.currency
    with contract_errors("till receipt"):
        event = PurchaseRecorded(
            event_id=event_id(PROVIDER, message_id),
            occurred_at=receipt.occurred_at,
            received_at=received_at,
            correlation_id=correlation_id,
            provider=PROVIDER,
            provider_message_id=message_id,
            sender=Sender(identities=sender_identities(candidates, default_region)),
            summary=_summary(receipt),
            order_id=receipt.receipt_id,
            lines=tuple(_line(line, currency) for line in receipt.lines),
            total=Money(amount=receipt.totals.total, currency=currency),
            payments=tuple(
                Payment(method=p.method, amount=Money(amount=p.amount, currency=currency), status="completed")
                for p in receipt.payments
            ),
            discount=Money(
                amount=sum((line.discount for line in receipt.lines), Decimal(0)), currency=currency
            ),
            discount_codes=receipt.discount_codes,
            agent_id=receipt.cashier_id,
        )
    return [event]


def parse_receipt(raw: bytes) -> TillReceipt:
    """The receipt, strictly; JSON numbers are read as exact decimals, never floats."""
    try:
        data = json.loads(raw, parse_float=Decimal)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
        raise InvalidPayload("body is not valid JSON") from None
    try:
        return TillReceipt.model_validate(data)
    except ValidationError as exc:
        # Field paths and messages only: pydantic's error text would quote the (personal) input.
        problems = "; ".join(
            f"field {'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidPayload(f"till receipt does not fit the schema: {problems}") from None


def check_totals(receipt: TillReceipt) -> None:
    """Raise :class:`InvalidPayload` naming the first amount that does not add up."""
    for index, line in enumerate(receipt.lines):
        if line.discount > line.quantity * line.unit_price:
            raise InvalidPayload(f"field lines[{index}].discount is larger than the line")
        if line.total != line.quantity * line.unit_price - line.discount:
            raise InvalidPayload(f"field lines[{index}].total is not quantity x unit_price - discount")
    totals = receipt.totals
    if totals.subtotal != sum((line.total for line in receipt.lines), Decimal(0)):
        raise InvalidPayload("field totals.subtotal is not the sum of the line totals")
    if totals.total != totals.subtotal + totals.tax:
        raise InvalidPayload("field totals.total is not subtotal + tax")
    if sum((payment.amount for payment in receipt.payments), Decimal(0)) != totals.total:
        raise InvalidPayload("field payments: the payments do not add up to totals.total")


def _line(line: TillLine, currency: str) -> PurchaseLine:
    return PurchaseLine(
        sku=line.sku,
        name=line.name,
        quantity=line.quantity,
        unit_price=Money(amount=line.unit_price, currency=currency),
        total=Money(amount=line.total, currency=currency),
        discount=Money(amount=line.discount, currency=currency),
    )


def _candidates(receipt: TillReceipt) -> list[IdentityCandidate]:
    customer = receipt.customer or TillCustomer()
    return [
        IdentityCandidate(IdentityKind.LOYALTY, receipt.loyalty_card, "loyalty_card"),
        IdentityCandidate(IdentityKind.PHONE, customer.phone, "customer.phone"),
        IdentityCandidate(IdentityKind.EMAIL, customer.email, "customer.email"),
    ]


def _summary(receipt: TillReceipt) -> str:
    """``Till receipt R-1 (store S-7): 1 x Blue jacket, 2 x Scarf`` - never amounts or contacts."""
    items = ", ".join(f"{line.quantity.normalize():f} x {line.name}" for line in receipt.lines)
    return summarise(f"Till receipt {receipt.receipt_id} (store {receipt.store_id}): {items}")
