"""``hub channels``: every endpoint of the ingress listed with its secret's source, the URL to paste into
the provider and the settings to make there; never a secret value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub import channel_guides, cli
from hub.local_secrets import SECRET_VARIABLES
from services.ingress.endpoints import ENDPOINTS
from services.ingress.settings import IngressSettings
from tests.support.channel_env import isolate, write_generated

pytestmark = pytest.mark.unit

PUBLIC = "https://hub.example.com"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate(monkeypatch, tmp_path)


def _listing(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli.app, ["channels", "--json", *args])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)  # stdout is the document and nothing else
    return document


def _by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {channel["name"]: channel for channel in document["channels"]}


def test_every_endpoint_of_the_ingress_has_a_guide_naming_the_variable_its_secrets_come_from() -> None:
    for endpoint in ENDPOINTS:
        guide = channel_guides.GUIDES.get(endpoint.path)
        assert guide is not None, f"{endpoint.path} has no guide in hub/channel_guides.py"
        probe = IngressSettings.model_validate({guide.secrets_field: ["probe"]})
        assert [s.get_secret_value() for s in endpoint.secrets(probe)] == ["probe"], endpoint.path
        assert channel_guides.variable_of(guide.secrets_field) in SECRET_VARIABLES.values()


def test_every_channel_is_listed_with_its_public_webhook_url(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_PUBLIC_BASE_URL", PUBLIC + "/")

    document = _listing()

    assert document["public"] is True and document["note"] is None
    assert [c["path"] for c in document["channels"]] == [e.path for e in ENDPOINTS]
    channels = _by_name(document)
    assert channels["telegram"]["webhook_urls"] == [f"{PUBLIC}/webhooks/chat/telegram"]
    assert channels["generic"]["webhook_urls"] == [
        f"{PUBLIC}/webhooks/generic/{name}" for name in ("chat", "social", "email")
    ]
    assert channels["telegram"]["register_command"] == "hub channels register telegram"
    assert channels["shopify"]["register_command"] == "hub channels register shopify"


def test_without_a_public_base_url_the_urls_are_the_local_ones_and_the_listing_says_so(state: Path) -> None:
    document = _listing()

    assert document["public"] is False
    assert "HUB_PUBLIC_BASE_URL is not set" in document["note"] and "HTTPS" in document["note"]
    assert _by_name(document)["shopify"]["webhook_urls"] == ["http://127.0.0.1:8081/webhooks/pos/shopify"]
    text = CliRunner().invoke(cli.app, ["channels"]).stdout
    assert text.startswith("note: HUB_PUBLIC_BASE_URL is not set")


def test_each_secret_says_where_it_came_from_environment_first_then_hub_toml_then_generated(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_generated(state)
    (tmp_path / "hub.toml").write_text('vk_secrets = "from-the-file"\n')
    (tmp_path / "hub.toml").chmod(0o600)
    monkeypatch.setenv("HUB_TELEGRAM_SECRETS", "new-token,old-token")
    monkeypatch.setenv("HUB_VK_SECRETS", "from-the-environment")
    monkeypatch.setenv("HUB_MAILGUN_SECRETS", "")  # switched off by the person: no generated fallback

    channels = _by_name(_listing())

    assert channels["telegram"]["secret"] == {
        "variable": "HUB_TELEGRAM_SECRETS",
        "source": "environment",
        "entries": 2,
    }
    assert channels["vk"]["secret"]["source"] == "environment"
    assert channels["widget"]["secret"]["source"] == "generated" and channels["widget"]["enabled"]
    assert channels["mailgun"]["secret"]["source"] == "environment"
    assert channels["mailgun"]["enabled"] is False

    monkeypatch.delenv("HUB_VK_SECRETS")
    assert _by_name(_listing())["vk"]["secret"]["source"] == "hub.toml"


def test_without_a_local_stack_an_unconfigured_channel_is_unset_and_disabled(state: Path) -> None:
    channels = _by_name(_listing())

    assert channels["square"]["secret"]["source"] == "unset" and channels["square"]["enabled"] is False
    assert not (state / "webhook-secrets.json").exists()  # listing generates nothing


def test_a_generated_secret_for_a_provider_that_issues_its_own_key_is_flagged(state: Path) -> None:
    write_generated(state)

    channels = _by_name(_listing())

    for name in ("shopify", "meta", "square", "twilio", "mailgun"):
        assert any("every delivery is refused (401)" in w for w in channels[name]["warnings"]), name
    for name in ("telegram", "vk", "sendgrid", "widget", "till", "mta", "generic"):
        assert channels[name]["warnings"] == [], name


def test_the_provider_settings_name_what_each_provider_needs(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_PUBLIC_BASE_URL", PUBLIC)
    steps = {name: " ".join(c["provider_settings"]) for name, c in _by_name(_listing()).items()}

    for topic in ("orders/create", "orders/paid", "refunds/create"):
        assert topic in steps["shopify"]
    assert (
        "setWebhook" in steps["telegram"]
        and "secret_token=the value of HUB_TELEGRAM_SECRETS" in steps["telegram"]
    )
    assert '"business_message"' in steps["telegram"] and '"callback_query"' in steps["telegram"]
    assert "Verify token = the value of HUB_META_VERIFY_TOKEN" in steps["meta"]
    assert "HUB_VK_CONFIRMATION" in steps["vk"] and "message_new" in steps["vk"]
    assert "status callback" in steps["twilio"]
    assert f"Notification URL {PUBLIC}/webhooks/pos/square" in steps["square"]
    assert f'forward("{PUBLIC}/webhooks/email/mailgun")' in steps["mailgun"]
    assert "Inbound Parse" in steps["sendgrid"]
    assert "https://sendgrid:<the value of HUB_SENDGRID_SECRETS>@hub.example.com/" in steps["sendgrid"]


def test_no_secret_value_is_ever_printed(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = {variable: f"zqxsecret{n:02d}value" for n, variable in enumerate(SECRET_VARIABLES.values())}
    half = list(values.items())
    for variable, value in half[::2]:
        monkeypatch.setenv(variable, value)
    (tmp_path / "hub.toml").write_text(
        "".join(f'{v.removeprefix("HUB_").lower()} = "{value}"\n' for v, value in half[1::4])
    )
    (tmp_path / "hub.toml").chmod(0o600)
    write_generated(state, **{name: f"zqxgenerated{n:02d}" for n, name in enumerate(SECRET_VARIABLES)})
    monkeypatch.setenv("HUB_PUBLIC_BASE_URL", PUBLIC)

    text = CliRunner().invoke(cli.app, ["channels"])
    as_json = CliRunner().invoke(cli.app, ["channels", "--json"])

    assert text.exit_code == 0 and as_json.exit_code == 0
    for output in (text.output, as_json.output):
        assert "zqx" not in output
