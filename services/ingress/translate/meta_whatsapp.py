"""WhatsApp Cloud API ``messages`` webhooks (Meta) -> :class:`SocialMessageReceived`, one per message.

Meta batches: one delivery may hold several entries, each with several changes, each with several
messages, and it redelivers the whole batch when we fail. Every message therefore becomes its own
event keyed by its ``wamid``, so a redelivered batch dedupes message by message. Status updates
(sent/delivered/read of *our* messages) and other subscription fields are not interactions.
"""

from __future__ import annotations

from datetime import UTC, datetime

from contracts import IdentityKind, MediaRef, Sender, SocialMessageReceived
from services.ingress.errors import InvalidPayload
from services.ingress.translate._common import (
    IdentityCandidate,
    Node,
    clip,
    contract_errors,
    event_id,
    load_json,
    sender_identities,
    summarise,
)
from services.ingress.translate._media import kept, media_ref

PROVIDER = "meta_whatsapp"
NETWORK = "whatsapp"
_OBJECT = "whatsapp_business_account"
#: Message types whose object names an uploaded file by media ``id`` (fetched from the Graph API).
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")


def translate(
    raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[SocialMessageReceived]:
    """Every inbound message in the batch, in payload order; ``[]`` when it holds none."""
    body = load_json(raw)
    if body.required("object").text() != _OBJECT:
        raise InvalidPayload(f"field object must be {_OBJECT}")
    events: list[SocialMessageReceived] = []
    for value in _message_values(body):
        names = _profile_names(value)
        for message in value.child("messages").items():
            events.append(_event(message, names, received_at, correlation_id, default_region))
    return events


def _message_values(body: Node) -> list[Node]:
    """The ``value`` of every change whose subscription field is ``messages``."""
    values: list[Node] = []
    for entry in body.required("entry").items():
        for change in entry.required("changes").items():
            if change.child("field").optional_text() == "messages":
                values.append(change.required("value"))
    return values


def _profile_names(value: Node) -> dict[str, str]:
    """``wa_id`` -> profile name, from the change's ``contacts``."""
    names: dict[str, str] = {}
    for contact in value.child("contacts").items():
        wa_id = contact.child("wa_id").optional_ident()
        profile = contact.child("profile")
        name = None if profile.is_missing() else profile.child("name").optional_text()
        if wa_id is not None and name is not None:
            names[wa_id] = name
    return names


def _event(
    message: Node, names: dict[str, str], received_at: datetime, correlation_id: str, default_region: str
) -> SocialMessageReceived:
    wa_id_node = message.required("from")
    wa_id = wa_id_node.ident()
    message_id = message.required("id").ident()
    with contract_errors("whatsapp message"):
        return SocialMessageReceived(
            event_id=event_id(PROVIDER, message_id),
            occurred_at=_unix_time(message.required("timestamp")),
            received_at=received_at,
            correlation_id=correlation_id,
            provider=PROVIDER,
            provider_message_id=message_id,
            sender=Sender(
                identities=sender_identities(
                    [
                        # ``from`` is the number in E.164 without its "+".
                        IdentityCandidate(IdentityKind.PHONE, "+" + wa_id.lstrip("+"), wa_id_node.path),
                        IdentityCandidate(IdentityKind.HANDLE, wa_id, wa_id_node.path, NETWORK),
                    ],
                    default_region,
                ),
                display_name=clip(names.get(wa_id), 200),
            ),
            summary=_summary(message),
            network=NETWORK,
            conversation_id=wa_id,
            media=_media(message),
        )


def _media(message: Node) -> tuple[MediaRef, ...]:
    """The media ``id`` of an image, video, audio, document or sticker message, with its declared type
    and (documents) file name; the URL comes later from ``GET /<media id>``, as it expires in minutes."""
    kind = message.required("type").text()
    if kind not in MEDIA_TYPES or message.child(kind).is_missing():
        return ()
    media = message.required(kind)
    return kept(
        [
            media_ref(
                kind,
                media_id=media.child("id").optional_ident(),
                content_type=media.child("mime_type").optional_text(),
                filename=media.child("filename").optional_text(),
            )
        ]
    )


def _unix_time(node: Node) -> datetime:
    """Meta sends seconds since the epoch as a string."""
    text = node.ident()
    if text.isascii() and text.isdigit():
        try:
            return datetime.fromtimestamp(int(text), UTC)
        except (ValueError, OverflowError, OSError):
            pass  # out of range: reported below like any other bad timestamp
    raise InvalidPayload(f"field {node.path} must be unix seconds")


def _summary(message: Node) -> str:
    """The text of a text message; ``[<type>]`` for media, locations, reactions and the rest."""
    kind = message.required("type").text()
    if kind == "text":
        return summarise(message.required("text").required("body").text())
    return f"[{kind[:60]}]"
