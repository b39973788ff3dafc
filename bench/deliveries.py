"""Fresh signed webhook deliveries of every provider, in a realistic mix, for the load generator.

Every delivery is distinct (its own provider message id, so its own event ids) and carries the
provider's real signature, made when it is taken: Mailgun and Standard Webhooks sign a timestamp the
ingress accepts for five minutes, so each phase of the benchmark takes its deliveries just before it
sends them. Who writes is Zipf-distributed over ``customers`` people, whose identities overlap across
channels as in :mod:`hub.samples` (email and chat share the email address, WhatsApp and the shops the
phone number), so the writer sees merges as it would in production.

Square and Twilio sign the URL they call: the hub under load runs with ``HUB_PUBLIC_BASE_URL`` set to
:data:`PUBLIC_BASE`, so the bytes do not depend on the port the run happens to get.
"""

from __future__ import annotations

import bisect
import itertools
import random
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.load import Request
from hub import samples
from hub import samples_chat_social as social
from hub import samples_email_generic as mail
from hub import samples_pos_voice as pos
from hub.demo import Webhook
from hub.local_secrets import LocalSecrets
from services.ingress.verify import sign_base64, sign_hex

PUBLIC_BASE = "https://hub.example.com"
"""What the hub under load is told providers call (``HUB_PUBLIC_BASE_URL``)."""
SQUARE_PATH, TILL_PATH, TWILIO_PATH = "/webhooks/pos/square", "/webhooks/pos/till", "/webhooks/voice/twilio"

#: Share of the deliveries per provider: chat, WhatsApp, Telegram and shop orders carry most of it.
MIX: tuple[tuple[str, float], ...] = (
    ("widget", 0.22),
    ("whatsapp", 0.16),
    ("telegram", 0.14),
    ("shopify", 0.12),
    ("mta", 0.06),
    ("mailgun", 0.04),
    ("sendgrid", 0.03),
    ("messenger", 0.03),
    ("instagram", 0.03),
    ("vk", 0.04),
    ("square", 0.04),
    ("till", 0.04),
    ("twilio", 0.03),
    ("generic", 0.02),
)
PROVIDERS = tuple(name for name, _ in MIX)
BASKETS = (
    [("SKU-1", "Blue jacket", 1, "129.90")],
    [("SKU-2", "Scarf", 2, "19.95"), ("SKU-3", "Gloves", 1, "24.00")],
    [("SKU-4", "Mug", 4, "8.50")],
)
TILL_BASKETS = (
    [pos.TillItem("SKU-1", "Blue jacket", 1, "129.90")],
    [pos.TillItem("SKU-4", "Mug", 2, "8.50", discount="1.00")],
)


@dataclass(frozen=True)
class _Made:
    """What one builder needs: the person, a number unique in this source, when, and the secrets."""

    person: int
    n: int
    tag: str
    at: datetime
    secrets: LocalSecrets

    @property
    def sample(self) -> samples.SamplePerson:
        return samples.sample_person(self.person)

    @property
    def social(self) -> social.SocialPerson:
        return social.social_person(self.person)

    @property
    def ident(self) -> str:
        return f"{self.tag}-{self.n}"


def _json_hook(path: str, body: bytes, secret: str) -> Webhook:
    return Webhook(
        path, body, {"X-Hub-Signature-256": sign_hex(body, secret), "Content-Type": "application/json"}
    )


def _widget(m: _Made) -> Webhook:
    body = samples.chat_message(m.sample, f"chat-{m.ident}", f"question {m.n}", sent_at=m.at)
    return _json_hook("/webhooks/chat/widget", body, m.secrets.widget)


def _whatsapp(m: _Made) -> Webhook:
    body = samples.whatsapp_message(m.sample, f"wamid.{m.ident}", f"message {m.n}", sent_at=m.at)
    return _json_hook("/webhooks/social/meta", body, m.secrets.meta_app)


def _telegram(m: _Made) -> Webhook:
    number = _number(m)
    body = social.telegram_message(m.social, number, number, f"hi {m.n}", sent_at=m.at)
    return social.telegram_hook(body, m.secrets.telegram)


def _shopify(m: _Made) -> Webhook:
    body = samples.shopify_order(m.sample, _number(m), BASKETS[m.n % len(BASKETS)], created_at=m.at)
    headers = {
        "X-Shopify-Hmac-Sha256": sign_base64(body, m.secrets.shopify),
        "Content-Type": "application/json",
    }
    return Webhook("/webhooks/pos/shopify", body, {**headers, "X-Shopify-Topic": "orders/create"})


def _mta(m: _Made) -> Webhook:
    body = samples.email_message(
        m.sample, f"<{m.ident}@mail.example.com>", f"Order {m.n}", "Hi", sent_at=m.at
    )
    headers = {"X-Hub-Signature-256": sign_hex(body, m.secrets.mta), "Content-Type": "message/rfc822"}
    return Webhook("/webhooks/email/mta", body, headers)


def _mailgun(m: _Made) -> Webhook:
    return mail.mailgun_webhook(
        m.sample, f"<mg-{m.ident}@mail.example.com>", "Sizes", "In M?", m.secrets.mailgun
    )


def _sendgrid(m: _Made) -> Webhook:
    body, content_type = mail.sendgrid_parsed(
        m.sample, f"<sg-{m.ident}@mail.example.com>", "Hello", "A question"
    )
    return mail.sendgrid_webhook(body, content_type, m.secrets.sendgrid)


def _messenger(m: _Made) -> Webhook:
    return social.meta_hook(
        social.messenger_message(m.social, f"m_{m.ident}", "hello", sent_at=m.at), m.secrets.meta_app
    )


def _instagram(m: _Made) -> Webhook:
    return social.meta_hook(
        social.instagram_message(m.social, f"ig_{m.ident}", "hi", sent_at=m.at), m.secrets.meta_app
    )


def _vk(m: _Made) -> Webhook:
    body = social.vk_message_new(
        m.social, m.secrets.vk, _number(m) % 10**9, "hello", event_id=m.ident, sent_at=m.at
    )
    return social.vk_hook(body)


def _square(m: _Made) -> Webhook:
    body = pos.square_payment(m.sample, f"sq{m.ident}", 1250 + m.n % 5000, created_at=m.at)
    return Webhook(SQUARE_PATH, body, pos.square_headers(PUBLIC_BASE + SQUARE_PATH, body, m.secrets.square))


def _till(m: _Made) -> Webhook:
    body = pos.till_receipt(m.sample, f"r-{m.ident}", TILL_BASKETS[m.n % len(TILL_BASKETS)], occurred_at=m.at)
    return Webhook(TILL_PATH, body, pos.till_headers(body, m.secrets.till))


def _twilio(m: _Made) -> Webhook:
    params = pos.twilio_call(m.sample, pos.call_sid(m.ident), recorded=False, at=m.at)
    headers = pos.twilio_headers(PUBLIC_BASE + TWILIO_PATH, params, m.secrets.twilio)
    return Webhook(TWILIO_PATH, pos.form_body(params), headers)


def _generic(m: _Made) -> Webhook:
    return mail.generic_webhook(
        mail.generic_message(m.sample, f"gen-{m.ident}", "hello", sent_at=m.at), m.secrets.generic
    )


def _number(m: _Made) -> int:
    """A positive integer id unique to this delivery (Telegram, Shopify and VK ids are numbers)."""
    return int(m.tag, 16) % 10**6 * 10**7 + m.n + 1


BUILDERS: dict[str, Callable[[_Made], Webhook]] = {
    "widget": _widget,
    "whatsapp": _whatsapp,
    "telegram": _telegram,
    "shopify": _shopify,
    "mta": _mta,
    "mailgun": _mailgun,
    "sendgrid": _sendgrid,
    "messenger": _messenger,
    "instagram": _instagram,
    "vk": _vk,
    "square": _square,
    "till": _till,
    "twilio": _twilio,
    "generic": _generic,
}


def _zipf(rng: random.Random, customers: int, s: float = 1.1) -> Iterator[int]:
    cumulative = list(itertools.accumulate(1.0 / rank**s for rank in range(1, customers + 1)))
    ranks = list(range(customers))
    rng.shuffle(ranks)  # the busiest person is not always person 0
    while True:
        yield ranks[min(bisect.bisect_left(cumulative, rng.random() * cumulative[-1]), customers - 1)]


class DeliverySource:
    """Hands out fresh deliveries, each once: a redelivery would not be new work for the hub.

    ``only`` restricts the mix to some providers (the per-provider CPU figures); ``first_person``
    shifts the population so two sources in one store never share a person.
    """

    def __init__(
        self,
        secrets_: LocalSecrets,
        *,
        customers: int = 20_000,
        seed: int = 11,
        only: Sequence[str] | None = None,
        first_person: int = 0,
    ) -> None:
        if first_person + customers > 100_000:
            raise ValueError("first_person + customers must stay below 100,000 (distinct sample phones)")
        unknown = set(only or ()) - set(BUILDERS)
        if unknown:
            raise ValueError(f"unknown providers: {sorted(unknown)}")
        self._secrets = secrets_
        self._rng = random.Random(seed)
        self._who = _zipf(self._rng, customers)
        mix = [(name, share) for name, share in MIX if only is None or name in only]
        self._names = [name for name, _ in mix]
        self._weights = list(itertools.accumulate(share for _, share in mix))
        self._first_person = first_person
        self._tag = secrets.token_hex(4)  # a fresh run never repeats an earlier run's ids
        self._taken = 0

    @property
    def taken(self) -> int:
        return self._taken

    def take(self, count: int) -> list[Request]:
        """``count`` new deliveries, signed now, labelled with their provider."""
        at = datetime.now(UTC).replace(microsecond=0)
        made: list[Request] = []
        for _ in range(count):
            name = self._names[bisect.bisect_left(self._weights, self._rng.random() * self._weights[-1])]
            person = self._first_person + next(self._who)
            hook = BUILDERS[name](_Made(person, self._taken, self._tag, at, self._secrets))
            made.append(Request("POST", hook.path, hook.headers, hook.body, name))
            self._taken += 1
        return made
