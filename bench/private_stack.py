"""A Kafka and PostgreSQL of one's own, for benchmarks and fault tests that must not disturb anyone.

The shared local stack (``.state``) is used by everyone working on this machine: stopping its broker or
loading its database would break their runs and spoil our figures. A private stack lives under its own
state dir, on free ports, and is stopped and removed afterwards. The Kafka jars are the shared stack's
(read only, linked), so no second Maven resolution is needed.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hub.stack import Infra, LocalKafka, LocalPostgres, StackSettings, ensure_infra, stop_infra
from hub.stack.paths import default_state_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class PrivateStack:
    """The running private services and the settings that reach them (to stop or restart them)."""

    settings: StackSettings
    infra: Infra

    @property
    def kafka(self) -> LocalKafka:
        return LocalKafka(self.settings)

    @property
    def postgres(self) -> LocalPostgres:
        return LocalPostgres(self.settings)


def _share_kafka_jars(state_dir: Path) -> None:
    shared = default_state_dir() / "kafka" / "libs"
    if (shared / ".pom.sha256").exists():
        target = state_dir / "kafka" / "libs"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(shared, target_is_directory=True)


@contextlib.contextmanager
def private_stack(prefix: str = "hub-private-") -> Iterator[PrivateStack]:
    """Start a private Kafka + PostgreSQL (short /tmp path: PostgreSQL's socket path has a length cap)."""
    state_dir = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    _share_kafka_jars(state_dir)
    settings = StackSettings(
        state_dir=state_dir,
        kafka_bootstrap=None,
        pg_dsn=None,
        pg_superuser_dsn=None,
        local_kafka_port=free_port(),
        local_kafka_controller_port=free_port(),
        local_pg_port=free_port(),
    )
    try:
        yield PrivateStack(settings, ensure_infra(settings))
    finally:
        stop_infra(settings, timeout=30)
        shutil.rmtree(state_dir, ignore_errors=True)
