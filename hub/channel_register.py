"""Subscribing the hub's webhooks through the providers' own APIs: Telegram and Shopify.

Telegram: Bot API ``setWebhook`` (``POST <api>/bot<token>/setWebhook``, JSON ``url``, ``secret_token``,
``allowed_updates``; the answer is ``{"ok": true, "result": true, "description": ...}`` or ``{"ok":
false, "error_code": ..., "description": ...}``).

Shopify: GraphQL Admin API (``POST <shop>/admin/api/<version>/graphql.json`` with
``X-Shopify-Access-Token``): ``webhookSubscriptions`` finds what is already subscribed to our URL, and
``webhookSubscriptionCreate`` (``uri``, format ``JSON``) subscribes each missing topic, so running it
again adds nothing. Shopify made its REST Admin API legacy in 2024, so GraphQL it is.

Any refusal is a :class:`ProviderError` carrying the provider's own description; nothing here prints.
Messages never contain a token: the bot token is part of Telegram's URL, and is scrubbed from errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

TELEGRAM_SECRET_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class ProviderError(Exception):
    """The provider refused, or could not be reached. ``done`` lists what succeeded before."""

    def __init__(self, message: str, done: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.done = tuple(done)


def valid_secret_token(token: str) -> bool:
    """Telegram's rule for ``secret_token``: 1-256 characters of ``A-Z a-z 0-9 _ -``."""
    return 1 <= len(token) <= 256 and set(token) <= TELEGRAM_SECRET_ALPHABET


def set_telegram_webhook(
    client: httpx.Client,
    api_url: str,
    bot_token: SecretStr,
    *,
    url: str,
    secret_token: str,
    allowed_updates: Sequence[str],
) -> str:
    """Call ``setWebhook``; returns Telegram's description ("Webhook was set")."""
    token = bot_token.get_secret_value()
    body = {"url": url, "secret_token": secret_token, "allowed_updates": list(allowed_updates)}
    try:
        response = client.post(f"{api_url.rstrip('/')}/bot{token}/setWebhook", json=body)
    except httpx.HTTPError as exc:
        reason = str(exc).replace(token, "<bot token>") or type(exc).__name__
        raise ProviderError(f"could not reach the Telegram Bot API at {api_url}: {reason}") from None
    answer = _json_object(response)
    description = str(answer.get("description") or "").replace(token, "<bot token>")
    if answer.get("ok") is True and answer.get("result") is True:
        return description or "Webhook was set"
    if not answer:
        raise ProviderError(f"Telegram answered HTTP {response.status_code} without a Bot API result")
    code = answer.get("error_code", response.status_code)
    raise ProviderError(f"Telegram refused setWebhook: {description or 'no description'} (error_code {code})")


def shopify_graphql_url(admin_url: str, api_version: str) -> str:
    """``https://<shop>.myshopify.com/admin/api/<version>/graphql.json``."""
    return f"{admin_url.rstrip('/')}/admin/api/{api_version}/graphql.json"


def shopify_topic_enum(topic: str) -> str:
    """``orders/create`` -> ``ORDERS_CREATE`` (GraphQL's ``WebhookSubscriptionTopic``)."""
    return topic.upper().replace("/", "_")


EXISTING_QUERY = """query HubWebhookSubscriptions($topics: [WebhookSubscriptionTopic!]) {
  webhookSubscriptions(first: 100, topics: $topics) { nodes { id topic uri } }
}"""

CREATE_MUTATION = """mutation HubWebhookSubscriptionCreate(
  $topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!
) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}"""


@dataclass(frozen=True)
class Subscription:
    topic: str
    id: str
    created: bool
    """False: it was already there, subscribed to the same URL."""


def subscribe_shopify(
    client: httpx.Client, graphql_url: str, access_token: SecretStr, *, uri: str, topics: Sequence[str]
) -> list[Subscription]:
    """Subscribe ``uri`` to each of ``topics`` not yet subscribed to it."""
    enums = {shopify_topic_enum(topic): topic for topic in topics}
    data = _shopify(client, graphql_url, access_token, EXISTING_QUERY, {"topics": list(enums)})
    nodes = _path(data, "webhookSubscriptions", "nodes")
    existing = {
        node.get("topic"): str(node.get("id"))
        for node in (nodes if isinstance(nodes, list) else [])
        if isinstance(node, dict) and node.get("uri") == uri
    }
    done: list[Subscription] = []
    for enum, topic in enums.items():
        if enum in existing:
            done.append(Subscription(topic, existing[enum], created=False))
            continue
        variables = {"topic": enum, "webhookSubscription": {"uri": uri, "format": "JSON"}}
        try:
            created = _shopify(client, graphql_url, access_token, CREATE_MUTATION, variables)
        except ProviderError as exc:
            raise ProviderError(str(exc), [_said(s) for s in done]) from None
        payload = _path(created, "webhookSubscriptionCreate")
        errors = payload.get("userErrors") if isinstance(payload, dict) else None
        if errors:
            raise ProviderError(
                f"Shopify refused the {topic} subscription: {_messages(errors)}", [_said(s) for s in done]
            )
        subscription = _path(payload, "webhookSubscription")
        if not isinstance(subscription, dict) or not subscription.get("id"):
            raise ProviderError(
                f"Shopify answered the {topic} subscription without one", [_said(s) for s in done]
            )
        done.append(Subscription(topic, str(subscription["id"]), created=True))
    return done


def _said(subscription: Subscription) -> str:
    verb = "subscribed" if subscription.created else "already subscribed"
    return f"{subscription.topic} {verb} ({subscription.id})"


def _shopify(
    client: httpx.Client, url: str, token: SecretStr, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """The ``data`` of one GraphQL request; :class:`ProviderError` with Shopify's messages otherwise."""
    headers = {"X-Shopify-Access-Token": token.get_secret_value()}
    try:
        response = client.post(url, json={"query": query, "variables": variables}, headers=headers)
    except httpx.HTTPError as exc:
        raise ProviderError(f"could not reach Shopify at {url}: {str(exc) or type(exc).__name__}") from None
    answer = _json_object(response)
    errors = answer.get("errors")
    if response.status_code != 200 or errors:
        said = _messages(errors) if errors else "no description"
        raise ProviderError(f"Shopify answered HTTP {response.status_code}: {said}")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise ProviderError("Shopify answered without data")
    return data


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _path(document: object, *keys: str) -> Any:
    for key in keys:
        document = document.get(key) if isinstance(document, dict) else None
    return document


def _messages(errors: object) -> str:
    """Shopify's errors: a string (``"[API] Invalid API key or access token ..."``), a list of
    ``{"message"}`` (GraphQL errors) or of ``{"field", "message"}`` (user errors)."""
    if isinstance(errors, str):
        return errors
    if not isinstance(errors, list):
        return str(errors)
    said = []
    for error in errors:
        if not isinstance(error, dict):
            said.append(str(error))
            continue
        where = error.get("field")
        prefix = f"{'.'.join(map(str, where))}: " if isinstance(where, list) and where else ""
        said.append(prefix + str(error.get("message", error)))
    return "; ".join(said)
