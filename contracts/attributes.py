"""Profile attributes of a customer (name, birthday, children, car, preferences, language, consents).

Every change is an event on the customer's stream, so the card can show each field's history and a
rebuild or a re-fold after a merge reproduces it. Values are typed per attribute and checked here,
at the edge: an event in the store always carries a value its attribute accepts, in one normal form
(a birthday is ``YYYY-MM-DD``, a language tag is BCP 47 as ``langcodes`` standardises it).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self
from uuid import UUID

import langcodes
from pydantic import (
    AfterValidator,
    Field,
    JsonValue,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from contracts.base import Contract
from contracts.customer import CustomerEvent
from contracts.personal import ERASED

#: No customer alive was born before this; a birthday before it is a typing error.
EARLIEST_BIRTHDAY = date(1900, 1, 1)


class AttributeName(StrEnum):
    """The profile fields the card keeps; ``consent_*`` are marketing consents per channel."""

    NAME = "name"
    BIRTHDAY = "birthday"
    CHILDREN = "children"
    CAR = "car"
    PREFERENCES = "preferences"
    LANGUAGE = "language"
    CONSENT_EMAIL = "consent_email"
    CONSENT_SMS = "consent_sms"
    CONSENT_PHONE = "consent_phone"
    CONSENT_MESSAGING = "consent_messaging"


#: Attributes that describe the person rather than their dealings with us (masked for analysts).
PERSONAL_ATTRIBUTES = frozenset({AttributeName.NAME, AttributeName.BIRTHDAY, AttributeName.CHILDREN})


class InvalidAttribute(ValueError):
    """A value its attribute does not accept; the message says what is wrong, for a 422."""


class AttributeSource(StrEnum):
    """Who said so: a staff member (by command) or a channel (from what a provider sent)."""

    STAFF = "staff"
    CHANNEL = "channel"


def _language_tag(value: str) -> str:
    """The BCP 47 tag in its standard form (``en_us`` -> ``en-US``); refuses unknown subtags."""
    try:
        valid = langcodes.tag_is_valid(value)
        standard = langcodes.standardize_tag(value) if valid else ""
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"{value!r} is not a valid BCP 47 language tag (for example en, en-GB, pt-BR)")
    return standard


def _not_before_1900(value: date) -> date:
    if value < EARLIEST_BIRTHDAY:
        raise ValueError(f"a birthday before {EARLIEST_BIRTHDAY.isoformat()} is not plausible")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Birthday = Annotated[date, AfterValidator(_not_before_1900)]
LanguageTag = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=35), AfterValidator(_language_tag)
]


class Child(Contract):
    """A child of the customer; at least one of the two fields."""

    name: Text | None = None
    birth_date: Birthday | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.name is None and self.birth_date is None:
            raise ValueError("a child needs a name or a birth_date")
        return self


class Car(Contract):
    """The customer's car."""

    brand: Text
    model: Text | None = None


Children = Annotated[tuple[Child, ...], Field(max_length=20)]
Preference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Preferences = Annotated[tuple[Preference, ...], Field(max_length=50)]

#: The type of each attribute's value; validation and the normal form come from these.
ATTRIBUTE_TYPES: dict[AttributeName, TypeAdapter[Any]] = {
    AttributeName.NAME: TypeAdapter(Text),
    AttributeName.BIRTHDAY: TypeAdapter(Birthday),
    AttributeName.CHILDREN: TypeAdapter(Children),
    AttributeName.CAR: TypeAdapter(Car),
    AttributeName.PREFERENCES: TypeAdapter(Preferences),
    AttributeName.LANGUAGE: TypeAdapter(LanguageTag),
    **{
        name: TypeAdapter(bool)
        for name in (
            AttributeName.CONSENT_EMAIL,
            AttributeName.CONSENT_SMS,
            AttributeName.CONSENT_PHONE,
            AttributeName.CONSENT_MESSAGING,
        )
    },
}


def _describe(name: AttributeName, exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join([name.value, *(str(step) for step in error["loc"])])
        parts.append(f"{where}: {str(error['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def attribute_value(name: AttributeName, value: Any) -> Any:
    """``value`` as the attribute's type (a ``date``, a ``Car``, a tuple of ``Child``...).

    Raises :class:`InvalidAttribute` saying what is wrong. Strict about kinds: ``"yes"`` is no consent.
    """
    try:
        return ATTRIBUTE_TYPES[name].validate_python(value, strict=name.value.startswith("consent_"))
    except ValidationError as exc:
        raise InvalidAttribute(_describe(name, exc)) from None


def attribute_json(name: AttributeName, value: Any) -> JsonValue:
    """The attribute's normal form as JSON (dates as ISO text, models as objects, tuples as lists)."""
    typed = attribute_value(name, value)
    dumped: JsonValue = ATTRIBUTE_TYPES[name].dump_python(typed, mode="json", exclude_none=True)
    return dumped


class _AttributeChange(CustomerEvent):
    """What every attribute change says besides the value: which, who and why.

    ``provider`` names the channel's provider when ``source`` is a channel; ``actor`` the staff member
    when it is staff; ``source_event_id`` the event the value came from (the interaction for a
    channel, the command's own id for staff).
    """

    attribute: AttributeName
    source: AttributeSource
    provider: str | None = Field(default=None, max_length=64)
    actor: str | None = Field(default=None, max_length=200)
    source_event_id: UUID

    @model_validator(mode="after")
    def _source_named(self) -> Self:
        if self.source is AttributeSource.STAFF and not self.actor:
            raise ValueError("a staff change names its actor")
        return self


class AttributeSet(_AttributeChange):
    """The attribute now has ``value`` (set, or corrected: the previous value stays in the history)."""

    EVENT_TYPE: ClassVar[str] = "customer.attribute.set"
    event_type: Literal["customer.attribute.set"] = "customer.attribute.set"
    schema_version: Literal[1] = 1
    value: JsonValue

    @field_validator("value", mode="before")
    @classmethod
    def _typed(cls, value: Any, info: ValidationInfo) -> Any:
        """Any value the attribute accepts (a ``date``, a ``Car``...) becomes its JSON normal form."""
        name = info.data.get("attribute")
        if value == ERASED:
            return value  # a forgotten customer's value: erased by crypto-shredding, not typed any more
        if not isinstance(name, AttributeName):
            return value  # the attribute itself was refused; that error is reported
        try:
            return attribute_json(name, value)
        except InvalidAttribute as exc:
            raise ValueError(str(exc)) from None


class AttributeCleared(_AttributeChange):
    """The attribute has no value any more (removed by staff); its history stays."""

    EVENT_TYPE: ClassVar[str] = "customer.attribute.cleared"
    event_type: Literal["customer.attribute.cleared"] = "customer.attribute.cleared"
    schema_version: Literal[1] = 1
    reason: str | None = Field(default=None, max_length=1000)


AttributeEvent = AttributeSet | AttributeCleared
ATTRIBUTE_EVENTS: tuple[type[CustomerEvent], ...] = (AttributeSet, AttributeCleared)
