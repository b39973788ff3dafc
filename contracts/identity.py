"""Customer identities and their normal forms, so equal identities compare equal everywhere."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final, Self

import phonenumbers
from pydantic import Field, model_validator

from contracts.base import Contract


class IdentityKind(StrEnum):
    """What an identity value is; the kinds a customer may have many of."""

    EMAIL = "email"
    PHONE = "phone"
    HANDLE = "handle"  # a chat or social account, qualified by its provider
    LOYALTY = "loyalty"  # loyalty or payment card id
    EXTERNAL = "external"  # id in another CRM or shop system, qualified by provider


SHOPIFY_ORDER: Final = "shopify_order"
"""Provider of ``external:shopify_order:<order id>``, the identity a Shopify order carries after its
buyer's own, so a later refund, whose payload names only its order, finds the buyer."""

SQUARE_PAYMENT: Final = "square_payment"
"""Provider of ``external:square_payment:<payment id>``, carried by a Square purchase for the same reason."""

TRANSACTION_REFERENCES: Final = frozenset({SHOPIFY_ORDER, SQUARE_PAYMENT})
"""Providers of identities that name a transaction, not a person. They resolve later events about the
transaction to its customer (write side), but a customer gains one per order, so the card neither lists
them nor is looked up by them: a buyer with thousands of orders keeps a card of the usual size."""


def is_transaction_reference(identity: Identity) -> bool:
    return identity.kind is IdentityKind.EXTERNAL and identity.provider in TRANSACTION_REFERENCES


class InvalidIdentity(ValueError):
    """An identity value that cannot be normalised (bad email, unparseable phone...)."""


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_QUALIFIED = {IdentityKind.HANDLE, IdentityKind.EXTERNAL}


class Identity(Contract):
    """One normalised identity. ``key`` is its canonical text form, used for exact matching."""

    kind: IdentityKind
    value: str = Field(min_length=1, max_length=320)
    provider: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _provider_matches_kind(self) -> Self:
        if (self.kind in _QUALIFIED) != (self.provider is not None):
            raise ValueError(
                f"identity kind {self.kind} {'needs' if self.kind in _QUALIFIED else 'takes no'} provider"
            )
        return self

    @property
    def key(self) -> str:
        """``kind:value`` or ``kind:provider:value``, the form the lookup API accepts."""
        if self.provider is None:
            return f"{self.kind}:{self.value}"
        return f"{self.kind}:{self.provider}:{self.value}"

    @classmethod
    def parse_key(cls, key: str, default_region: str = "US") -> Identity:
        """Parse and normalise a ``kind:value`` or ``kind:provider:value`` key."""
        kind_text, _, rest = key.partition(":")
        try:
            kind = IdentityKind(kind_text)
        except ValueError as exc:
            raise InvalidIdentity(f"unknown identity kind {kind_text!r}") from exc
        provider: str | None = None
        if kind in _QUALIFIED:
            provider, _, rest = rest.partition(":")
        return normalise_identity(kind, rest, provider=provider or None, default_region=default_region)


def normalise_email(value: str) -> str:
    """Trim and lower-case; reject what is not an address. Sub-addressing is kept (a+b@x != a@x)."""
    text = value.strip().lower()
    if not _EMAIL.match(text) or len(text) > 320:
        raise InvalidIdentity("not an email address")
    return text


def normalise_phone(value: str, default_region: str) -> str:
    """E.164 form; numbers without a country code are read in ``default_region``."""
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentity("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_identity(
    kind: IdentityKind, value: str, *, provider: str | None = None, default_region: str = "US"
) -> Identity:
    """Build an :class:`Identity` in normal form, or raise :class:`InvalidIdentity`."""
    if kind is IdentityKind.EMAIL:
        normal = normalise_email(value)
    elif kind is IdentityKind.PHONE:
        normal = normalise_phone(value, default_region)
    else:
        normal = value.strip()
        if not normal:
            raise InvalidIdentity(f"empty {kind} identity")
    try:
        return Identity(kind=kind, value=normal, provider=provider.strip().lower() if provider else None)
    except ValueError as exc:
        raise InvalidIdentity(str(exc)) from exc
