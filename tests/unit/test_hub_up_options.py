"""``hub up --brokers N --metrics-port P``: parsed into the stack's settings before anything starts, the
broker count remembered for ``hub down`` and ``hub status``; no cluster is started here (tests/scale does)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub import cli, deployment
from hub.stack import StackSettings

pytestmark = pytest.mark.unit


class Started(Exception):
    """Raised by the stand-in for ensure_infra: the command got as far as starting the stack."""

    def __init__(self, settings: StackSettings) -> None:
        super().__init__("started")
        self.settings = settings


def _stand_in(settings: StackSettings) -> None:
    raise Started(settings)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HUB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("HUB_MASTER_KEY", "unused-here")
    monkeypatch.setenv("COLUMNS", "300")  # rich would wrap and cut the error box
    monkeypatch.delenv("HUB_KAFKA_BROKERS", raising=False)
    monkeypatch.setattr(cli, "ensure_infra", _stand_in)
    return tmp_path


def _up(*args: str) -> StackSettings:
    result = CliRunner().invoke(cli.app, ["up", *args])
    assert isinstance(result.exception, Started), result.output
    return result.exception.settings


def test_brokers_option_chooses_the_cluster_size(state: Path) -> None:
    assert _up("--brokers", "3").kafka_brokers == 3
    assert _up().kafka_brokers == 1  # nothing remembered: ensure_infra never returned


def test_the_remembered_count_serves_later_commands_unless_the_environment_says_otherwise(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (state / cli.BROKERS_FILE).write_text("3\n")  # what a successful `hub up --brokers 3` leaves

    assert cli._stack().kafka_brokers == 3
    assert _up().kafka_brokers == 3
    assert _up("--brokers", "1").kafka_brokers == 1
    monkeypatch.setenv("HUB_KAFKA_BROKERS", "1")
    assert cli._stack().kafka_brokers == 1


@pytest.mark.parametrize(
    ("brokers", "complaint"),
    [
        ("2", "min.insync.replicas=2"),
        ("0", "greater than or equal to 1"),
        ("6", "less than or equal to 5"),
        ("three", "valid integer"),
    ],
)
def test_impossible_broker_counts_are_refused_before_anything_starts(
    state: Path, brokers: str, complaint: str
) -> None:
    result = CliRunner().invoke(cli.app, ["up", "--brokers", brokers])

    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Started)
    assert "--brokers" in result.output and complaint in result.output


def test_each_worker_gets_its_own_metrics_port_and_none_when_off() -> None:
    ports = deployment.Ports(metrics=deployment.LOCAL_METRICS_PORT)

    assert ports.metrics_ports() == {
        name: deployment.LOCAL_METRICS_PORT + n for n, name in enumerate(deployment.WORKERS)
    }
    assert deployment.Ports().metrics_ports() == {}
    assert set(deployment.WORKERS) == set(deployment.DEPLOYABLES) - {"ingress", "api"}
