"""Kafka record bytes -> interaction contract, or a reason it is poison."""

from __future__ import annotations

import json

from pydantic import ValidationError

from contracts import InteractionEvent, UnknownEventType, parse_event


class PoisonMessage(ValueError):
    """A record that can never be processed, whatever the retries: it goes to the dead-letter topic."""


def decode_interaction(body: bytes) -> InteractionEvent:
    """Parse and validate; deterministic failures raise :class:`PoisonMessage` with the reason."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise PoisonMessage("JSON nested too deeply") from exc
    if not isinstance(data, dict):
        raise PoisonMessage("not a JSON object")
    try:
        event = parse_event(data)
    except (UnknownEventType, ValueError, TypeError) as exc:
        reason = exc.errors(include_input=False) if isinstance(exc, ValidationError) else str(exc)
        raise PoisonMessage(f"invalid event: {reason}") from exc
    if not isinstance(event, InteractionEvent):
        raise PoisonMessage(f"{event.event_type} is not an interaction event")
    return event
