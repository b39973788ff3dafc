"""Our own JSON for systems without a provider of their own, signed per Standard Webhooks.

``POST /webhooks/generic/{channel}`` with ``channel`` one of ``chat``, ``social``, ``email``. The body
follows the Standard Webhooks payload shape, ``{"type", "timestamp", "data"}``; the one ``type``
known is ``message.received`` (anything else is refused as an unsupported event type, 422)::

    {
      "type": "message.received",
      "timestamp": "2025-03-01T09:30:00+00:00",          # optional: when the sender sent the webhook
      "data": {
        "message_id": "msg-8841",                        # the source's id of the message (stable)
        "source": "acme-helpdesk",                       # [a-z0-9][a-z0-9_.-]{0,39}
        "occurred_at": "2025-03-01T09:29:58+00:00",      # with a UTC offset
        "sender": {
          "identities": [                                # 1..20; bad emails or phones are dropped
            {"kind": "email", "value": "ada@example.com"},
            {"kind": "handle", "value": "ada_l"},        # handle/external: provider defaults to source
            {"kind": "phone", "value": "+14155550100"}
          ],
          "display_name": "Ada Lovelace"
        },
        "summary": "Is the blue one in stock?",         # cut to 200 characters
        "conversation_id": "conv-17",                    # chat and social: required
        "subject": "...", "in_reply_to": "...", "to": [...], "cc": [...]   # email only, optional
      }
    }

Unknown fields are refused (``extra="forbid"``), so a typo is a 422 rather than lost data.

Event ids: ``webhook-id`` identifies a delivery attempt's message at the sender, and two senders'
ids (or one sender's after a reinstall) can collide, so it is not the event id. The provider is
``generic:{channel}:{source}`` and the provider message id is ``data.message_id``: the same message
from the same source is one event whatever the deliveries, and sources never collide. For social,
``source`` is also the ``network``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts import (
    ChatMessageReceived,
    EmailReceived,
    IdentityKind,
    InteractionEvent,
    InvalidIdentity,
    Sender,
    SocialMessageReceived,
    normalise_identity,
)
from services.ingress.delivery import Delivery
from services.ingress.errors import InvalidPayload, UnsupportedEventType
from services.ingress.translate._common import (
    IdentityCandidate,
    clip,
    contract_errors,
    event_id,
    load_json,
    sender_identities,
    summarise,
)

CHANNELS = ("chat", "social", "email")
MESSAGE_RECEIVED = "message.received"
_EMAIL_ONLY = ("subject", "in_reply_to", "to", "cc")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class GenericIdentity(_Strict):
    """One way to reach the sender; ``provider`` qualifies a handle or an external id."""

    kind: IdentityKind
    value: str = Field(min_length=1, max_length=320)
    provider: str | None = Field(default=None, min_length=1, max_length=64)


class GenericSender(_Strict):
    identities: list[GenericIdentity] = Field(min_length=1, max_length=20)
    display_name: str | None = Field(default=None, max_length=200)


class GenericMessage(_Strict):
    """``data`` of a ``message.received`` webhook."""

    message_id: str = Field(min_length=1, max_length=300)
    source: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$")
    occurred_at: AwareDatetime
    sender: GenericSender
    summary: str = Field(default="", max_length=100_000)
    conversation_id: str | None = Field(default=None, min_length=1, max_length=300)
    subject: str | None = Field(default=None, max_length=1000)
    in_reply_to: str | None = Field(default=None, max_length=1000)
    to: list[str] | None = Field(default=None, max_length=100)
    cc: list[str] | None = Field(default=None, max_length=100)


class GenericWebhook(_Strict):
    """The Standard Webhooks payload shape; ``data`` is read by ``type``."""

    type: str = Field(min_length=1, max_length=100)
    timestamp: AwareDatetime | None = None
    data: dict[str, Any]


class MessageReceived(GenericWebhook):
    """A ``message.received`` webhook."""

    type: Literal["message.received"]
    data: GenericMessage  # type: ignore[assignment]


class ChannelTranslator:
    """The body translator of one channel of the generic endpoint."""

    def __init__(self, channel: Literal["chat", "social", "email"]) -> None:
        self.channel = channel

    def __call__(
        self, raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
    ) -> list[InteractionEvent]:
        return translate(
            raw,
            channel=self.channel,
            received_at=received_at,
            correlation_id=correlation_id,
            default_region=default_region,
        )


_TRANSLATORS = {channel: ChannelTranslator(channel) for channel in ("chat", "social", "email")}


def translator_for(delivery: Delivery) -> ChannelTranslator:
    """The translator of the channel in the path; an unknown channel is refused (422)."""
    translator = _TRANSLATORS.get(delivery.path_params.get("channel", ""))
    if translator is None:
        raise InvalidPayload(f"unknown channel in the path: use one of {', '.join(CHANNELS)}")
    return translator


def translate(
    raw: bytes, *, channel: str, received_at: datetime, correlation_id: str, default_region: str
) -> list[InteractionEvent]:
    """One event per webhook; raises :class:`InvalidPayload` naming the first bad field."""
    if channel not in CHANNELS:
        raise InvalidPayload(f"unknown channel: use one of {', '.join(CHANNELS)}")
    body = load_json(raw).value
    with contract_errors("generic webhook"):
        webhook = GenericWebhook.model_validate(body)
    if webhook.type != MESSAGE_RECEIVED:
        raise UnsupportedEventType(f"event type is not {MESSAGE_RECEIVED}")
    with contract_errors("generic webhook"):
        data = MessageReceived.model_validate(body).data
    _check_channel_fields(data, channel)
    provider = f"generic:{channel}:{data.source}"
    identities = sender_identities(_candidates(data), default_region)
    with contract_errors("generic webhook"):  # a name with a NUL character is refused here
        sender = Sender(identities=identities, display_name=data.sender.display_name)
    common: dict[str, Any] = {
        "event_id": event_id(provider, data.message_id),
        "occurred_at": data.occurred_at,
        "received_at": received_at,
        "correlation_id": correlation_id,
        "provider": provider,
        "provider_message_id": data.message_id,
        "sender": sender,
        "summary": summarise(data.summary),
    }
    with contract_errors(f"{channel} message"):
        if channel == "chat":
            return [ChatMessageReceived(**common, conversation_id=data.conversation_id)]
        if channel == "social":
            return [
                SocialMessageReceived(**common, network=data.source, conversation_id=data.conversation_id)
            ]
        return [
            EmailReceived(
                **common,
                subject=data.subject or "",
                message_id=None,
                in_reply_to=data.in_reply_to,
                to=_addresses(data.to),
                cc=_addresses(data.cc),
            )
        ]


def _check_channel_fields(data: GenericMessage, channel: str) -> None:
    if channel in ("chat", "social") and data.conversation_id is None:
        raise InvalidPayload(f"field data.conversation_id is required for channel {channel}")
    if channel != "email":
        given = [name for name in _EMAIL_ONLY if getattr(data, name) is not None]
        if given:
            raise InvalidPayload(f"field data.{given[0]} is only for channel email")


def _candidates(data: GenericMessage) -> list[IdentityCandidate]:
    qualified = {IdentityKind.HANDLE, IdentityKind.EXTERNAL}
    return [
        IdentityCandidate(
            identity.kind,
            identity.value,
            f"data.sender.identities[{index}]",
            (identity.provider or data.source) if identity.kind in qualified else None,
        )
        for index, identity in enumerate(data.sender.identities)
    ]


def _addresses(values: Sequence[str] | None) -> tuple[str, ...]:
    """Normalised addresses; one that is not an address is skipped, as the MTA skips it."""
    found: list[str] = []
    for value in values or ():
        try:
            normal = normalise_identity(IdentityKind.EMAIL, value).value
        except InvalidIdentity:
            continue
        if normal not in found:
            found.append(normal)
    return tuple(clip(item, 320) or "" for item in found)
