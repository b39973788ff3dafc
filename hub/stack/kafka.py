"""A single-node KRaft Kafka run from Maven-resolved jars with the machine's java, no Docker, no tarball."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from string import Template
from typing import Any, TypeVar

import structlog
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped, unused-ignore]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped, unused-ignore]

from hub.stack.paths import deploy_dir
from hub.stack.processes import (
    ComponentStatus,
    file_lock,
    kill_now,
    live_record,
    port_in_use,
    spawn_detached,
    tail,
    terminate,
)
from hub.stack.settings import StackSettings

log = structlog.get_logger()
T = TypeVar("T")

JVM_OPTS = ("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true")


class KafkaStartError(RuntimeError):
    """The broker did not come up; the message carries the tail of its logs."""


def new_cluster_id() -> str:
    """A cluster id (base64url of a random UUID), as `kafka-storage random-uuid` makes, without a JVM."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka avoids ids that read like a CLI option
            return text


def run_coro(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code, also when the caller already sits in an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


async def broker_answers(bootstrap: str, node_id: int | None = None, probe_seconds: float = 3.0) -> bool:
    """True once the broker serves metadata and lists itself (registered and unfenced): any broker, or the
    one with ``node_id``."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="hub-stack-probe", request_timeout_ms=int(probe_seconds * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), probe_seconds)
        cluster: dict[str, Any] = await asyncio.wait_for(admin.describe_cluster(), probe_seconds)
        ids = {broker["node_id"] for broker in cluster.get("brokers", [])}
        return bool(ids) if node_id is None else node_id in ids
    except (KafkaError, OSError, TimeoutError) as exc:
        log.debug("kafka not ready yet", bootstrap=bootstrap, error=repr(exc))
        return False
    finally:
        await admin.close()


class KafkaNode:
    """One Kafka JVM under ``home``: config rendered from a template in ``deploy/local/kafka``, storage
    formatted once with the cluster's id, a pid file. The single node and every cluster member are one."""

    def __init__(
        self,
        settings: StackSettings,
        home: Path,
        *,
        template: str,
        values: Mapping[str, object],
        ports: tuple[int, ...],
        cluster_id_path: Path,
        heap: str = "512m",
    ) -> None:
        self.settings = settings
        self.home = home
        self.template = template
        self.values = dict(values)
        self.ports = ports
        self.cluster_id_path = cluster_id_path
        self.heap = heap
        self.pid_path = home / "kafka.pid"
        self.out_path = home / "logs" / "server.out"

    def launch_unless_running(self) -> tuple[int, bool]:
        """The pid, and whether this call launched it (a node we launch and that never answers is ours to
        stop again)."""
        with file_lock(self.home / "kafka.lock"):
            record = live_record(self.pid_path)
            if record is not None:
                return record.pid, False
            return self._launch(), True

    def stop(self, timeout: float = 60.0) -> bool:
        """Controlled shutdown (SIGTERM), SIGKILL after `timeout` s; True if it was running. Idempotent."""
        with file_lock(self.home / "kafka.lock"):
            return terminate(self.pid_path, timeout)

    def kill(self) -> bool:
        """SIGKILL, as a crash would (fault tests); True if it was running."""
        with file_lock(self.home / "kafka.lock"):
            return kill_now(self.pid_path)

    def running_pid(self) -> int | None:
        record = live_record(self.pid_path)
        return None if record is None else record.pid

    def log_tail(self) -> str:
        server_log = self.home / "logs" / "server.log"
        return f"--- {self.out_path}\n{tail(self.out_path)}\n--- {server_log}\n{tail(server_log)}"

    def _launch(self) -> int:
        for port in self.ports:
            if port_in_use(port):
                raise KafkaStartError(
                    f"port {port} is taken by another process (a Kafka of another HUB_STATE_DIR?); stop it "
                    "or set HUB_LOCAL_KAFKA_PORT / HUB_LOCAL_KAFKA_CONTROLLER_PORT"
                )
        classpath = f"{libs_dir(self.settings)}/*"
        config = self._render_config()
        self._format_once(classpath, config)
        heap = (f"-Xms{min(256, int(self.heap.rstrip('m')))}m", f"-Xmx{self.heap}")
        argv = [_java(), *heap, *JVM_OPTS, *self._log_opts(), "-cp", classpath, "kafka.Kafka", str(config)]
        return spawn_detached(argv, log_path=self.out_path, pid_path=self.pid_path, cwd=self.home)

    def _log_opts(self) -> list[str]:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        config = deploy_dir() / "kafka" / "log4j2.yaml"
        return [f"-Dlog4j2.configurationFile={config}", f"-Dkafka.logs.dir={logs}"]

    def _render_config(self) -> Path:
        """Written on every start, so changed ports take effect; the data stays."""
        template = Template((deploy_dir() / "kafka" / self.template).read_text())
        text = template.substitute(self.values, data_dir=self.home / "data")
        config = self.home / "config" / "server.properties"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(text)
        return config

    def _cluster_id(self) -> str:
        """One id per cluster, shared by its nodes: a node formatted with another id is refused."""
        self.cluster_id_path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.cluster_id_path.with_suffix(".lock")):
            if not self.cluster_id_path.exists():
                self.cluster_id_path.write_text(new_cluster_id() + "\n")
        return self.cluster_id_path.read_text().strip()

    def _format_once(self, classpath: str, config: Path) -> None:
        """Format the log dir for KRaft the first time only; re-formatting would lose the data."""
        if (self.home / "data" / "meta.properties").exists():
            return
        argv = [_java(), "-Xmx256m", *self._log_opts(), "-cp", classpath, "kafka.tools.StorageTool"]
        argv += ["format", "-t", self._cluster_id(), "-c", str(config), "--ignore-formatted"]
        log.info("formatting kafka storage", data=str(self.home / "data"))
        done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise KafkaStartError(f"kafka storage format failed:\n{done.stdout}\n{done.stderr}")


class LocalKafka:
    """Kafka 4.x, broker+controller in one JVM (node.id 1), state under `<state>/kafka`."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.home = self.settings.paths.kafka
        self.node = KafkaNode(
            self.settings,
            self.home,
            template="server.properties.tmpl",
            values={
                "broker_port": self.settings.local_kafka_port,
                "controller_port": self.settings.local_kafka_controller_port,
            },
            ports=(self.settings.local_kafka_port, self.settings.local_kafka_controller_port),
            cluster_id_path=self.home / "cluster.id",
        )
        self.pid_path = self.node.pid_path
        self.out_path = self.node.out_path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.settings.local_kafka_port}"

    def libs_dir(self) -> Path:
        return libs_dir(self.settings)

    def start(self, timeout: float = 180.0) -> int:
        """Start unless running, then wait until the broker answers; returns the pid. Idempotent."""
        deadline = time.monotonic() + timeout
        pid, launched = self.node.launch_unless_running()
        if not launched:
            log.info("kafka already running", pid=pid, bootstrap=self.bootstrap)
        wait_ready(self.node, self.bootstrap, None, deadline, stop_on_timeout=launched)
        return pid

    def stop(self, timeout: float = 60.0) -> bool:
        """Controlled shutdown (SIGTERM), SIGKILL after `timeout` s; True if it was running. Idempotent."""
        stopped = self.node.stop(timeout)
        log.info("kafka stopped" if stopped else "kafka was not running")
        return stopped

    def kill(self) -> bool:
        """SIGKILL, as a crash would (fault tests); True if it was running."""
        return self.node.kill()

    def status(self) -> ComponentStatus:
        pid = self.node.running_pid()
        return ComponentStatus("kafka", "stopped" if pid is None else "running", pid, self.bootstrap)


def wait_ready(
    node: KafkaNode, bootstrap: str, node_id: int | None, deadline: float, *, stop_on_timeout: bool
) -> None:
    """Poll until the broker answers (and, given ``node_id``, lists itself unfenced); a broker we launched
    that never answers is stopped again."""
    port = int(bootstrap.rsplit(":", 1)[1])
    while time.monotonic() < deadline:
        pid = node.running_pid()
        if pid is None:
            raise KafkaStartError(f"kafka exited during start:\n{node.log_tail()}")
        # a plain TCP check first: aiokafka logs every refused connection as an error
        if port_in_use(port) and run_coro(lambda: broker_answers(bootstrap, node_id)):
            log.info("kafka ready", pid=pid, bootstrap=bootstrap)
            return
        time.sleep(0.5)
    if stop_on_timeout:
        node.stop(30.0)
    raise KafkaStartError(f"kafka did not answer on {bootstrap} in time:\n{node.log_tail()}")


def libs_dir(settings: StackSettings) -> Path:
    """The broker's jars: `$KAFKA_HOME/libs`, or resolved once by Maven into the state dir."""
    if settings.kafka_home is not None:
        libs = settings.kafka_home.expanduser().resolve() / "libs"
        if not any(libs.glob("kafka_*.jar")):
            raise KafkaStartError(f"KAFKA_HOME={settings.kafka_home} has no libs/kafka_*.jar")
        return libs
    return resolve_libs(settings.paths.kafka / "libs")


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise KafkaStartError("no `java` on PATH: install a JRE 17+ (Debian: openjdk-17-jre-headless)")
    return java


def resolve_libs(libs: Path) -> Path:
    """Copy the pom's runtime classpath into `libs` unless the marker says it matches the pom already."""
    pom = deploy_dir() / "kafka" / "pom.xml"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    marker = libs / ".pom.sha256"
    if marker.exists() and marker.read_text().strip() == digest:
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaStartError("no `mvn` on PATH to fetch the Kafka jars: install Maven or set KAFKA_HOME")
    staging = libs.with_name(libs.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    argv = [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies"]
    argv += [f"-DoutputDirectory={staging}", "-DincludeScope=runtime"]
    log.info("resolving kafka jars with maven", pom=str(pom), into=str(libs))
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise KafkaStartError(f"maven could not resolve {pom}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    (staging / ".pom.sha256").write_text(digest + "\n")
    shutil.rmtree(libs, ignore_errors=True)
    staging.replace(libs)
    seconds = round(time.monotonic() - started, 1)
    log.info("kafka jars ready", seconds=seconds, jars=len(list(libs.glob("*.jar"))))
    return libs
