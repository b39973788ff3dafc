"""The dead-letter topic: what goes there, with which headers, and how it is read and re-driven.

A record lands there when it can never succeed as it is: undecodable bytes, an invalid event, an event the
store refuses, or one whose handling kept failing for ``max_attempts`` deliveries. Its headers say why and
where it came from, so ``hub dlq list`` can show it and ``hub dlq replay`` can send it back to its topic once
the cause is fixed. Replays are safe: event ids are deterministic, so a record stored meanwhile is a no-op.
Outages of the store are never dead-lettered: they are retried and redelivered until it is back.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from plumbing.kafka import SAFE_PRODUCER, bootstrap_servers

REASON = "x-dead-letter-reason"
SOURCE = "x-dead-letter-source"
"""``topic/partition/offset`` of the original record."""
ATTEMPTS = "x-dead-letter-attempts"
AT = "x-dead-letter-at"
MAX_ATTEMPTS = 5
"""Deliveries of a batch that fails unexpectedly (not a store outage) before its records are tried one by
one and the failing ones are dead-lettered."""
REPLAYED_FROM = "x-replayed-from-dead-letter"
"""On a re-driven record: ``dlq-topic/partition/offset`` of the dead letter it came from."""


def dead_letter_headers(
    topic: str, partition: int, offset: int, reason: str, attempts: int
) -> dict[str, str]:
    """The headers of a dead letter: the reason (capped: it may quote the input), the source, the attempts."""
    return {
        REASON: reason[:1000],
        SOURCE: f"{topic}/{partition}/{offset}",
        ATTEMPTS: str(attempts),
        AT: datetime.now(UTC).isoformat(timespec="seconds"),
    }


class Attempts:
    """Failed deliveries per record (``topic, partition, offset``), bounded in memory.

    Counted in the process: after a restart a poison record gets ``max_attempts`` more tries, which keeps
    the bound without a store of its own.
    """

    def __init__(self, max_attempts: int, remember: int = 10_000) -> None:
        self.max_attempts = max_attempts
        self._failures: OrderedDict[tuple[str, int, int], int] = OrderedDict()
        self._remember = remember

    def failed(self, key: tuple[str, int, int]) -> int:
        """Record one more failure; returns the failures so far."""
        count = self._failures.pop(key, 0) + 1
        self._failures[key] = count
        while len(self._failures) > self._remember:
            self._failures.popitem(last=False)
        return count

    def exhausted(self, key: tuple[str, int, int]) -> bool:
        return self._failures.get(key, 0) >= self.max_attempts

    def forget(self, key: tuple[str, int, int]) -> None:
        self._failures.pop(key, None)


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter topic as ``hub dlq list`` shows it."""

    partition: int
    offset: int
    key: str | None
    headers: Mapping[str, str]
    size: int
    value: bytes

    @property
    def reason(self) -> str:
        return self.headers.get(REASON, "")

    @property
    def source(self) -> str:
        return self.headers.get(SOURCE, "")

    def summary(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key,
            "reason": self.reason,
            "source": self.source,
            "attempts": self.headers.get(ATTEMPTS),
            "at": self.headers.get(AT),
            "bytes": self.size,
        }


def _decoded_headers(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    return {name: value.decode(errors="replace") for name, value in headers}


async def read_dead_letters(bootstrap: str, topic: str, *, timeout_s: float = 15.0) -> list[DeadLetter]:
    """Every record of ``topic`` from the beginning to its current end, without a consumer group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(bootstrap), enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        for _ in range(30):
            if partitions:
                break
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
            await asyncio.sleep(0.1)
        if not partitions:
            return []
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        letters: list[DeadLetter] = []
        remaining = {tp for tp in assigned if ends[tp] > 0}
        deadline = asyncio.get_running_loop().time() + timeout_s
        while remaining and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    value = record.value or b""
                    letters.append(
                        DeadLetter(
                            tp.partition,
                            record.offset,
                            record.key.decode(errors="replace") if record.key else None,
                            _decoded_headers(record.headers),
                            len(value),
                            value,
                        )
                    )
                    if record.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        return sorted(letters, key=lambda letter: (letter.partition, letter.offset))
    finally:
        await consumer.stop()


def source_topic(letter: DeadLetter) -> str | None:
    """The topic a dead letter came from (its ``x-dead-letter-source`` up to the partition)."""
    parts = letter.source.rsplit("/", 2)
    return parts[0] if len(parts) == 3 and parts[0] else None


async def replay(
    bootstrap: str,
    letters: Sequence[DeadLetter],
    dead_letter_topic: str,
    *,
    to_topic: str | None = None,
    only: Collection[tuple[int, int]] | None = None,
) -> int:
    """Publish dead letters back to their source topic (or ``to_topic``); returns how many were sent.

    ``only`` limits it to ``(partition, offset)`` pairs. Each copy carries :data:`REPLAYED_FROM`.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(bootstrap), **SAFE_PRODUCER)
    await producer.start()
    sent = 0
    try:
        for letter in letters:
            if only is not None and (letter.partition, letter.offset) not in only:
                continue
            target = to_topic or source_topic(letter)
            if target is None:
                raise ValueError(f"dead letter {letter.partition}/{letter.offset} names no source topic")
            headers = [(REPLAYED_FROM, f"{dead_letter_topic}/{letter.partition}/{letter.offset}".encode())]
            await producer.send_and_wait(
                target, letter.value, key=letter.key.encode() if letter.key else None, headers=headers
            )
            sent += 1
    finally:
        await producer.stop()
    return sent
