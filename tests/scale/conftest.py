"""A private three-broker Kafka for the scale tests: its own state dir and ports, so killing its brokers
never disturbs the shared stack other tests use. PostgreSQL is the shared one (each test has its own
database), because nothing here stops it."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.stack import LocalKafkaCluster, StackSettings
from tests.support.deployables import free_port

pytestmark = pytest.mark.scale


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_broker_ports(brokers: int) -> int:
    """A base port whose ``base + 2k`` (k < brokers) are all free: the cluster's port layout."""
    for _ in range(50):
        base = free_port()
        if all(_bindable(base + 2 * k) for k in range(1, brokers)):
            return base
    raise RuntimeError("no free run of broker ports found")


def _shared_jars() -> Path | None:
    """The shared stack's jars (read only), so the private cluster skips a Maven resolve."""
    shared = StackSettings()
    home = shared.kafka_home or shared.paths.kafka
    return home if any((home / "libs").glob("kafka_*.jar")) else None


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafkaCluster]:
    if shutil.which("java") is None:
        pytest.skip("no java on PATH: the private Kafka cluster needs a JRE 17+")
    settings = StackSettings(
        state_dir=tmp_path_factory.mktemp("kafka3"),
        kafka_bootstrap=None,
        pg_dsn=None,
        kafka_brokers=3,
        local_kafka_port=free_broker_ports(3),
        local_kafka_controller_port=free_port(),
        kafka_home=_shared_jars(),
    )
    cluster = LocalKafkaCluster(settings)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.kill()  # a disposable cluster: no controlled shutdown needed
