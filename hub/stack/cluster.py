"""A local multi-broker KRaft Kafka: one controller JVM and N broker JVMs on loopback ports, no Docker.

Replication 3 (or N when smaller), ``min.insync.replicas=2`` and no unclean leader election, as in
production, so losing a broker can be tried on one machine: with one of three gone nothing changes for a
producer with ``acks=all``; with two gone the controller fences them, the ISRs shrink to one, and the
remaining broker refuses writes with NOT_ENOUGH_REPLICAS instead of accepting what it could lose.

The controller runs alone (node 0) so that killing brokers never costs the metadata quorum; brokers are
nodes 1..N on ``HUB_LOCAL_KAFKA_PORT + 2k``. State lives under ``<state>/kafka-cluster``, the jars are
the single node's (``<state>/kafka/libs`` or ``KAFKA_HOME``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import structlog

from hub.stack.kafka import KafkaNode, KafkaStartError, LocalKafka, wait_ready
from hub.stack.processes import ComponentStatus
from hub.stack.settings import StackSettings

log = structlog.get_logger()

CONTROLLER_ID = 0
REPLICATION = 3
MIN_INSYNC = 2


class LocalKafkaCluster:
    """Same interface as :class:`LocalKafka` (start, stop, kill, status, bootstrap), plus per-broker
    control for fault tests; brokers are numbered from 1."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.home = self.settings.paths.root / "kafka-cluster"
        replication = min(REPLICATION, self.settings.kafka_brokers)
        common = {
            "controller_id": CONTROLLER_ID,
            "controller_port": self.settings.local_kafka_controller_port,
            "replication": replication,
            "min_isr": min(MIN_INSYNC, replication),
        }
        cluster_id = self.home / "cluster.id"
        self.controller = KafkaNode(
            self.settings,
            self.home / "controller",
            template="controller.properties.tmpl",
            values={**common, "node_id": CONTROLLER_ID},
            ports=(self.settings.local_kafka_controller_port,),
            cluster_id_path=cluster_id,
            heap="256m",
        )
        self.brokers = {
            number: KafkaNode(
                self.settings,
                self.home / f"broker-{number}",
                template="broker.properties.tmpl",
                values={**common, "node_id": number, "broker_port": port},
                ports=(port,),
                cluster_id_path=cluster_id,
            )
            for number, port in enumerate(self.settings.local_kafka_ports, start=1)
        }

    @property
    def bootstrap(self) -> str:
        """Every broker, so a client finds the cluster whichever brokers are down."""
        return ",".join(self.broker_address(number) for number in self.brokers)

    def broker_address(self, number: int) -> str:
        return f"127.0.0.1:{self.settings.local_kafka_ports[number - 1]}"

    def start(self, timeout: float = 240.0) -> int:
        """Start whatever is not running, then wait until every broker is registered and unfenced; returns
        the controller's pid. Idempotent."""
        deadline = time.monotonic() + timeout
        nodes = [self.controller, *self.brokers.values()]
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:  # each format is a JVM start: in parallel
            starts = list(pool.map(KafkaNode.launch_unless_running, nodes))
        pid = starts[0][0]
        launched = [number for number, (_, fresh) in zip(self.brokers, starts[1:], strict=True) if fresh]
        for number in self.brokers:
            self._wait_broker(number, deadline, stop_on_timeout=number in launched)
        log.info("kafka cluster ready", brokers=len(self.brokers), bootstrap=self.bootstrap)
        return pid

    def start_broker(self, number: int, timeout: float = 120.0) -> int:
        """Start one broker (after a kill) and wait until the controller lists it again."""
        pid, launched = self.brokers[number].launch_unless_running()
        self._wait_broker(number, time.monotonic() + timeout, stop_on_timeout=launched)
        return pid

    def kill_broker(self, number: int) -> bool:
        """SIGKILL one broker, as a crash would; True if it was running."""
        killed = self.brokers[number].kill()
        log.info("kafka broker killed", broker=number, was_running=killed)
        return killed

    def stop(self, timeout: float = 60.0) -> bool:
        """Brokers first (their controlled shutdown needs the controller), then the controller."""
        stopped = [node.stop(timeout) for node in self.brokers.values()]
        stopped.append(self.controller.stop(timeout))
        log.info("kafka cluster stopped" if any(stopped) else "kafka cluster was not running")
        return any(stopped)

    def kill(self) -> bool:
        """SIGKILL every node."""
        return any([node.kill() for node in (*self.brokers.values(), self.controller)])

    def status(self) -> ComponentStatus:
        """``running`` only when every node runs; the pid is the controller's."""
        pids = [node.running_pid() for node in (self.controller, *self.brokers.values())]
        if all(pid is not None for pid in pids):
            return ComponentStatus("kafka", "running", pids[0], self.bootstrap)
        return ComponentStatus("kafka", "stopped", pids[0], self.bootstrap)

    def _wait_broker(self, number: int, deadline: float, *, stop_on_timeout: bool) -> None:
        if self.controller.running_pid() is None:
            raise KafkaStartError(f"the kafka controller is not running:\n{self.controller.log_tail()}")
        address = self.broker_address(number)
        wait_ready(self.brokers[number], address, number, deadline, stop_on_timeout=stop_on_timeout)


def local_kafka(settings: StackSettings) -> LocalKafka | LocalKafkaCluster:
    """The single node, or the cluster when ``HUB_KAFKA_BROKERS`` is 3 or more."""
    return LocalKafka(settings) if settings.kafka_brokers == 1 else LocalKafkaCluster(settings)
