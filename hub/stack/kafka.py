"""A single-node KRaft Kafka run from Maven-resolved jars with the machine's java, no Docker, no tarball."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Coroutine
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

JVM_OPTS = ("-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true")


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


async def broker_answers(bootstrap: str, probe_seconds: float = 3.0) -> bool:
    """True once the broker serves metadata and lists itself (registered and unfenced)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="hub-stack-probe", request_timeout_ms=int(probe_seconds * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), probe_seconds)
        cluster: dict[str, Any] = await asyncio.wait_for(admin.describe_cluster(), probe_seconds)
        return bool(cluster.get("brokers"))
    except (KafkaError, OSError, TimeoutError) as exc:
        log.debug("kafka not ready yet", bootstrap=bootstrap, error=repr(exc))
        return False
    finally:
        await admin.close()


class LocalKafka:
    """Kafka 4.x, broker+controller in one JVM (node.id 1), state under `<state>/kafka`."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.home = self.settings.paths.kafka
        self.pid_path = self.home / "kafka.pid"
        self.out_path = self.home / "logs" / "server.out"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.settings.local_kafka_port}"

    def libs_dir(self) -> Path:
        """The broker's jars: `$KAFKA_HOME/libs`, or resolved once by Maven into the state dir."""
        if self.settings.kafka_home is not None:
            libs = self.settings.kafka_home / "libs"
            if not any(libs.glob("kafka_*.jar")):
                raise KafkaStartError(f"KAFKA_HOME={self.settings.kafka_home} has no libs/kafka_*.jar")
            return libs
        return resolve_libs(self.home / "libs")

    def start(self, timeout: float = 180.0) -> int:
        """Start unless running, then wait until the broker answers; returns the pid. Idempotent."""
        deadline = time.monotonic() + timeout
        with file_lock(self.home / "kafka.lock"):
            record = live_record(self.pid_path)
            if record is not None:
                pid, launched = record.pid, False
                log.info("kafka already running", pid=pid, bootstrap=self.bootstrap)
            else:
                pid, launched = self._launch(), True
        self._wait_ready(pid, deadline, stop_on_timeout=launched)
        return pid

    def stop(self, timeout: float = 60.0) -> bool:
        """Controlled shutdown (SIGTERM), SIGKILL after `timeout` s; True if it was running. Idempotent."""
        with file_lock(self.home / "kafka.lock"):
            stopped = terminate(self.pid_path, timeout)
        log.info("kafka stopped" if stopped else "kafka was not running")
        return stopped

    def kill(self) -> bool:
        """SIGKILL, as a crash would (fault tests); True if it was running."""
        with file_lock(self.home / "kafka.lock"):
            return kill_now(self.pid_path)

    def status(self) -> ComponentStatus:
        record = live_record(self.pid_path)
        if record is None:
            return ComponentStatus("kafka", "stopped", None, self.bootstrap)
        return ComponentStatus("kafka", "running", record.pid, self.bootstrap)

    def _launch(self) -> int:
        for port in (self.settings.local_kafka_port, self.settings.local_kafka_controller_port):
            if port_in_use(port):
                raise KafkaStartError(
                    f"port {port} is taken by another process (a Kafka of another HUB_STATE_DIR?); "
                    "stop it or set HUB_LOCAL_KAFKA_PORT / HUB_LOCAL_KAFKA_CONTROLLER_PORT"
                )
        classpath = f"{self.libs_dir()}/*"
        config = self._render_config()
        self._format_once(classpath, config)
        argv = [_java(), *JVM_OPTS, *self._log_opts(), "-cp", classpath, "kafka.Kafka", str(config)]
        return spawn_detached(argv, log_path=self.out_path, pid_path=self.pid_path, cwd=self.home)

    def _log_opts(self) -> list[str]:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        config = deploy_dir() / "kafka" / "log4j2.yaml"
        return [f"-Dlog4j2.configurationFile={config}", f"-Dkafka.logs.dir={logs}"]

    def _render_config(self) -> Path:
        """Written on every start, so changed ports take effect; the data stays."""
        template = Template((deploy_dir() / "kafka" / "server.properties.tmpl").read_text())
        text = template.substitute(
            broker_port=self.settings.local_kafka_port,
            controller_port=self.settings.local_kafka_controller_port,
            data_dir=self.home / "data",
        )
        config = self.home / "config" / "server.properties"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(text)
        return config

    def _cluster_id(self) -> str:
        path = self.home / "cluster.id"
        if not path.exists():
            path.write_text(new_cluster_id() + "\n")
        return path.read_text().strip()

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

    def _wait_ready(self, pid: int, deadline: float, *, stop_on_timeout: bool) -> None:
        """Poll until the broker answers; a broker we launched that never answers is stopped again."""
        while time.monotonic() < deadline:
            if live_record(self.pid_path) is None:
                raise KafkaStartError(f"kafka (pid {pid}) exited during start:\n{self._log_tail()}")
            # a plain TCP check first: aiokafka logs every refused connection as an error
            port_open = port_in_use(self.settings.local_kafka_port)
            if port_open and run_coro(lambda: broker_answers(self.bootstrap)):
                log.info("kafka ready", pid=pid, bootstrap=self.bootstrap)
                return
            time.sleep(0.5)
        if stop_on_timeout:
            terminate(self.pid_path, 30.0)
        raise KafkaStartError(f"kafka did not answer on {self.bootstrap} in time:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        server_log = self.home / "logs" / "server.log"
        return f"--- {self.out_path}\n{tail(self.out_path)}\n--- {server_log}\n{tail(server_log)}"


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
