"""A private three-broker Kafka for the scale tests: its own state dir and ports, so killing its brokers
never disturbs the shared stack other tests use. PostgreSQL is the shared one (each test has its own
database), because nothing here stops it.

Four JVMs take half a minute or more to start on two cores, so the cluster starts in the background at the
first scale test, and the tests that need it run after the others.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from hub.stack import LocalKafkaCluster, StackSettings
from tests.support.deployables import free_port
from tests.support.ordering import run_last

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


def _needs_cluster(item: pytest.Item) -> bool:
    return "kafka_cluster" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Among these tests, those of the private cluster last."""
    run_last(items, Path(__file__).parent, _needs_cluster)


@pytest.fixture(scope="session", autouse=True)
def _cluster_starts_early(request: pytest.FixtureRequest) -> None:
    """At the first scale test, start the cluster if a selected test will need it."""
    if shutil.which("java") is not None and any(_needs_cluster(item) for item in request.session.items):
        request.getfixturevalue("_cluster_starting")


@pytest.fixture(scope="session")
def kafka_cluster(_cluster_starting: tuple[LocalKafkaCluster, Future[int]]) -> LocalKafkaCluster:
    cluster, started = _cluster_starting
    started.result()
    return cluster


@pytest.fixture(scope="session")
def _cluster_starting(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalKafkaCluster, Future[int]]]:
    """The cluster and its start running in a thread; killed at the end of the session."""
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
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-cluster") as starter:
        started = starter.submit(cluster.start)
        try:
            yield cluster, started
        finally:
            started.exception()  # a start still under way launches nodes: let it end, then kill them
            cluster.kill()  # a disposable cluster: no controlled shutdown needed
