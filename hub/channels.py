"""``hub channels``: every channel the ingress knows, and how to connect it; ``register`` does it by API.

Where a channel's secret comes from is what ``hub up`` gives the ingress (hub/secret_sources.py): a
``HUB_*`` variable wins, then ``hub.toml``, then the value the local stack generated in
``.state/webhook-secrets.json``. Listing never creates secrets, and never prints one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit

import httpx
import typer
from pydantic import Field, SecretStr, ValidationError

from hub import channel_guides as guides
from hub.channel_register import (
    ProviderError,
    set_telegram_webhook,
    shopify_graphql_url,
    subscribe_shopify,
    valid_secret_token,
)
from hub.deployment import reachable_host
from hub.local_secrets import LocalSecrets
from hub.secret_sources import (
    ChannelSecret,
    ConfigFileError,
    HubFile,
    SecretSource,
    read_config_file,
    resolve_secrets,
)
from hub.secret_sources import setting as configured_setting
from plumbing.settings import HubSettings
from services.ingress.endpoints import ENDPOINTS
from services.ingress.settings import IngressSettings

SECRETS_FILE = "webhook-secrets.json"

app = typer.Typer(
    help="Every webhook channel: enabled or not, its secret's source, the URL and settings to give the"
    " provider; `register` subscribes Telegram or Shopify through their APIs."
)


class ChannelSettings(HubSettings):
    """What ``hub channels`` reads besides the secrets. The API base URLs are settings so that tests
    (or a proxy) can stand in for the providers."""

    public_base_url: str | None = Field(
        default=None, description="scheme://host[:port] providers call (HUB_PUBLIC_BASE_URL)"
    )
    ingress_host: str = IngressSettings.model_fields["ingress_host"].default
    ingress_port: int = Field(default=IngressSettings.model_fields["ingress_port"].default, ge=1, le=65535)
    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    shopify_shop: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$", description="<store>.myshopify.com"
    )
    shopify_admin_token: SecretStr | None = Field(default=None, description="Admin API access token")
    shopify_api_version: str = Field(default="2026-10", pattern=r"^(\d{4}-\d{2}|unstable)$")
    shopify_admin_url: str | None = Field(default=None, description="default: https://<HUB_SHOPIFY_SHOP>")
    provider_timeout_s: float = Field(default=15.0, gt=0)

    def base_url(self) -> str:
        """Where providers are told to send: the public URL, else the local ingress."""
        if self.public_base_url:
            return self.public_base_url
        return f"http://{reachable_host(self.ingress_host)}:{self.ingress_port}"


def _config_file() -> HubFile:
    try:
        return read_config_file()
    except ConfigFileError as exc:
        _refuse(str(exc))


def _settings(file: HubFile) -> ChannelSettings:
    """The settings from the environment, with ``hub.toml``'s addresses where the environment has none."""
    from_file: dict[str, Any] = {
        name: value
        for name in ("public_base_url", "ingress_host", "ingress_port")
        if (value := configured_setting(name, file)) is not None
    }
    try:
        return ChannelSettings(**from_file)  # pydantic validates the strings
    except ValidationError as exc:
        fields = "; ".join(f"HUB_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        _refuse(fields)


def generated_secrets() -> LocalSecrets:
    """The local stack's generated secrets, read only: empty values when no stack was ever started here
    (listing channels never creates secrets, and a deployment without the local stack has none)."""
    from hub.stack import StackSettings

    path = StackSettings().paths.root / SECRETS_FILE
    stored = json.loads(path.read_text()) if path.is_file() else {}
    return LocalSecrets(**{name: str(stored.get(name) or "") for name in LocalSecrets.__dataclass_fields__})


def _as_setting(secret: ChannelSecret) -> guides.Setting:
    source = str(secret.source)
    if secret.source is SecretSource.GENERATED and not secret.enabled:
        source = guides.UNSET  # nothing generated here: the ingress would get nothing either
    entries = len([part for part in secret.value.split(",") if part.strip()]) if secret.enabled else 0
    return guides.Setting(secret.variable, source, entries)


def reports() -> tuple[ChannelSettings, dict[str, ChannelSecret], list[guides.ChannelReport]]:
    """The settings, each webhook variable's resolved secret (by variable), and every channel's report."""
    file = _config_file()
    settings = _settings(file)
    resolved = {c.variable: c for c in resolve_secrets(generated_secrets(), os.environ, file).channels}
    configured = {variable: _as_setting(secret) for variable, secret in resolved.items()}
    found = [guides.report(endpoint, settings.base_url(), configured) for endpoint in ENDPOINTS]
    return settings, resolved, found


@app.callback(invoke_without_command=True)
def channels(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON document on stdout, nothing else")
    ] = False,
) -> None:
    """Every channel: enabled or not, where its secret came from, its webhook URL and provider settings."""
    if ctx.invoked_subcommand is not None:
        return
    settings, _, found = reports()
    note = guides.public_url_note(settings.public_base_url)
    if as_json:
        document = {
            "base_url": settings.base_url(),
            "public": note is None,
            "note": note,
            "channels": [asdict(channel) for channel in found],
        }
        typer.echo(json.dumps(document, indent=2))
        return
    if note:
        typer.echo(f"note: {note}\n")
    for channel in found:
        _print(channel)


def _print(channel: guides.ChannelReport) -> None:
    state = "enabled" if channel.enabled else "disabled"
    secret = channel.secret
    entries = f", {secret.entries} entries (rotating)" if secret.entries > 1 else ""
    typer.echo(f"{channel.name}  [{channel.channel}]  {state}  {secret.variable}: {secret.source}{entries}")
    for extra in channel.also:
        typer.echo(f"  {extra.variable}: {extra.source}")
    for url in channel.webhook_urls:
        typer.echo(f"  webhook URL: {url}")
    for step in channel.provider_settings:
        typer.echo(f"  - {step}")
    if channel.register_command:
        typer.echo(f"  run: {channel.register_command}")
    for warning in channel.warnings:
        typer.echo(f"  warning: {warning}")
    typer.echo("")


class Registrable(StrEnum):
    telegram = "telegram"
    shopify = "shopify"


@app.command()
def register(provider: Registrable) -> None:
    """Subscribe the hub's webhook through the provider's API (needs HUB_PUBLIC_BASE_URL, https)."""
    settings, resolved, found = reports()
    channel = next(c for c in found if c.name == provider.value)
    if (note := guides.public_url_note(settings.public_base_url)) is not None:
        _refuse(note)
    if not channel.enabled:
        _refuse(f"the {channel.name} channel is disabled: set {channel.secret.variable} first")
    try:
        with httpx.Client(timeout=settings.provider_timeout_s) as client:
            if provider is Registrable.telegram:
                said = _register_telegram(client, settings, channel, resolved[channel.secret.variable])
            else:
                said = _register_shopify(client, settings, channel)
    except ProviderError as exc:
        for done in exc.done:
            typer.echo(f"before the failure: {done}", err=True)
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    for line in said:
        typer.echo(line)


def _refuse(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _register_telegram(
    client: httpx.Client, settings: ChannelSettings, channel: guides.ChannelReport, secret: ChannelSecret
) -> list[str]:
    if settings.telegram_bot_token is None:
        _refuse("HUB_TELEGRAM_BOT_TOKEN is not set (the token @BotFather gave your bot)")
    secret_token = secret.newest
    if not valid_secret_token(secret_token):
        _refuse(
            f"the first entry of {channel.secret.variable} cannot be a Telegram secret_token: it allows 1-256"
            " characters A-Z, a-z, 0-9, _ and -"
        )
    url = channel.webhook_urls[0]
    said = set_telegram_webhook(
        client,
        settings.telegram_api_url,
        settings.telegram_bot_token,
        url=url,
        secret_token=secret_token,
        allowed_updates=guides.TELEGRAM_UPDATES,
    )
    return [
        f"Telegram: {said}",
        f"  url: {url}",
        f"  allowed_updates: {', '.join(guides.TELEGRAM_UPDATES)}",
        f"  secret_token: the first entry of {channel.secret.variable} ({channel.secret.source})",
    ]


def _register_shopify(
    client: httpx.Client, settings: ChannelSettings, channel: guides.ChannelReport
) -> list[str]:
    if settings.shopify_shop is None and settings.shopify_admin_url is None:
        _refuse("HUB_SHOPIFY_SHOP is not set (your-store.myshopify.com)")
    if settings.shopify_admin_token is None:
        _refuse("HUB_SHOPIFY_ADMIN_TOKEN is not set (the Admin API access token of your app, shpat_...)")
    if channel.secret.source in (guides.GENERATED, guides.UNSET):
        _refuse(
            f"{channel.secret.variable} is {channel.secret.source}: Shopify signs with your app's client"
            f" secret, so set {channel.secret.variable} to it first, or every delivery is refused (401)"
        )
    admin_url = settings.shopify_admin_url or f"https://{settings.shopify_shop}"
    url = channel.webhook_urls[0]
    subscriptions = subscribe_shopify(
        client,
        shopify_graphql_url(admin_url, settings.shopify_api_version),
        settings.shopify_admin_token,
        uri=url,
        topics=guides.SHOPIFY_TOPICS,
    )
    return [f"Shopify ({urlsplit(admin_url).netloc}): webhook subscriptions to {url}"] + [
        f"  {s.topic}: {'subscribed' if s.created else 'already subscribed'} ({s.id})" for s in subscriptions
    ]
