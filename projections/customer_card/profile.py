"""Pure fold of profile attributes into a card: current values and each field's history.

Two sources set an attribute: staff commands (:class:`AttributeSet` / :class:`AttributeCleared`) and
what a provider tells us with an interaction (the sender's name, app language, marketing consent).
Staff have the last word: while a field's latest change is a staff member's value, channel data does
not overwrite it (a correction would otherwise be undone by the customer's next chat message); a
channel value is recorded only when it differs from the current one, so the history shows changes,
not every message.
"""

from __future__ import annotations

from typing import Any

from pydantic import JsonValue

from contracts import (
    AttributeCleared,
    AttributeName,
    AttributeSet,
    AttributeSource,
    Direction,
    InteractionEvent,
    InvalidAttribute,
)
from contracts.attributes import attribute_json, attribute_value
from contracts.personal import ERASED
from contracts.read.card_parts import ATTRIBUTE_HISTORY_CAP, AttributeChange
from contracts.read.customer_card import CustomerCard


def apply_attribute(card: CustomerCard, position: int, event: AttributeSet | AttributeCleared) -> None:
    """Fold an attribute event; a channel-sourced one yields to a staff value as described above."""
    name = event.attribute
    cleared = isinstance(event, AttributeCleared)
    value: JsonValue = None if isinstance(event, AttributeCleared) else event.value
    if event.source is AttributeSource.CHANNEL and not _channel_may_set(card, name, value):
        return
    _record(
        card,
        name,
        AttributeChange(
            value=value,
            cleared=cleared,
            at=event.occurred_at,
            position=position,
            event_id=event.event_id,
            source_event_id=event.source_event_id,
            source=event.source,
            provider=event.provider,
            actor=event.actor,
        ),
    )


def apply_channel_profile(card: CustomerCard, position: int, event: InteractionEvent) -> None:
    """Fold the profile data an inbound interaction's sender carries (see :func:`channel_values`)."""
    for name, value in channel_values(event):
        if not _channel_may_set(card, name, value):
            continue
        _record(
            card,
            name,
            AttributeChange(
                value=value,
                at=event.occurred_at,
                position=position,
                event_id=event.event_id,
                source_event_id=event.event_id,
                source=AttributeSource.CHANNEL,
                provider=event.provider,
            ),
        )


def channel_values(event: InteractionEvent) -> list[tuple[AttributeName, JsonValue]]:
    """Attribute values in normal form from an inbound interaction's sender; values an attribute
    does not accept (a language that is no BCP 47 tag) are left out, not guessed."""
    if event.direction is not Direction.INBOUND:
        return []  # an outbound message's "sender" is how we addressed them, not what they told us
    sender = event.sender
    given: list[tuple[AttributeName, Any]] = [
        (AttributeName.NAME, sender.display_name),
        (AttributeName.LANGUAGE, sender.language),
        (AttributeName.CONSENT_EMAIL, sender.email_marketing),
        (AttributeName.CONSENT_SMS, sender.sms_marketing),
    ]
    values: list[tuple[AttributeName, JsonValue]] = []
    for name, raw in given:
        if raw is None:
            continue
        try:
            values.append((name, attribute_json(name, raw)))
        except InvalidAttribute:
            continue
    return values


def staff_owned(card: CustomerCard, name: AttributeName) -> bool:
    """Whether the field's current value was set by staff (channel data then leaves it alone)."""
    history = card.attribute_history.of(name)
    return bool(history) and history[-1].source is AttributeSource.STAFF and not history[-1].cleared


def _current(card: CustomerCard, name: AttributeName) -> JsonValue:
    history = card.attribute_history.of(name)
    return history[-1].value if history and not history[-1].cleared else None


def _channel_may_set(card: CustomerCard, name: AttributeName, value: JsonValue) -> bool:
    return not staff_owned(card, name) and _current(card, name) != value


def _record(card: CustomerCard, name: AttributeName, change: AttributeChange) -> None:
    history = card.attribute_history.of(name)
    history.append(change)
    del history[:-ATTRIBUTE_HISTORY_CAP]
    typed = None if change.cleared else _typed(name, change.value)
    setattr(card.profile, name.value, typed)
    if name is AttributeName.NAME and change.source is AttributeSource.STAFF:
        card.display_name = typed


def _typed(name: AttributeName, value: JsonValue) -> Any:
    if value == ERASED:  # a forgotten customer's value: a name reads as erased, a typed value is gone
        return ERASED if name is AttributeName.NAME else None
    typed = attribute_value(name, value)
    return list(typed) if isinstance(typed, tuple) else typed
