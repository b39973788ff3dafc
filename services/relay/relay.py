"""The timeline relay as a projection: publish each batch of the global log to Kafka inside the batch's
transaction, so the checkpoint advances only after Kafka has acknowledged every event of the batch.

Guarantees, for the consumers of the timeline topic:

* **At-least-once, never lost.** ``apply`` returns only when every record of the batch is acknowledged
  by all in-sync replicas (``acks=all``, idempotent producer from :func:`plumbing.kafka.make_broker`).
  If any record is refused or not acknowledged within the publish deadline, ``apply`` raises
  :class:`RelayPublishFailed`, the runner's transaction rolls back with the checkpoint unmoved, and the
  whole batch is sent again later. Some of its records may therefore be delivered twice:
  **consumers dedupe on the ``event_id`` header** (stable: the store's ``UNIQUE(event_id)``).
* **Store order per customer.** Records are handed to the producer one after another in position order
  and only then awaited together. aiokafka appends to a partition's batch in call order, keeps at most
  one produce request per partition in flight, and with idempotence retries a transient failure in
  place, so a partition holds its records in position order. One customer's events share the partition
  of their key (the customer id), hence arrive in store order. A re-sent batch repeats records after
  the originals; skipping anything whose ``stream_version`` is not above the last one applied for its
  ``stream_id`` (or whose ``event_id`` was seen) restores the order exactly.
* **One publisher per batch.** The projection runner locks the checkpoint row for the transaction, so
  two relay instances never publish the same batch concurrently.

Logs carry positions and counts, never event bodies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import structlog
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from plumbing.eventstore import RecordedEvent
from plumbing.eventstore.postgres import Conn
from services.relay.messages import TimelineRecord, timeline_record

log = structlog.get_logger()


class RelayPublishFailed(Exception):
    """Kafka did not acknowledge every record of a batch in time: the batch must not be checkpointed."""


def relay_name(topic: str) -> str:
    """The checkpoint name of the relay to ``topic``: a new topic starts from the beginning of the log."""
    return f"kafka-relay:{topic}"


def _retrieve_outcome(ack: asyncio.Future[Any]) -> None:
    """Mark a late failure as seen: after a deadline nobody awaits the acknowledgement any more."""
    if not ack.cancelled():
        ack.exception()


class TimelineRelay:
    """A :class:`plumbing.projection.Projection` whose "read model" is the timeline topic."""

    def __init__(self, broker: KafkaBroker, topic: str, *, publish_timeout_s: float = 10.0) -> None:
        self.name = relay_name(topic)
        self.topic = topic
        self._broker = broker
        self._publish_timeout_s = publish_timeout_s
        #: monotonic time of the last acknowledged batch (the runner measures outages from it)
        self.acknowledged_at = float("-inf")
        #: batches Kafka refused or did not acknowledge in time, since this instance started
        self.refused_batches = 0

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        """Publish ``events`` in position order; return only when Kafka acknowledged all of them."""
        if not events:
            return
        first, last = events[0].position, events[-1].position
        try:
            async with asyncio.timeout(self._publish_timeout_s):
                acks = [await self._hand_over(timeline_record(event)) for event in events]
                await asyncio.wait(acks)  # no cancellation of the acks on timeout: the producer owns them
                for ack in acks:
                    ack.result()  # the first refusal, in position order, fails the batch
        except (TimeoutError, KafkaError) as exc:
            self.refused_batches += 1
            log.warning(
                "timeline_relay_refused",
                topic=self.topic,
                first_position=first,
                last_position=last,
                events=len(events),
                error=type(exc).__name__,
            )
            raise RelayPublishFailed(
                f"Kafka did not acknowledge positions {first}..{last}: {type(exc).__name__}"
            ) from exc
        self.acknowledged_at = time.monotonic()
        log.info(
            "timeline_relayed", topic=self.topic, first_position=first, last_position=last, events=len(events)
        )

    async def _hand_over(self, record: TimelineRecord) -> asyncio.Future[Any]:
        """Append one record to the producer's batch for its partition; its acknowledgement comes later."""
        ack = await self._broker.publish(
            record.value,
            self.topic,
            key=record.key,
            headers=record.headers,
            correlation_id=record.correlation_id,
            no_confirm=True,
        )
        ack.add_done_callback(_retrieve_outcome)
        return ack
