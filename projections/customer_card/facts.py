"""Stored events as the card projection reads them: parsed contracts with their store coordinates."""

from __future__ import annotations

import structlog

from contracts import Envelope, UnknownEventType, parse_event, stream_customer
from contracts.base import STORED
from plumbing.eventstore import RecordedEvent
from projections.customer_card.evolve import Fact

log = structlog.get_logger()


def to_event(recorded: RecordedEvent) -> Envelope | None:
    """The contract of ``recorded``, or None for a type this code does not know (a newer writer's).

    Parsed as :data:`~contracts.base.STORED`: the store took it only after the edge checks, so the walk
    for NUL characters over every text is not repeated for every event of every rebuild.
    """
    try:
        return parse_event(recorded.data, STORED)
    except UnknownEventType:
        log.info("event_type_skipped", event_id=str(recorded.event_id), event_type=recorded.event_type)
        return None


def to_fact(recorded: RecordedEvent) -> Fact | None:
    """The fact for a customer-stream event this code understands; None for anything else."""
    customer_id = stream_customer(recorded.stream_id)
    if customer_id is None:
        return None
    event = to_event(recorded)
    return None if event is None else Fact(recorded.position, customer_id, event)
