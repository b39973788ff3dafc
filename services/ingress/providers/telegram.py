"""Telegram Bot API webhooks: ``POST /webhooks/chat/telegram``.

Telegram does not sign the body: it sends back the ``secret_token`` given to ``setWebhook`` in the
``X-Telegram-Bot-Api-Secret-Token`` header. Rotation: call ``setWebhook`` with the new token while
``HUB_TELEGRAM_SECRETS=new,old`` accepts both, then drop the old one.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import SecretStr

from services.ingress.delivery import Delivery
from services.ingress.endpoints import Endpoint
from services.ingress.providers.shared_secret import check_shared_secret
from services.ingress.translate import telegram

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name, not a secret)


def verify(delivery: Delivery, secrets: Sequence[SecretStr]) -> int:
    """Accept a delivery whose secret-token header equals one of ``secrets``."""
    return check_shared_secret(delivery.headers.get(SECRET_HEADER), secrets, what=f"{SECRET_HEADER} header")


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/webhooks/chat/telegram",
        "chat",
        telegram.PROVIDER,
        "A Telegram Bot API Update (message, edited_message, callback_query, business_message,"
        " edited_business_message; other types are ignored), authenticated by the setWebhook"
        " secret_token in X-Telegram-Bot-Api-Secret-Token.",
        lambda s: s.telegram_secrets,
        verify,
        telegram.translate,
        scheme="shared-secret:x-telegram-bot-api-secret-token",
    ),
)
