"""Event type name -> contract class, so stored JSON turns back into the right model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts.attributes import ATTRIBUTE_EVENTS
from contracts.base import Envelope
from contracts.customer import CUSTOMER_EVENTS
from contracts.documents import DOCUMENT_EVENTS
from contracts.erasure import ERASURE_EVENTS
from contracts.interactions import INTERACTION_EVENTS
from contracts.media import MEDIA_EVENTS
from contracts.sales import SALES_EVENTS
from contracts.sales_tasks import TASK_EVENTS


class UnknownEventType(LookupError):
    """A stored or received event whose type/version this code does not know."""


_KNOWN: tuple[type[Envelope], ...] = (
    *INTERACTION_EVENTS,
    *CUSTOMER_EVENTS,
    *MEDIA_EVENTS,
    *SALES_EVENTS,
    *TASK_EVENTS,
    *ATTRIBUTE_EVENTS,
    *DOCUMENT_EVENTS,
    *ERASURE_EVENTS,
)
_REGISTRY: dict[tuple[str, int], type[Envelope]] = {
    (cls.EVENT_TYPE, cls.SCHEMA_VERSION): cls for cls in _KNOWN
}


def event_class(event_type: str, schema_version: int) -> type[Envelope]:
    """The class for a type and version, or :class:`UnknownEventType`."""
    try:
        return _REGISTRY[(event_type, schema_version)]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r} v{schema_version}") from None


def event_types_of(*bases: type) -> frozenset[str]:
    """The event types of every known contract that is (a subclass of) one of ``bases``: what a follower
    that handles those classes declares as its interest, so a new contract of one is not missed."""
    return frozenset(event_type for (event_type, _), cls in _REGISTRY.items() if issubclass(cls, bases))


def parse_event(data: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> Envelope:
    """Validate JSON-like data into its contract, choosing the class by its type and version
    (``context``: pydantic's validation context, e.g. :data:`contracts.base.STORED`)."""
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UnknownEventType(
            f"unknown event type {data.get('event_type')!r}: schema_version must be an integer"
        )
    cls = event_class(str(data.get("event_type")), version)
    return cls.model_validate(data, context=context)
