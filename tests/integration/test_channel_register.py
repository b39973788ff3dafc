"""``hub channels register telegram|shopify`` against local stand-ins of the Bot API and the Shopify GraphQL
Admin API (tests/support/provider_apis.py), which check each request as the provider documents it.

A provider's refusal ends the command non-zero with the provider's own description on stderr, and
nothing on stdout: no success is claimed. No token or secret is ever printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from hub import cli
from tests.support.channel_env import isolate, write_generated
from tests.support.provider_apis import (
    INVALID_TOKEN,
    ShopifyShop,
    StandIn,
    serving,
    shopify_admin_api,
    telegram_bot_api,
)

pytestmark = pytest.mark.integration

BOT_TOKEN = "123456789:AAH-stand-in-bot-token"
ADMIN_TOKEN = "shpat_standin0123456789abcdef"
API_VERSION = "2026-10"
PUBLIC = "https://hub.example.com"
TELEGRAM_URL = f"{PUBLIC}/webhooks/chat/telegram"
SHOPIFY_URL = f"{PUBLIC}/webhooks/pos/shopify"
ALLOWED_UPDATES = [
    "message",
    "edited_message",
    "business_message",
    "edited_business_message",
    "callback_query",
]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("HUB_PUBLIC_BASE_URL", PUBLIC)
    return state


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch, state: Path) -> Iterator[StandIn]:
    with serving(telegram_bot_api(BOT_TOKEN)) as api:
        monkeypatch.setenv("HUB_TELEGRAM_API_URL", api.base_url)
        monkeypatch.setenv("HUB_TELEGRAM_BOT_TOKEN", BOT_TOKEN)
        yield api


@pytest.fixture
def shop() -> ShopifyShop:
    return ShopifyShop(access_token=ADMIN_TOKEN, api_version=API_VERSION)


@pytest.fixture
def shopify(monkeypatch: pytest.MonkeyPatch, state: Path, shop: ShopifyShop) -> Iterator[StandIn]:
    with serving(shopify_admin_api(shop)) as api:
        monkeypatch.setenv("HUB_SHOPIFY_ADMIN_URL", api.base_url)
        monkeypatch.setenv("HUB_SHOPIFY_ADMIN_TOKEN", ADMIN_TOKEN)
        monkeypatch.setenv("HUB_SHOPIFY_API_VERSION", API_VERSION)
        monkeypatch.setenv("HUB_SHOPIFY_SECRETS", "shopify-app-client-secret")
        yield api


def _register(provider: str) -> Result:
    return CliRunner().invoke(cli.app, ["channels", "register", provider])


def _assert_no_secret_shown(result: Result, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in result.output


# --- Telegram --------------------------------------------------------------------------------------


def test_register_telegram_sets_the_webhook_with_url_secret_token_and_allowed_updates(
    telegram: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_TELEGRAM_SECRETS", "current-token,previous-token")

    result = _register("telegram")

    assert result.exit_code == 0, result.output
    [request] = telegram.requests
    assert (request.method, request.path) == ("POST", f"/bot{BOT_TOKEN}/setWebhook")
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "url": TELEGRAM_URL,
        "secret_token": "current-token",  # the newest of a rotation list
        "allowed_updates": ALLOWED_UPDATES,
    }
    assert "Webhook was set" in result.stdout and TELEGRAM_URL in result.stdout
    _assert_no_secret_shown(result, BOT_TOKEN, "current-token", "previous-token")


def test_register_telegram_uses_the_generated_secret_when_nobody_configured_one(
    telegram: StandIn, state: Path
) -> None:
    write_generated(state, telegram="generated-telegram-secret")

    result = _register("telegram")

    assert result.exit_code == 0, result.output
    assert telegram.requests[0].json()["secret_token"] == "generated-telegram-secret"
    assert "(generated)" in result.stdout


def test_a_configured_secret_wins_over_the_generated_one(
    telegram: StandIn, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_generated(state, telegram="generated-telegram-secret")
    monkeypatch.setenv("HUB_TELEGRAM_SECRETS", "the-persons-own-token")

    assert _register("telegram").exit_code == 0
    assert telegram.requests[0].json()["secret_token"] == "the-persons-own-token"


def test_telegrams_refusal_exits_non_zero_with_its_description_and_claims_no_success(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusal = "Bad Request: bad webhook: Failed to resolve host: Name or service not known"
    monkeypatch.setenv("HUB_TELEGRAM_SECRETS", "current-token")
    monkeypatch.setenv("HUB_TELEGRAM_BOT_TOKEN", BOT_TOKEN)
    with serving(telegram_bot_api(BOT_TOKEN, refuse=refusal)) as api:
        monkeypatch.setenv("HUB_TELEGRAM_API_URL", api.base_url)
        result = _register("telegram")

    assert result.exit_code == 1
    assert refusal in result.stderr and "error_code 400" in result.stderr
    assert result.stdout == ""
    _assert_no_secret_shown(result, BOT_TOKEN, "current-token")


def test_a_wrong_bot_token_is_reported_as_telegram_says_without_showing_the_token(
    telegram: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_TELEGRAM_SECRETS", "current-token")
    monkeypatch.setenv("HUB_TELEGRAM_BOT_TOKEN", "987654321:AAH-revoked-token")

    result = _register("telegram")

    assert result.exit_code == 1
    assert "Unauthorized" in result.stderr and result.stdout == ""
    _assert_no_secret_shown(result, "987654321:AAH-revoked-token")


def test_an_unreachable_bot_api_is_an_error_that_does_not_show_the_token(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(telegram_bot_api(BOT_TOKEN)) as api:
        closed = api.base_url  # the port is free again once the stand-in stops
    monkeypatch.setenv("HUB_TELEGRAM_API_URL", closed)
    monkeypatch.setenv("HUB_TELEGRAM_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("HUB_TELEGRAM_SECRETS", "current-token")

    result = _register("telegram")

    assert result.exit_code == 1
    assert f"could not reach the Telegram Bot API at {closed}" in result.stderr
    assert result.stdout == ""
    _assert_no_secret_shown(result, BOT_TOKEN)


@pytest.mark.parametrize(
    ("setup", "complaint"),
    [
        ({"HUB_PUBLIC_BASE_URL": None}, "HUB_PUBLIC_BASE_URL is not set"),
        ({"HUB_PUBLIC_BASE_URL": "http://hub.example.com"}, "not an https:// address"),
        ({"HUB_TELEGRAM_BOT_TOKEN": None}, "HUB_TELEGRAM_BOT_TOKEN is not set"),
        ({"HUB_TELEGRAM_SECRETS": ""}, "the telegram channel is disabled"),
        ({"HUB_TELEGRAM_SECRETS": "has spaces and é"}, "cannot be a Telegram secret_token"),
    ],
)
def test_register_telegram_refuses_what_telegram_would_refuse_before_calling_it(
    telegram: StandIn, monkeypatch: pytest.MonkeyPatch, setup: dict[str, str | None], complaint: str
) -> None:
    monkeypatch.setenv("HUB_TELEGRAM_SECRETS", "current-token")
    for variable, value in setup.items():
        if value is None:
            monkeypatch.delenv(variable)
        else:
            monkeypatch.setenv(variable, value)

    result = _register("telegram")

    assert result.exit_code == 2
    assert complaint in result.stderr and result.stdout == ""
    assert telegram.requests == []


# --- Shopify ---------------------------------------------------------------------------------------


def test_register_shopify_subscribes_the_three_topics_through_the_admin_api(
    shopify: StandIn, shop: ShopifyShop
) -> None:
    result = _register("shopify")

    assert result.exit_code == 0, result.output
    assert {(s["topic"], s["uri"]) for s in shop.subscriptions} == {
        ("ORDERS_CREATE", SHOPIFY_URL),
        ("ORDERS_PAID", SHOPIFY_URL),
        ("REFUNDS_CREATE", SHOPIFY_URL),
    }
    for request in shopify.requests:
        assert (request.method, request.path) == ("POST", f"/admin/api/{API_VERSION}/graphql.json")
        assert request.headers["x-shopify-access-token"] == ADMIN_TOKEN
    creations = [r.json()["variables"] for r in shopify.requests if "Create" in r.json()["query"]]
    assert creations == [
        {"topic": topic, "webhookSubscription": {"uri": SHOPIFY_URL, "format": "JSON"}}
        for topic in ("ORDERS_CREATE", "ORDERS_PAID", "REFUNDS_CREATE")
    ]
    for topic in ("orders/create", "orders/paid", "refunds/create"):
        assert f"{topic}: subscribed" in result.stdout
    _assert_no_secret_shown(result, ADMIN_TOKEN, "shopify-app-client-secret")


def test_register_shopify_again_adds_nothing(shopify: StandIn, shop: ShopifyShop) -> None:
    assert _register("shopify").exit_code == 0

    again = _register("shopify")

    assert again.exit_code == 0, again.output
    assert len(shop.subscriptions) == 3
    assert again.stdout.count("already subscribed") == 3


def test_a_wrong_access_token_exits_non_zero_with_shopifys_message(
    shopify: StandIn, shop: ShopifyShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_SHOPIFY_ADMIN_TOKEN", "shpat_revoked")

    result = _register("shopify")

    assert result.exit_code == 1
    assert INVALID_TOKEN in result.stderr and "HTTP 401" in result.stderr
    assert result.stdout == "" and shop.subscriptions == []
    _assert_no_secret_shown(result, "shpat_revoked")


def test_a_refused_topic_stops_with_shopifys_user_error_and_says_what_was_done_before(
    shopify: StandIn, shop: ShopifyShop
) -> None:
    shop.refuse_topics["ORDERS_PAID"] = "Access denied: the app needs the read_orders scope"

    result = _register("shopify")

    assert result.exit_code == 1
    assert "Shopify refused the orders/paid subscription" in result.stderr
    assert "webhookSubscription: Access denied: the app needs the read_orders scope" in result.stderr
    assert "before the failure: orders/create subscribed" in result.stderr
    assert result.stdout == ""
    assert [s["topic"] for s in shop.subscriptions] == ["ORDERS_CREATE"]


def test_register_shopify_refuses_a_generated_signing_secret_before_calling_shopify(
    shopify: StandIn, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUB_SHOPIFY_SECRETS")
    write_generated(state)

    result = _register("shopify")

    assert result.exit_code == 2
    assert "HUB_SHOPIFY_SECRETS is generated" in result.stderr and "client secret" in result.stderr
    assert shopify.requests == []
