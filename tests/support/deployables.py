"""The hub's deployables as real processes for end-to-end and fault tests."""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from hub import deployment
from hub.local_secrets import LocalSecrets
from hub.stack import Infra
from hub.stack.processes import process_status, stop_process
from plumbing.settings import Topics
from tests.support.access import issue_key
from tests.support.infra import with_database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningHub:
    """Every deployable of one test's hub: its own database, topics, consumer group and ports."""

    infra: Infra
    dsn: str  # the owner's, of this hub's database; the deployables connect as their runtime roles
    run_dir: Path
    topics: Topics = field(default_factory=lambda: _fresh_topics())
    secrets: LocalSecrets = field(default_factory=LocalSecrets.generate)
    ports: deployment.Ports = field(default_factory=lambda: deployment.Ports(free_port(), free_port()))
    group: str = field(default_factory=lambda: f"timeline-{uuid.uuid4().hex[:8]}")
    extra_env: dict[str, str] = field(default_factory=dict)  # settings a test changes (rules files...)

    @property
    def env(self) -> dict[str, str]:
        return deployment.service_env(
            Infra(self.infra.kafka_bootstrap, self.dsn),
            self.secrets,
            self.ports,
            self.blob_dir,
            HUB_TOPICS__INTERACTIONS=self.topics.interactions,
            HUB_TOPICS__DEAD_LETTER=self.topics.dead_letter,
            HUB_TOPICS__TIMELINE=self.topics.timeline,
            HUB_TIMELINE_GROUP=self.group,
            HUB_LOG_LEVEL=os.environ.get("HUB_TEST_LOG_LEVEL", "INFO"),
            **self.extra_env,
        )

    @property
    def dsns(self) -> dict[str, str]:
        """Each deployable's DSN: its runtime role's (hub/deployment.py), in this hub's database."""
        database = urlsplit(self.dsn).path.lstrip("/")
        runtime = {role: with_database(dsn, database) for role, dsn in self.infra.runtime_dsns.items()}
        return deployment.deployable_dsns(runtime)

    def env_for(self, name: str) -> dict[str, str]:
        """The environment deployable ``name`` runs with: :attr:`env` with its own role's DSN."""
        return deployment.deployable_env(name, self.env, self.dsns)

    @property
    def blob_dir(self) -> Path:
        """This hub's own evidence store."""
        return self.run_dir / "blobs"

    @cached_property
    def api_key(self) -> str:
        """A key of this hub's database that reads every customer with every field."""
        return issue_key(self.dsn, "e2e-reader")

    @property
    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def start(self, *names: str) -> None:
        deployment.start_all(self.run_dir, self.env, names or tuple(deployment.DEPLOYABLES), dsns=self.dsns)
        started = names or tuple(deployment.DEPLOYABLES)
        if "ingress" in started:
            deployment.wait_http_ok(f"{self.ports.ingress_url}/health", 60, self.run_dir, "ingress")
        if "api" in started:
            deployment.wait_http_ok(f"{self.ports.api_url}/health", 60, self.run_dir, "api")

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown hooks, no final commit."""
        status = process_status(name, self.run_dir)
        assert status.pid is not None, f"{name} is not running"
        os.kill(status.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process_status(name, self.run_dir).running and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        for name in reversed(deployment.DEPLOYABLES):
            stop_process(name, self.run_dir, timeout=10)

    def log(self, name: str) -> str:
        return (self.run_dir / f"{name}.log").read_text(errors="replace")


def _fresh_topics() -> Topics:
    tag = uuid.uuid4().hex[:10]
    return Topics(
        interactions=f"test.{tag}.interactions",
        dead_letter=f"test.{tag}.dlq",
        timeline=f"test.{tag}.timeline",
    )
