"""Poison records never block a partition: they go to the dead-letter topic with the reason, and
``hub dlq list`` / ``hub dlq replay`` show and re-drive them once the cause is fixed."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from aiokafka import AIOKafkaProducer

from hub.samples import chat_events
from hub.stack import Infra
from hub.stack.kafka import run_coro
from hub.stack.paths import repo_root
from plumbing.kafka import SAFE_PRODUCER, TopicSpec, ensure_topics
from services.timeline.dlq import REASON, SOURCE, read_dead_letters
from tests.faults.figures import survival, wait_until
from tests.support.deployables import RunningHub
from tests.support.store import interaction_counts

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]


async def _publish_raw(bootstrap: str, topic: str, key: bytes, bodies: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **SAFE_PRODUCER)
    await producer.start()
    try:
        for body in bodies:
            await producer.send_and_wait(topic, body, key=key)
    finally:
        await producer.stop()


def _refuse(dsn: str, event_id: uuid.UUID) -> None:
    """A rule the store enforces that this one event breaks: a deterministic failure for a valid event."""
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'refused by the test rule'; END $$"
        )
        conn.execute(
            f"CREATE TRIGGER refuse_poison BEFORE INSERT ON events FOR EACH ROW"
            f" WHEN (NEW.event_id = '{event_id}') EXECUTE FUNCTION refuse_poison()"
        )


def _hub_cli(hub: RunningHub, *args: str) -> str:
    env = {
        **hub.env,
        "HUB_KAFKA_BOOTSTRAP": hub.infra.kafka_bootstrap,
        "HUB_TOPICS__DEAD_LETTER": hub.topics.dead_letter,
    }
    done = subprocess.run(
        [str(Path(sys.executable).with_name("hub")), "dlq", *args],
        env=env,
        cwd=repo_root(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_poison_records_are_dead_lettered_with_their_reason_the_partition_flows_and_replay_redrives_them(
    hub: RunningHub, infra: Infra
) -> None:
    events = chat_events(41, 1, uuid.uuid4().hex[:8])  # one person: one key, one partition, one order
    good, poison = events[:40], events[40]
    _refuse(hub.dsn, poison.event_id)
    key = poison.sender.identities[0].key.encode()
    bodies = [e.model_dump_json().encode() for e in good[:20]]
    bodies += [b"\xff\xfe not json at all", poison.model_dump_json().encode()]
    bodies += [e.model_dump_json().encode() for e in good[20:]]
    run_coro(lambda: ensure_topics(infra.kafka_bootstrap, [TopicSpec(hub.topics.interactions)]))
    started = time.monotonic()
    run_coro(lambda: _publish_raw(infra.kafka_bootstrap, hub.topics.interactions, key, bodies))

    flowed = wait_until(
        lambda: interaction_counts(hub.dsn)[0] >= len(good), 120, "the records behind the poison"
    )
    letters = run_coro(lambda: read_dead_letters(infra.kafka_bootstrap, hub.topics.dead_letter))
    assert [letter.value for letter in letters] == [bodies[20], bodies[21]]
    assert letters[0].headers[REASON].startswith("not JSON")
    assert "refused by the test rule" in letters[1].headers[REASON]
    assert all(letter.headers[SOURCE].startswith(hub.topics.interactions + "/") for letter in letters)
    listed = _hub_cli(hub, "list")
    assert "2 dead letter(s)" in listed and "refused by the test rule" in listed and "not JSON" in listed

    with psycopg.connect(hub.dsn) as conn:  # the fix
        conn.execute("DROP TRIGGER refuse_poison ON events")
    replayed = _hub_cli(hub, "replay", f"{letters[1].partition}:{letters[1].offset}")
    assert "replayed 1 dead letter(s)" in replayed
    wait_until(lambda: interaction_counts(hub.dsn)[0] == len(events), 60, "the re-driven event")
    figures = survival(hub.dsn, infra.pg_dsn, [e.event_id for e in events], time.monotonic() - started)
    figures.report(f"poison dead-lettered, partition flowed after {flowed:.1f}s, re-driven")
    assert (figures.lost, figures.duplicated, figures.drift) == (0, 0, 0)
    assert len(run_coro(lambda: read_dead_letters(infra.kafka_bootstrap, hub.topics.dead_letter))) == 2
