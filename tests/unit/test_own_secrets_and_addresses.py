"""A person's own configuration wins over generated values: ``hub up`` hands the deployables the webhook
secrets exported as ``HUB_*`` variables or written in ``hub.toml``, generated ones only for channels nobody
configured, and the listening addresses asked for. Also: ``hub demo`` run twice shows a card twice (stopping
is ``hub down``'s job), and ``hub keys create`` with an unknown role names the roles there are.

Nothing is started here: the stack, migrations and process starts are stand-ins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub import cli, deployment, keys
from hub.local_secrets import LocalSecrets, load_or_create
from hub.secret_sources import (
    ConfigFileError,
    HubFile,
    SecretSource,
    configured_sources,
    read_config_file,
    resolve_secrets,
)
from hub.stack import Infra, StackSettings
from hub.stack.processes import ProcessStatus
from plumbing.access.policy import load_policy
from plumbing.db_roles import Runtime

pytestmark = pytest.mark.unit

OWN_TELEGRAM = "my-own-telegram-secret-token"
OWN_SHOPIFY = "shpss_my-own-shopify-signing-secret"


class Started(Exception):
    """Raised by the stand-in for start_all: carries the environment the deployables would get."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__("started")
        self.env = env


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state dir and no configuration from the machine running the tests."""
    (tmp_path / "state").mkdir()  # what the stack's start makes
    monkeypatch.setenv("HUB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HUB_MASTER_KEY", "unused-here")
    monkeypatch.setenv("HUB_CONFIG_FILE", str(_toml(tmp_path, "")))
    monkeypatch.setenv("COLUMNS", "300")
    for name in [*LocalSecrets.generate().env(), "HUB_INGRESS_HOST", "HUB_API_HOST", "HUB_PUBLIC_BASE_URL"]:
        monkeypatch.delenv(name, raising=False)
    for name in ("HUB_INGRESS_PORT", "HUB_API_PORT", "HUB_KAFKA_BROKERS", "HUB_PG_DSN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "state"


def _toml(folder: Path, text: str) -> Path:
    path = folder / "hub.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)  # as the README says to keep it
    return path


def _stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = {role: f"postgresql://{role.role}@127.0.0.1:1/hub" for role in Runtime}
    infra = Infra("127.0.0.1:1", "postgresql://hub@127.0.0.1:1/hub", runtime_dsns=runtime)
    monkeypatch.setattr(cli, "ensure_infra", lambda settings: infra)
    monkeypatch.setattr(deployment, "migrate_all", lambda dsn: None)

    def start_all(run_dir: Path, env: dict[str, str], **_: Any) -> None:
        raise Started(env)

    monkeypatch.setattr(deployment, "start_all", start_all)


def _up_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What ``hub up`` would start the deployables with."""
    _stand_ins(monkeypatch)
    result = CliRunner().invoke(cli.app, ["up"])
    assert isinstance(result.exception, Started), result.output
    return result.exception.env


def test_hub_up_hands_the_deployables_exported_and_hub_toml_secrets_and_generated_ones_for_the_rest(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_TELEGRAM_SECRETS", OWN_TELEGRAM)
    _toml(tmp_path, f'shopify_secrets = ["{OWN_SHOPIFY}", "an-older-one"]\ntelegram_secrets = "loses"\n')

    env = _up_env(monkeypatch)

    generated = load_or_create(state)  # what `hub up` keeps for channels nobody configured
    assert env["HUB_TELEGRAM_SECRETS"] == OWN_TELEGRAM  # the environment beats hub.toml and generated
    assert env["HUB_SHOPIFY_SECRETS"] == f"{OWN_SHOPIFY},an-older-one"  # newest first, as the ingress reads
    assert generated.telegram != OWN_TELEGRAM and generated.shopify != OWN_SHOPIFY
    assert env["HUB_MTA_SECRETS"] == generated.mta
    assert env["HUB_VK_CONFIRMATION"] == generated.vk_confirmation


def test_a_channel_set_to_nothing_stays_disabled_rather_than_getting_a_generated_secret(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_VK_SECRETS", "")

    assert _up_env(monkeypatch)["HUB_VK_SECRETS"] == ""


def test_listening_addresses_come_from_the_environment_or_hub_toml(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _toml(tmp_path, 'ingress_host = "0.0.0.0"\napi_host = "10.1.2.3"\napi_port = 9090\n')
    monkeypatch.setenv("HUB_INGRESS_PORT", "18081")

    env = _up_env(monkeypatch)

    assert (env["HUB_INGRESS_HOST"], env["HUB_INGRESS_PORT"]) == ("0.0.0.0", "18081")
    assert (env["HUB_API_HOST"], env["HUB_API_PORT"]) == ("10.1.2.3", "9090")
    ports = deployment.Ports(ingress=18081, ingress_host="0.0.0.0", api_host="::")
    assert (ports.ingress_url, ports.api_url) == ("http://127.0.0.1:18081", "http://[::1]:8080")


def test_the_demo_signs_with_the_newest_of_the_persons_own_secrets() -> None:
    generated = LocalSecrets.generate()
    environ = {"HUB_SHOPIFY_SECRETS": f" {OWN_SHOPIFY} , older", "HUB_VK_CONFIRMATION": "123:abc,456:def"}

    resolved = resolve_secrets(generated, environ, HubFile())
    signing = resolved.for_signing()

    assert signing.shopify == OWN_SHOPIFY
    assert signing.vk_confirmation == "123:abc,456:def"  # one value, not a rotation list
    assert signing.mta == generated.mta
    assert resolved.source_of("shopify") is SecretSource.ENVIRONMENT
    assert resolved.source_of("mta") is SecretSource.GENERATED
    assert OWN_SHOPIFY not in repr(resolved)


def test_hub_toml_with_an_unknown_setting_is_refused_without_echoing_any_value(
    state: Path, tmp_path: Path
) -> None:
    _toml(tmp_path, f'telegram_secret = "{OWN_TELEGRAM}"\nshopify_secrets = 42\n')

    with pytest.raises(ConfigFileError) as refused:
        read_config_file()

    message = str(refused.value)
    assert "telegram_secret" in message and "shopify_secrets" in message
    assert OWN_TELEGRAM not in message and "42" not in message


def test_hub_toml_holding_a_secret_that_others_may_read_is_refused_before_any_secret_is_used(
    state: Path, tmp_path: Path
) -> None:
    path = _toml(tmp_path, f'telegram_secrets = "{OWN_TELEGRAM}"\n')
    path.chmod(0o644)

    result = CliRunner().invoke(cli.app, ["status"])

    assert result.exit_code == 2
    assert "group or others may read it (mode 0644)" in result.output and "chmod 600" in result.output
    assert OWN_TELEGRAM not in result.output
    path.chmod(0o600)
    assert read_config_file().value_of("telegram_secrets") == OWN_TELEGRAM


def test_hub_toml_without_secrets_may_be_readable_by_others(state: Path, tmp_path: Path) -> None:
    _toml(tmp_path, 'ingress_host = "0.0.0.0"\n').chmod(0o644)

    assert read_config_file().ingress_host == "0.0.0.0"


def test_a_named_config_file_that_does_not_exist_is_an_error_not_silently_nothing(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_CONFIG_FILE", str(tmp_path / "missing.toml"))

    result = CliRunner().invoke(cli.app, ["status"])

    assert result.exit_code == 2
    assert "missing.toml: no such file" in result.output


def test_sources_can_be_told_without_reading_or_making_any_secret(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_TELEGRAM_SECRETS", OWN_TELEGRAM)
    _toml(tmp_path, f'shopify_secrets = "{OWN_SHOPIFY}"\n')

    sources = configured_sources(read_config_file())

    assert sources["telegram"] is SecretSource.ENVIRONMENT
    assert sources["shopify"] is SecretSource.CONFIG_FILE
    assert sources["mta"] is SecretSource.GENERATED
    assert not (state / "webhook-secrets.json").exists()


def test_a_second_demo_shows_a_card_again_instead_of_stopping_everything(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = StackSettings().paths.run
    running = [ProcessStatus(name, True, 4242, run_dir / f"{name}.log") for name in deployment.DEPLOYABLES]
    monkeypatch.setattr(deployment, "statuses", lambda run_dir: running)  # a demo already runs
    calls: list[dict[str, Any]] = []

    def stopped(*_: Any, **__: Any) -> None:
        raise AssertionError("the demo stopped the stack")

    monkeypatch.setattr(cli, "up", lambda **options: calls.append(options))
    monkeypatch.setattr(cli, "down", stopped)
    monkeypatch.setattr(deployment, "stop_all", stopped)
    monkeypatch.setattr(cli, "stop_infra", stopped)

    result = CliRunner().invoke(cli.app, ["demo"])

    assert result.exit_code == 0, result.output
    assert calls == [{"demo": True}]


def test_keys_create_with_an_unknown_role_lists_every_role_there_is(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_database(work: Any) -> Any:
        raise AssertionError("an unknown role is refused before PostgreSQL is touched")

    monkeypatch.setattr(keys, "_with_conn", no_database)

    result = CliRunner().invoke(cli.app, ["keys", "create", "--principal", "ann", "--role", "superhero"])

    assert result.exit_code == 2, result.output
    assert "superhero" in result.output
    roles = sorted(load_policy().roles)
    assert len(roles) > 3
    assert all(role in result.output for role in roles), result.output


def test_a_listed_secret_with_a_comma_is_refused_since_the_ingress_would_split_it(
    state: Path, tmp_path: Path
) -> None:
    _toml(tmp_path, 'telegram_secrets = ["new,ish", "old"]\n')

    with pytest.raises(ConfigFileError, match=r"telegram_secrets: .*cannot contain a comma"):
        read_config_file()
