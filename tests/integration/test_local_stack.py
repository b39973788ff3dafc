"""The local stack (hub.stack) runs real Kafka and PostgreSQL, starts idempotently and keeps durable settings.

These tests use the default state dir and ports and leave the stack running: other tests share it, and a
second cluster would cost a JVM start and an initdb.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped, unused-ignore]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped, unused-ignore]

from hub.stack import LocalKafka, LocalPostgres, StackSettings, ensure_infra, infra_status
from hub.stack.processes import list_processes, process_status, start_process, stop_process

# a cold start resolves the Kafka jars with Maven first
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def local_settings() -> StackSettings:
    """Local services even when HUB_KAFKA_BOOTSTRAP / HUB_PG_DSN point elsewhere."""
    return StackSettings(kafka_bootstrap=None, pg_dsn=None)


@pytest.fixture(scope="module")
def kafka(local_settings: StackSettings) -> LocalKafka:
    local = LocalKafka(local_settings)
    local.start()
    return local


@pytest.fixture(scope="module")
def postgres(local_settings: StackSettings) -> LocalPostgres:
    local = LocalPostgres(local_settings)
    local.start()
    return local


def test_starting_kafka_again_keeps_the_running_broker(kafka: LocalKafka) -> None:
    before = kafka.status()
    assert before.running and before.pid is not None
    assert kafka.start() == before.pid
    assert kafka.status().pid == before.pid


def test_starting_postgres_again_keeps_the_running_server(postgres: LocalPostgres) -> None:
    before = postgres.status()
    assert before.running and before.pid is not None
    assert postgres.start() == before.pid
    assert postgres.status().pid == before.pid


async def test_kafka_round_trips_a_message_through_a_new_topic(kafka: LocalKafka) -> None:
    topic = f"stack-test-{uuid.uuid4().hex}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            sent = await producer.send_and_wait(topic, b"hello", key=b"customer-1")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka.bootstrap,
            group_id=f"stack-test-{uuid.uuid4().hex}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            received = await asyncio.wait_for(consumer.getone(), timeout=30)
        finally:
            await consumer.stop()
        assert (received.key, received.value, received.offset) == (b"customer-1", b"hello", sent.offset)
    finally:
        await admin.delete_topics([topic])
        await admin.close()


def test_postgres_serves_the_hub_role_with_durable_commits(postgres: LocalPostgres) -> None:
    with psycopg.connect(postgres.dsn, connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SELECT current_user, current_database()").fetchone() == ("hub", "hub")
        assert conn.execute("SHOW fsync").fetchone() == ("on",)
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
        can_create = conn.execute("SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user").fetchone()
        assert can_create == (True,)


def test_postgres_server_does_not_run_as_root(postgres: LocalPostgres) -> None:
    pid = postgres.status().pid
    assert pid is not None
    assert Path(f"/proc/{pid}").stat().st_uid != 0


def test_password_files_are_private(postgres: LocalPostgres) -> None:
    for name in ("hub.password", "superuser.password"):
        assert (postgres.home / name).stat().st_mode & 0o077 == 0


def test_ensure_infra_returns_local_addresses_and_status_lists_both(local_settings: StackSettings) -> None:
    infra = ensure_infra(local_settings)
    assert infra.kafka_bootstrap == f"127.0.0.1:{local_settings.local_kafka_port}"
    assert infra.pg_dsn.startswith("postgresql://hub:")
    assert "pg_dsn" not in repr(infra)
    assert [(c.name, c.state) for c in infra_status(local_settings)] == [
        ("kafka", "running"),
        ("postgres", "running"),
    ]


def test_settings_read_hub_variables_and_kafka_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("HUB_LOCAL_PG_PORT", "25432")
    monkeypatch.setenv("HUB_KAFKA_BOOTSTRAP", "kafka.example:9092")
    monkeypatch.setenv("KAFKA_HOME", "/opt/kafka")
    settings = StackSettings()
    assert settings.paths.root == tmp_path.resolve()
    assert settings.local_pg_port == 25432
    assert settings.kafka_bootstrap == "kafka.example:9092"
    assert settings.kafka_home == Path("/opt/kafka")
    assert infra_status(settings)[0].state == "external"


def test_a_background_process_starts_once_and_stops(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(300)"]
    pid = start_process("sleeper", argv, {"HUB_TEST": "1"}, tmp_path)
    try:
        assert start_process("sleeper", argv, {}, tmp_path) == pid
        assert process_status("sleeper", tmp_path).running
        assert [p.name for p in list_processes(tmp_path)] == ["sleeper"]
    finally:
        assert stop_process("sleeper", tmp_path, timeout=10)
    assert not process_status("sleeper", tmp_path).running
    assert not stop_process("sleeper", tmp_path, timeout=10)
    assert "up" in (tmp_path / "sleeper.log").read_text()


def test_a_pid_file_whose_pid_was_reused_is_treated_as_stale(tmp_path: Path) -> None:
    # our own pid with another start time: what a reboot or pid wrap-around leaves behind
    record = {"pid": os.getpid(), "start_ticks": 1, "argv": ["gone"]}
    (tmp_path / "ghost.pid").write_text(json.dumps(record))
    status = process_status("ghost", tmp_path)
    assert (status.running, status.pid) == (False, None)
    assert not (tmp_path / "ghost.pid").exists()
