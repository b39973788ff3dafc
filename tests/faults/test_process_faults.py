"""The hub's own processes stopped, killed and multiplied under load: nothing lost, doubled or drifted."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid

import psycopg
import pytest

from contracts import InteractionEvent
from hub.local_secrets import LocalSecrets
from hub.stack import Infra
from hub.stack.kafka import run_coro
from hub.stack.processes import process_status, start_process, stop_process
from plumbing.eventstore.postgres import _APPEND_LOCK_KEY
from plumbing.kafka import TopicSpec, ensure_topics
from tests.faults.figures import projection_caught_up, survival, wait_until
from tests.support.deployables import RunningHub
from tests.support.store import interaction_counts
from tests.support.traffic import TrafficPlan, publish_events, stored_events

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

GRACE_S = 15.0
"""FastStream's graceful timeout: how long a stopping writer lets its running handler finish."""


def _traffic(seed: int, deliveries: int, customers: int = 60) -> list[InteractionEvent]:
    plan = TrafficPlan(seed=seed, customers=customers, deliveries=deliveries)
    return list(stored_events(plan, LocalSecrets.generate()))


def _publish(hub: RunningHub, events: list[InteractionEvent]) -> None:
    run_coro(lambda: ensure_topics(hub.infra.kafka_bootstrap, [TopicSpec(hub.topics.interactions)]))
    run_coro(lambda: publish_events(hub.infra.kafka_bootstrap, hub.topics.interactions, events))


def _blocked_appends(dsn: str) -> int:
    """Sessions of this database waiting for the append lock."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND NOT l.granted AND a.datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def test_sigterm_during_a_slow_handler_stops_within_the_grace_period_and_the_batch_is_redelivered_once(
    hub: RunningHub, infra: Infra
) -> None:
    warmup, *batch = _traffic(51, 31)
    _publish(hub, [warmup])
    wait_until(lambda: interaction_counts(hub.dsn)[0] == 1, 60, "the writer to be running")
    with psycopg.connect(hub.dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_APPEND_LOCK_KEY,))  # every append now waits: slow
        _publish(hub, batch)
        wait_until(lambda: _blocked_appends(hub.dsn) > 0, 60, "the handler to be stuck in its append")
        pid = process_status("timeline", hub.run_dir).pid
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        stopping = time.monotonic()
        stopped_in = wait_until(
            lambda: not process_status("timeline", hub.run_dir).running, GRACE_S + 20, "the writer to exit"
        )
        assert interaction_counts(hub.dsn)[0] == 1, "nothing of the interrupted batch may be committed"
        holder.execute("SELECT pg_advisory_unlock(%s)", (_APPEND_LOCK_KEY,))
    hub.start("timeline")
    wait_until(lambda: interaction_counts(hub.dsn)[0] >= len(batch) + 1, 90, "the redelivered batch")
    figures = survival(
        hub.dsn, infra.pg_dsn, [e.event_id for e in [warmup, *batch]], time.monotonic() - stopping
    )
    figures.report(f"SIGTERM in a slow handler: stopped in {stopped_in:.1f}s (grace {GRACE_S:.0f}s)")
    log = hub.log("timeline")
    restarted = log[log.rindex("=== ") :]  # the second process's output only
    assert all(restarted.count(str(event.event_id)) == 1 for event in batch), "each redelivered exactly once"
    assert "interaction_duplicate" not in restarted
    assert (figures.lost, figures.duplicated, figures.drift) == (0, 0, 0)


@pytest.mark.deployables("timeline")  # the projection is started below, with small batches
def test_a_projection_runner_killed_again_and_again_mid_batch_ends_equal_to_a_rebuild(
    hub: RunningHub, infra: Infra
) -> None:
    # many small transactions: many chances to die inside one
    env = {**hub.env_for("projections"), "HUB_BATCH_SIZE": "25"}
    argv = [sys.executable, "-m", "projections.customer_card"]
    events = _traffic(61, 600)
    _publish(hub, events)
    start_process("projections", argv, env, hub.run_dir)
    kills = 0
    for _ in range(5):
        time.sleep(0.7 + 0.3 * kills)  # the runner is in the middle of some batch
        if projection_caught_up(hub.dsn) and interaction_counts(hub.dsn)[0] >= len(events):
            break
        hub.kill("projections")
        kills += 1
        start_process("projections", argv, env, hub.run_dir)
    assert kills >= 2, "the projection caught up before it could be killed; raise the traffic"
    wait_until(lambda: interaction_counts(hub.dsn)[0] >= len(events), 120, "every event stored")
    recovered = wait_until(lambda: projection_caught_up(hub.dsn), 120, "the last restart to catch up")
    figures = survival(hub.dsn, infra.pg_dsn, [e.event_id for e in events], recovered)
    figures.report(f"card projection SIGKILLed {kills} times")
    with psycopg.connect(hub.dsn) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM card_timeline").fetchone()
    assert row == (len(events), len(events)), "every interaction on a timeline exactly once"
    assert (figures.lost, figures.duplicated, figures.drift) == (0, 0, 0)


def test_a_second_timeline_writer_joining_and_leaving_under_load_loses_and_doubles_nothing(
    hub: RunningHub, infra: Infra
) -> None:
    events = _traffic(71, 900, customers=200)
    chunks = [events[n : n + 100] for n in range(0, len(events), 100)]
    _publish(hub, chunks[0])

    def keep_publishing() -> None:
        for chunk in chunks[1:]:
            _publish(hub, chunk)
            time.sleep(1.0)

    publisher = threading.Thread(target=keep_publishing)
    publisher.start()
    second = f"timeline-second-{uuid.uuid4().hex[:6]}"
    argv = [sys.executable, "-m", "services.timeline"]
    start_process(second, argv, hub.env_for("timeline"), hub.run_dir)  # same group
    log = hub.run_dir / f"{second}.log"
    try:
        wait_until(
            lambda: log.exists() and "interaction_recorded" in log.read_text(), 90, "the joiner to work"
        )
    finally:
        stop_process(second, hub.run_dir, timeout=GRACE_S + 5)  # leaves: a second rebalance
        publisher.join(60)
    left = time.monotonic()
    wait_until(lambda: interaction_counts(hub.dsn)[0] >= len(events), 120, "every event stored")
    figures = survival(hub.dsn, infra.pg_dsn, [e.event_id for e in events], time.monotonic() - left)
    figures.report("a second writer joined and left")
    assert (figures.lost, figures.duplicated, figures.drift) == (0, 0, 0)
