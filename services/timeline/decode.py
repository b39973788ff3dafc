"""Kafka record bytes -> interaction contract, or a reason it is poison."""

from __future__ import annotations

import json
from typing import Final

from pydantic import ValidationError

from contracts import InteractionEvent, UnknownEventType, parse_event
from contracts.base import STORED
from plumbing import fast_json

#: How a JSON text can hold a NUL character: the escape (a raw one is invalid JSON) in UTF-8, or any
#: text in UTF-16 or UTF-32 (which ``json.loads`` takes too, and which hold NUL bytes).
_NUL_ESCAPE: Final = b"\\u0000"
_NUL_BYTE: Final = b"\x00"


def _may_hold_nul(body: bytes) -> bool:
    return _NUL_ESCAPE in body or _NUL_BYTE in body


class PoisonMessage(ValueError):
    """A record that can never be processed, whatever the retries: it goes to the dead-letter topic."""


def decode_interaction(body: bytes) -> InteractionEvent:
    """Parse and validate; deterministic failures raise :class:`PoisonMessage` with the reason.

    Contracts refuse text with NUL characters by walking every field of every model, a third of the
    validation's time; a body that cannot hold one skips the walk (the ``STORED`` validation context)
    and is validated alike otherwise. The JSON is parsed by orjson (several times faster; what it refuses,
    the standard library parses or refuses, as it alone did before).
    """
    try:
        data = fast_json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise PoisonMessage("JSON nested too deeply") from exc
    if not isinstance(data, dict):
        raise PoisonMessage("not a JSON object")
    try:
        event = parse_event(data, None if _may_hold_nul(body) else STORED)
    except (UnknownEventType, ValueError, TypeError) as exc:
        reason = exc.errors(include_input=False) if isinstance(exc, ValidationError) else str(exc)
        raise PoisonMessage(f"invalid event: {reason}") from exc
    if not isinstance(event, InteractionEvent):
        raise PoisonMessage(f"{event.event_type} is not an interaction event")
    return event
