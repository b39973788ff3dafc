"""What a person must do at each provider to connect a channel: pure, from the ingress's endpoints.

For every endpoint the ingress serves (:data:`services.ingress.endpoints.ENDPOINTS`), a report says
whether the channel is enabled, where its secret came from, the webhook URL to paste into the provider
and the settings to make there. Secret values are never part of a report: where a person must paste
one, the text names the variable that holds it ("the value of HUB_TELEGRAM_SECRETS").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from services.ingress.endpoints import Endpoint
from services.ingress.translate import generic, shopify_refunds, square, telegram

SHOPIFY_TOPICS: tuple[str, ...] = (*sorted(shopify_refunds.ORDER_TOPICS), shopify_refunds.REFUND_TOPIC)
"""The topics the Shopify endpoint takes: ``orders/create``, ``orders/paid``, ``refunds/create``."""
TELEGRAM_UPDATES: tuple[str, ...] = (*telegram.MESSAGE_KINDS, telegram.CALLBACK_KIND)
"""``allowed_updates`` of ``setWebhook``: the update types the translator records (others are ignored)."""
VK_EVENT_TYPES: tuple[str, ...] = ("message_new", "message_reply", "message_edit", "wall_reply_new")
SQUARE_EVENT_TYPES: tuple[str, ...] = tuple(sorted(square.PAYMENT_TYPES | square.REFUND_TYPES))
META_FIELDS: tuple[tuple[str, str], ...] = (
    ("WhatsApp Business Account", "messages"),
    ("Page (Messenger)", "messages, message_echoes, feed"),
    ("Instagram", "messages, comments, live_comments"),
)


GENERATED = "generated"
"""The source of a value the local stack made for a channel nobody configured (hub/secret_sources.py)."""
UNSET = "unset"


@dataclass(frozen=True)
class Setting:
    """One variable the ingress reads for a channel: where its value came from (``environment``,
    ``hub.toml``, ``generated`` or ``unset``) and how many comma-separated entries it has (two while a
    secret is being rotated). Never the value."""

    variable: str
    source: str
    entries: int


def variable_of(settings_field: str) -> str:
    """The environment variable of an ingress setting: ``telegram_secrets`` -> ``HUB_TELEGRAM_SECRETS``."""
    return f"HUB_{settings_field.upper()}"


Steps = Callable[[Sequence[str]], list[str]]
"""The provider-side settings, given the channel's webhook URL(s)."""


@dataclass(frozen=True)
class Guide:
    """How to connect one endpoint's provider."""

    name: str
    secrets_field: str
    """The :class:`~services.ingress.settings.IngressSettings` field of the endpoint's secrets."""
    steps: Steps
    issued_by_provider: bool
    """The provider issues the signing key (Shopify, Meta, Square, Twilio, Mailgun): a generated one
    can never match, so every delivery would be refused until the variable holds the provider's key."""
    also: tuple[str, ...] = ()
    """Further variables the channel needs (Meta's verify token, VK's confirmation strings)."""
    register: bool = False
    """``hub channels register <name>`` subscribes the webhook through the provider's API."""


def _value(variable: str) -> str:
    return f"the value of {variable}"


def _hub_signed(what: str, variable: str) -> Steps:
    return lambda urls: [
        f"{what}: POST each one to {urls[0]} with header X-Hub-Signature-256: sha256=<hex HMAC-SHA256"
        f" of the raw body, keyed with {_value(variable)} (first entry)>",
    ]


def _meta(urls: Sequence[str]) -> list[str]:
    fields = "; ".join(f"{product}: {names}" for product, names in META_FIELDS)
    return [
        f"Meta app dashboard > Webhooks (for WhatsApp: WhatsApp > Configuration): Callback URL {urls[0]},"
        f" Verify token = {_value('HUB_META_VERIFY_TOKEN')} (Meta checks it with a GET to that URL when you"
        " save, so the ingress must be running and reachable)",
        f"subscribe the fields {fields}",
        "HUB_META_APP_SECRETS = the App Secret (App settings > Basic): Meta signs X-Hub-Signature-256"
        " with it",
    ]


def _shopify(urls: Sequence[str]) -> list[str]:
    return [
        f"subscribe the topics {', '.join(SHOPIFY_TOPICS)} (format JSON) to {urls[0]}:"
        " `hub channels register shopify` does it through the Admin API (needs HUB_SHOPIFY_SHOP and"
        " HUB_SHOPIFY_ADMIN_TOKEN), or Shopify admin > Settings > Notifications > Webhooks > Create"
        " webhook, once per topic",
        "HUB_SHOPIFY_SECRETS = the app's client secret (API secret key) for subscriptions made through the"
        " API, or the key shown under Settings > Notifications > Webhooks for ones made in the admin:"
        " Shopify signs X-Shopify-Hmac-Sha256 with it",
    ]


def _telegram(urls: Sequence[str]) -> list[str]:
    return [
        f"setWebhook with url={urls[0]}, secret_token={_value('HUB_TELEGRAM_SECRETS')} (first entry),"
        f" allowed_updates={json.dumps(TELEGRAM_UPDATES)}: `hub channels register telegram` calls it with the"
        " bot token in HUB_TELEGRAM_BOT_TOKEN",
    ]


def _vk(urls: Sequence[str]) -> list[str]:
    return [
        f"community > Manage > API usage > Callback API > Server settings: address {urls[0]},"
        f" Secret key = {_value('HUB_VK_SECRETS')} (first entry)",
        "HUB_VK_CONFIRMATION = the confirmation string VK shows on that page (group_id:string pairs when"
        " one hub serves several communities); restart the ingress, then press Confirm",
        f"Event types: {', '.join(VK_EVENT_TYPES)}",
    ]


def _square(urls: Sequence[str]) -> list[str]:
    return [
        f"Developer Console > your application > Webhooks > Subscriptions > Add subscription: Notification"
        f" URL {urls[0]} exactly (Square signs the URL it calls), events {', '.join(SQUARE_EVENT_TYPES)}",
        "HUB_SQUARE_SECRETS = the subscription's Signature key",
    ]


def _twilio(urls: Sequence[str]) -> list[str]:
    return [
        f"Twilio Console > Phone Numbers > each number > Voice configuration: 'Call status changes' status"
        f" callback URL {urls[0]}, HTTP POST; for calls placed through the API, pass StatusCallback={urls[0]}"
        " (Twilio signs the URL it calls: use exactly this one)",
        "HUB_TWILIO_SECRETS = the account's Auth Token",
    ]


def _mailgun(urls: Sequence[str]) -> list[str]:
    return [
        'Mailgun > Receiving > Create route: an expression such as match_recipient("support@<your domain>"),'
        f' action forward("{urls[0]}") (or store(notify="{urls[0]}"))',
        "HUB_MAILGUN_SECRETS = the HTTP webhook signing key (Mailgun > API security / Webhooks)",
    ]


def _sendgrid(urls: Sequence[str]) -> list[str]:
    parts = urlsplit(urls[0])
    with_credentials = (
        f"{parts.scheme}://sendgrid:<{_value('HUB_SENDGRID_SECRETS')}>@{parts.netloc}{parts.path}"
    )
    return [
        "SendGrid > Settings > Inbound Parse > Add Host & URL: your receiving (sub)domain, its MX record"
        f" pointing at mx.sendgrid.net, Destination URL {with_credentials} (SendGrid does not sign: the"
        " password in the URL is the proof); 'POST the raw, full MIME message' is optional",
    ]


def _generic(urls: Sequence[str]) -> list[str]:
    return [
        f"your sender POSTs our JSON to {', '.join(urls)} (one per channel), signed per Standard Webhooks"
        " (webhook-id, webhook-timestamp, webhook-signature: v1,<base64>) with"
        f" {_value('HUB_GENERIC_SECRETS')} (first entry, whsec_...)",
    ]


#: Endpoint path -> its guide. Every endpoint of the ingress has one (a test checks it).
GUIDES: dict[str, Guide] = {
    "/webhooks/email/mta": Guide(
        "mta",
        "mta_secrets",
        _hub_signed("our MTA's received messages (raw RFC 5322)", "HUB_MTA_SECRETS"),
        False,
    ),
    "/webhooks/chat/widget": Guide(
        "widget",
        "widget_secrets",
        _hub_signed("our website chat widget's messages", "HUB_WIDGET_SECRETS"),
        False,
    ),
    "/webhooks/social/meta": Guide("meta", "meta_app_secrets", _meta, True, also=("HUB_META_VERIFY_TOKEN",)),
    "/webhooks/pos/shopify": Guide("shopify", "shopify_secrets", _shopify, True, register=True),
    "/webhooks/chat/telegram": Guide("telegram", "telegram_secrets", _telegram, False, register=True),
    "/webhooks/social/vk": Guide("vk", "vk_secrets", _vk, False, also=("HUB_VK_CONFIRMATION",)),
    "/webhooks/pos/square": Guide("square", "square_secrets", _square, True),
    "/webhooks/pos/till": Guide(
        "till", "till_secrets", _hub_signed("our tills' receipts", "HUB_TILL_SECRETS"), False
    ),
    "/webhooks/voice/twilio": Guide("twilio", "twilio_secrets", _twilio, True),
    "/webhooks/email/mailgun": Guide("mailgun", "mailgun_secrets", _mailgun, True),
    "/webhooks/email/sendgrid": Guide("sendgrid", "sendgrid_secrets", _sendgrid, False),
    "/webhooks/generic/{channel}": Guide("generic", "generic_secrets", _generic, False),
}


@dataclass(frozen=True)
class ChannelReport:
    """One channel as ``hub channels`` shows it."""

    name: str
    provider: str
    channel: str
    path: str
    enabled: bool
    secret: Setting
    also: tuple[Setting, ...]
    webhook_urls: tuple[str, ...]
    provider_settings: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())
    register_command: str | None = None


def webhook_urls(base_url: str, path: str) -> tuple[str, ...]:
    """The URL(s) of ``path`` under ``base_url``; a ``{channel}`` path has one per channel."""
    base = base_url.rstrip("/")
    if "{channel}" in path:
        return tuple(base + path.replace("{channel}", name) for name in generic.CHANNELS)
    return (base + path,)


def report(endpoint: Endpoint, base_url: str, configured: Mapping[str, Setting]) -> ChannelReport:
    """``endpoint``'s channel with its URL(s) under ``base_url``; ``configured`` has each variable's source
    (a variable missing there is unset)."""
    guide = GUIDES.get(endpoint.path)
    urls = webhook_urls(base_url, endpoint.path)
    if guide is None:  # a provider added without a guide: still listed, with what the endpoint says
        return ChannelReport(
            name=endpoint.provider,
            provider=endpoint.provider,
            channel=endpoint.channel,
            path=endpoint.path,
            enabled=False,
            secret=Setting("?", UNSET, 0),
            also=(),
            webhook_urls=urls,
            provider_settings=(endpoint.summary,),
            warnings=("no setup guide in hub/channel_guides.py for this endpoint",),
        )
    secret, *also = (
        configured.get(variable, Setting(variable, UNSET, 0))
        for variable in (variable_of(guide.secrets_field), *guide.also)
    )
    return ChannelReport(
        name=guide.name,
        provider=endpoint.provider,
        channel=endpoint.channel,
        path=endpoint.path,
        enabled=secret.entries > 0,
        secret=secret,
        also=tuple(also),
        webhook_urls=urls,
        provider_settings=tuple(guide.steps(urls)),
        warnings=_warnings(guide, secret, also),
        register_command=f"hub channels register {guide.name}" if guide.register else None,
    )


def _warnings(guide: Guide, secret: Setting, also: Sequence[Setting]) -> tuple[str, ...]:
    found: list[str] = []
    if secret.source == GENERATED and guide.issued_by_provider:
        found.append(
            f"{secret.variable} is a generated secret, but {guide.name} signs with a key it issues: set"
            f" {secret.variable} to that key, or every delivery is refused (401)"
        )
    found.extend(f"{extra.variable} is not set" for extra in also if secret.entries and not extra.entries)
    return tuple(found)


def public_url_note(public_base_url: str | None) -> str | None:
    """What is wrong with the URLs providers are given, or ``None`` when they are public HTTPS ones."""
    if public_base_url is None:
        return (
            "HUB_PUBLIC_BASE_URL is not set: these are the local URLs, which no provider can reach. Providers"
            " need a public HTTPS address (a reverse proxy with TLS in front of the ingress): set"
            " HUB_PUBLIC_BASE_URL=https://<your host> and run this again"
        )
    if urlsplit(public_base_url).scheme != "https":
        return "HUB_PUBLIC_BASE_URL is not an https:// address: providers need HTTPS"
    return None
