"""Pure translators: one provider's raw webhook body -> the contract events it carries.

Each translator is ``translate(raw, *, received_at, correlation_id, default_region) -> list[event]``.
It does no I/O, derives every ``event_id`` from the provider's own message id (so a redelivery is
the same event), and raises :class:`~services.ingress.errors.InvalidPayload` naming the bad field.
A list, because one delivery may carry several messages (WhatsApp) or none (status updates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from contracts import InteractionEvent
from services.ingress.translate import (
    chat_widget,
    email_mta,
    meta_messaging,
    meta_whatsapp,
    shopify,
    square,
    telegram,
    till,
    twilio_voice,
    vk,
)

translate_email = email_mta.translate
translate_chat = chat_widget.translate
translate_whatsapp = meta_whatsapp.translate
translate_shopify = shopify.translate


class Translator(Protocol):
    """The shape every translator shares, so routes can be wired from one table."""

    def __call__(
        self, raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
    ) -> Sequence[InteractionEvent]: ...


#: Provider name (as stored in ``InteractionEvent.provider``) -> its translator.
TRANSLATORS: Mapping[str, Translator] = {
    email_mta.PROVIDER: translate_email,
    chat_widget.PROVIDER: translate_chat,
    meta_whatsapp.PROVIDER: translate_whatsapp,
    shopify.PROVIDER: translate_shopify,
    telegram.PROVIDER: telegram.translate,
    vk.PROVIDER: vk.translate,
    meta_messaging.MESSENGER.provider: meta_messaging.translate,
    meta_messaging.INSTAGRAM.provider: meta_messaging.translate,
    square.PROVIDER: square.translate,
    till.PROVIDER: till.translate,
    twilio_voice.PROVIDER: twilio_voice.translate,
}

__all__ = [
    "TRANSLATORS",
    "Translator",
    "chat_widget",
    "email_mta",
    "meta_whatsapp",
    "shopify",
    "translate_chat",
    "translate_email",
    "translate_shopify",
    "translate_whatsapp",
]
