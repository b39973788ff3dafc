"""Local stand-ins for the provider APIs ``hub channels register`` calls: Telegram's Bot API and Shopify's
GraphQL Admin API, each a plain HTTP server on 127.0.0.1.

Each checks a request the way its provider documents it (method, path, headers, JSON body fields) and
answers in the provider's own shapes, errors included: Telegram ``{"ok": false, "error_code",
"description"}``, Shopify ``{"errors": "..."}`` for a bad token and ``userErrors`` for a refused
subscription. A request the real API would refuse is refused here too, with a description saying why,
so a test passing proves our side of the exchange. They prove nothing about the providers' behaviour
beyond their documentation.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, Any]]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class StandIn:
    """Every request it got, in order; ``answer`` decides the reply to each."""

    answer: Callable[[Request], Answer]
    base_url: str = ""
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Answer:
        with self.lock:
            self.requests.append(request)
            return self.answer(request)


@contextmanager
def serving(stand_in: StandIn) -> Iterator[StandIn]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                self.command,
                self.path,
                {name.lower(): value for name, value in self.headers.items()},
                self.rfile.read(length),
            )
            status, document = stand_in.handle(request)
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: pytest shows failures, not every request."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stand_in.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()


# --- Telegram Bot API: https://core.telegram.org/bots/api#setwebhook ---------------------------------

SET_WEBHOOK_PARAMETERS = frozenset(
    {"url", "certificate", "ip_address", "max_connections", "allowed_updates", "drop_pending_updates",
     "secret_token"}
)  # fmt: skip
UPDATE_TYPES = frozenset(
    {"message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
     "business_message", "edited_business_message", "deleted_business_messages", "message_reaction",
     "message_reaction_count", "inline_query", "chosen_inline_result", "callback_query", "shipping_query",
     "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_member",
     "chat_join_request", "chat_boost", "removed_chat_boost"}
)  # fmt: skip
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _telegram_error(code: int, description: str) -> Answer:
    return code, {"ok": False, "error_code": code, "description": description}


def telegram_bot_api(bot_token: str, refuse: str | None = None) -> StandIn:
    """``setWebhook`` of the bot ``bot_token``, over a JSON body; ``refuse``: answer a documented-shape
    400 with that description to an otherwise valid call."""

    def answer(request: Request) -> Answer:
        if request.path != f"/bot{bot_token}/setWebhook":
            # Telegram answers a token it does not know like this, whatever the method
            return _telegram_error(401 if request.path.endswith("/setWebhook") else 404, "Unauthorized")
        if request.method != "POST" or not request.headers.get("content-type", "").startswith(
            "application/json"
        ):
            return _telegram_error(400, "Bad Request: expected a JSON POST")
        body = request.json()
        unknown = set(body) - SET_WEBHOOK_PARAMETERS
        if unknown:
            return _telegram_error(400, f"Bad Request: unknown parameters {sorted(unknown)}")
        if not isinstance(body.get("url"), str) or not body["url"].startswith("https://"):
            return _telegram_error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        if "secret_token" in body and not SECRET_TOKEN.match(str(body["secret_token"])):
            return _telegram_error(400, "Bad Request: secret token contains unallowed characters")
        updates = body.get("allowed_updates", [])
        if not isinstance(updates, list) or not set(updates) <= UPDATE_TYPES:
            return _telegram_error(400, "Bad Request: can't parse allowed updates")
        if refuse is not None:
            return _telegram_error(400, refuse)
        return 200, {"ok": True, "result": True, "description": "Webhook was set"}

    return StandIn(answer)


# --- Shopify GraphQL Admin API: webhookSubscriptions, webhookSubscriptionCreate -----------------------

INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
TOPICS = frozenset({"ORDERS_CREATE", "ORDERS_PAID", "REFUNDS_CREATE"})  # the part of the enum we use


@dataclass
class ShopifyShop:
    """One shop's webhook subscriptions, and the topics it is scripted to refuse (a user error)."""

    access_token: str
    api_version: str
    subscriptions: list[dict[str, str]] = field(default_factory=list)
    refuse_topics: dict[str, str] = field(default_factory=dict)

    def answer(self, request: Request) -> Answer:
        if request.headers.get("x-shopify-access-token") != self.access_token:
            return 401, {"errors": INVALID_TOKEN}
        if request.method != "POST" or request.path != f"/admin/api/{self.api_version}/graphql.json":
            return 404, {"errors": "Not Found"}
        if not request.headers.get("content-type", "").startswith("application/json"):
            return 400, {"errors": "Content-Type must be application/json"}
        body = request.json()
        query, variables = body.get("query"), body.get("variables") or {}
        if not isinstance(query, str) or set(body) - {"query", "variables", "operationName"}:
            return 400, {"errors": [{"message": "Parse error: expected query and variables"}]}
        if "webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription)" in query:
            return 200, {"data": {"webhookSubscriptionCreate": self._create(variables)}}
        if re.search(r"webhookSubscriptions\(first: \d+, topics: \$topics\)\s*\{\s*nodes\s*\{", query):
            wanted = set(variables.get("topics") or TOPICS)
            nodes = [s for s in self.subscriptions if s["topic"] in wanted]
            return 200, {"data": {"webhookSubscriptions": {"nodes": nodes}}}
        return 200, {"errors": [{"message": "this stand-in knows no such operation"}]}

    def _create(self, variables: dict[str, Any]) -> dict[str, Any]:
        topic, subscription = variables.get("topic"), variables.get("webhookSubscription") or {}
        if topic not in TOPICS:
            return _user_error(["topic"], f"Variable $topic of type WebhookSubscriptionTopic! was {topic!r}")
        if set(subscription) - {"uri", "format", "filter", "includeFields", "metafieldNamespaces", "name"}:
            return _user_error(["webhookSubscription"], "unknown input fields")
        uri = subscription.get("uri")
        if not isinstance(uri, str) or not uri.startswith("https://"):
            return _user_error(["webhookSubscription", "uri"], "Address protocol http:// is not supported")
        if subscription.get("format", "JSON") != "JSON":
            return _user_error(["webhookSubscription", "format"], "Format is not JSON")
        if topic in self.refuse_topics:
            return _user_error(["webhookSubscription"], self.refuse_topics[topic])
        if any(s["topic"] == topic and s["uri"] == uri for s in self.subscriptions):
            return _user_error(
                ["webhookSubscription", "uri"], "Address for this topic has already been taken"
            )
        created = {"id": f"gid://shopify/WebhookSubscription/{len(self.subscriptions) + 1}", "topic": topic,
                   "uri": uri}  # fmt: skip
        self.subscriptions.append(created)
        return {"webhookSubscription": created, "userErrors": []}


def _user_error(field_path: list[str], message: str) -> dict[str, Any]:
    return {"webhookSubscription": None, "userErrors": [{"field": field_path, "message": message}]}


def shopify_admin_api(shop: ShopifyShop) -> StandIn:
    return StandIn(shop.answer)
