"""Which fields of each event are personal data: the ones crypto-shredding encrypts and erasure blanks.

Every text field of every contract is classified here, once per event type: **personal** (sealed with
the customer's key, erased by a forget) or **plain** (stays readable). A field is personal when it is,
contains or is derived from an identifier of the person (address, number, user or chat id, handle,
name, file name) or free text about them, *or when a provider may copy one into it*: a WhatsApp
conversation id is the phone number, a Telegram message id carries the chat id, an email's Message-ID
often the sender's host. Plain are amounts, currencies, positions, our own ids, channel and provider
names, enum-like words and staff ids, so counts and totals survive an erasure.

The list is explicit (a legal judgement, not a type), and ``tests/unit/test_personal.py`` walks every
contract's JSON schema: a text field of any event type that is in neither list, or a listed path that
names no field, fails the suite, so a new contract or field cannot slip through unclassified.

Paths: ``a.b`` walks objects, ``a[]`` every element of a list; a leaf that is absent or null is skipped
(a whole object or map may be a leaf: ``evidence.headers``). Every erased leaf becomes :data:`ERASED`, a
string every personal field of every contract accepts (a personal field must not be constrained to a
pattern or a type that refuses it).

Event ids and dedupe keys are no field here: they are keyed hashes (:mod:`contracts.ids`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

#: What a personal field reads as once its customer's key is destroyed.
ERASED: Final = "[erased]"

Paths = tuple[str, ...]


@dataclass(frozen=True)
class Fields:
    """One event type's text fields: ``personal`` ones and ``plain`` ones.

    ``depends`` are personal only when ``decides(data)`` says so (an attribute's value is personal for a
    name, not for a consent); otherwise they are plain.
    """

    personal: Paths = ()
    plain: Paths = ()
    depends: Paths = ()
    decides: Callable[[Mapping[str, Any]], bool] | None = None

    def personal_for(self, data: Mapping[str, Any]) -> Paths:
        if self.depends and self.decides is not None and self.decides(data):
            return (*self.personal, *self.depends)
        return self.personal

    @property
    def classified(self) -> frozenset[str]:
        """Every path this entry names, whichever side it is on."""
        return frozenset((*self.personal, *self.plain, *self.depends))


_ENVELOPE = ("event_type", "correlation_id")  # correlation id: the caller's X-Request-Id, else a uuid4
_MONEY = ("amount", "currency")


def _money(*at: str) -> Paths:
    return tuple(f"{place}.{part}" for place in at for part in _MONEY)


# --- interactions (what the ingress's translators fill in) ------------------------------------------
_INTERACTION_PERSONAL = (
    "sender.identities[].value",
    "sender.display_name",
    "summary",
    # Providers build their message ids from chat and user ids (Telegram ``update:kind:chat:message``,
    # VK ``group:message:peer``), a WhatsApp wamid encodes the number, a Message-ID the sender's host.
    "provider_message_id",
    # UTM term and content are free text a campaign tool fills (subscriber ids, search terms).
    "campaign.term",
    "campaign.content",
)
_INTERACTION_PLAIN = (
    *_ENVELOPE,
    "channel",
    "provider",
    "direction",
    "sender.identities[].kind",
    "sender.identities[].provider",
    "sender.language",  # the app's language tag: describes no one in particular
    "agent_id",  # our agent or cashier as the channel names them: staff, not the customer
    "campaign.source",
    "campaign.medium",
    "campaign.name",
    "campaign.referrer",  # a host only
    # The delivery's address in the blob store (deleted by a forget), our endpoint and URL, the provider's
    # delivery headers (topics, its own ids, signatures: HMACs under our secrets), the verification.
    "evidence.body.sha256",
    "evidence.content_type",
    "evidence.endpoint",
    "evidence.url",
    "evidence.headers",
    "evidence.verification.scheme",
)
#: A chat or social message: the conversation is the person (a phone number, a chat or user id), and a
#: provider's media handle or URL is theirs too.
_CONVERSATION = ("conversation_id", "media[].media_id", "media[].url", "media[].filename")
_MEDIA_PLAIN = ("media[].kind", "media[].content_type")
_LINES_PLAIN = (
    "lines[].sku",
    "lines[].name",
    "lines[].quantity",
    *_money("lines[].unit_price", "lines[].total", "lines[].discount"),
)

_IDENTITY = ("kind", "provider")


def _identities(at: str) -> tuple[Paths, Paths]:
    """(personal, plain) of identities at ``at`` (``identity`` or ``shared_identities[]``)."""
    return (f"{at}.value",), tuple(f"{at}.{part}" for part in _IDENTITY)


def _with_identities(at: str, personal: Paths, plain: Paths) -> Fields:
    values, parts = _identities(at)
    return Fields(personal=(*values, *personal), plain=(*_ENVELOPE, *parts, *plain))


def _customer(personal: Paths = (), plain: Paths = ()) -> Fields:
    return Fields(personal=personal, plain=(*_ENVELOPE, *plain))


_SALES = (*_ENVELOPE, "actor")  # staff ids and automations (``hub.autoclose``): not the customer

#: Attribute values that describe the person (consents and the language tag identify no one).
_PERSONAL_ATTRIBUTE_VALUES = frozenset({"name", "birthday", "children", "car", "preferences"})
_ATTRIBUTE_PLAIN = (*_ENVELOPE, "attribute", "source", "provider", "actor")

#: Every event type of the registry, its text fields classified.
FIELDS: Final[Mapping[str, Fields]] = {
    "interaction.email.received": Fields(
        personal=(
            *_INTERACTION_PERSONAL,
            "subject",
            "message_id",
            "in_reply_to",
            "to[]",
            "cc[]",
            "attachments[].filename",
        ),
        plain=(*_INTERACTION_PLAIN, "attachments[].content_type", "attachments[].sha256"),
    ),
    "interaction.chat.received": Fields(
        personal=(*_INTERACTION_PERSONAL, *_CONVERSATION),
        plain=(*_INTERACTION_PLAIN, *_MEDIA_PLAIN),
    ),
    "interaction.social.received": Fields(
        personal=(*_INTERACTION_PERSONAL, *_CONVERSATION),
        plain=(*_INTERACTION_PLAIN, *_MEDIA_PLAIN, "network"),
    ),
    "interaction.pos.purchase": Fields(
        # Discount codes are often issued to one person (single-use, referral codes built from a name).
        personal=(*_INTERACTION_PERSONAL, "discount_codes[]"),
        plain=(
            *_INTERACTION_PLAIN,
            "order_id",  # the shop's or till's number for the order: matched to deals, names no one
            *_LINES_PLAIN,
            *_money("total", "discount"),
            "payments[].method",
            "payments[].status",
            *_money("payments[].amount"),
        ),
    ),
    "interaction.pos.refund": Fields(
        personal=(*_INTERACTION_PERSONAL, "reason"),
        plain=(*_INTERACTION_PLAIN, "order_id", "refund_id", "payment_id", *_LINES_PLAIN, *_money("amount")),
    ),
    "interaction.voice.call": Fields(
        personal=(*_INTERACTION_PERSONAL, "from_number", "to_number"),
        plain=(
            *_INTERACTION_PLAIN,
            "call_id",  # the provider's random call id (Twilio CallSid)
            "status",
            "agent",  # our agent's client name
            "recording_id",
            "recording_url",  # the provider's API address of the recording: account and recording ids
        ),
    ),
    # --- customer events the hub records ------------------------------------------------------------
    "customer.identity.linked": _with_identities("identity", (), ("rule", "actor")),
    "customer.identity.unlinked": _with_identities("identity", ("reason",), ("actor",)),
    "customer.merged_into": _with_identities("shared_identities[]", (), ("rule", "actor")),
    "customer.absorbed": _with_identities("shared_identities[]", (), ("rule", "actor")),
    "customer.unmerged": _with_identities("returned_identities[]", ("reason",), ("actor",)),
    "customer.restored": _with_identities("returned_identities[]", ("reason",), ("actor",)),
    "customer.attribute.set": Fields(
        plain=_ATTRIBUTE_PLAIN,
        depends=("value",),
        decides=lambda data: data.get("attribute") in _PERSONAL_ATTRIBUTE_VALUES,
    ),
    "customer.attribute.cleared": Fields(personal=("reason",), plain=_ATTRIBUTE_PLAIN),
    "customer.document.attached": _customer(
        ("filename", "title"), ("content_type", "document.sha256", "actor")
    ),
    "customer.recording.stored": _customer(
        (), ("call_id", "recording_id", "recording.sha256", "content_type")
    ),
    "customer.recording.unavailable": _customer((), ("call_id", "recording_id", "reason")),
    "customer.media.stored": _customer(("filename",), ("provider", "kind", "media.sha256", "content_type")),
    "customer.media.unavailable": _customer((), ("provider", "kind", "reason")),
    "customer.forgotten": _customer((), ("actor", "reason", "erased_blobs[]")),  # reason: a code, by pattern
    # --- sales ----------------------------------------------------------------------------------------
    "sales.deal.opened": Fields(
        personal=("title",),
        plain=(
            *_SALES,
            *_money("amount"),
            "pipeline_id",
            "stage_id",
            "owner_id",
            "source_channel",
            "source_campaign",
        ),
    ),
    "sales.deal.stage_moved": Fields(plain=(*_SALES, "from_stage", "to_stage")),
    "sales.deal.amount_changed": Fields(plain=(*_SALES, *_money("previous", "amount"))),
    "sales.deal.owner_changed": Fields(plain=(*_SALES, "previous_owner", "owner_id")),
    "sales.deal.expected_close_changed": Fields(plain=_SALES),
    "sales.deal.won": Fields(plain=(*_SALES, "from_stage", "stage_id", *_money("amount"), "order_id")),
    "sales.deal.lost": Fields(personal=("comment",), plain=(*_SALES, "from_stage", "stage_id", "reason")),
    "sales.deal.reopened": Fields(plain=(*_SALES, "from_stage", "stage_id")),
    "sales.note.added": Fields(personal=("text",), plain=_SALES),
    "sales.task.created": Fields(personal=("title",), plain=(*_SALES, "kind")),
    "sales.task.assigned": Fields(plain=(*_SALES, "assignee", "team", "routing", "previous_assignee")),
    "sales.task.completed": Fields(personal=("outcome",), plain=_SALES),
    "sales.task.cancelled": Fields(personal=("reason",), plain=_SALES),
    "sales.queue.task_queued": Fields(plain=(*_SALES, "team", "assignee", "routing")),
    "sales.queue.task_released": Fields(plain=(*_SALES, "team", "assignee", "why")),
}

#: event type -> its personal paths, or a function of the event's data when it depends on a value.
PERSONAL_FIELDS: Final[Mapping[str, Paths | Callable[[Mapping[str, Any]], Paths]]] = {
    event_type: (fields.personal_for if fields.depends else fields.personal)
    for event_type, fields in FIELDS.items()
}

#: Store metadata keys that carry free text a staff member typed (a merge's reason). The others name staff,
#: keys, requests and customers by id (``actor``, ``key_id``, ``request_id``, ``customer_id``...).
PERSONAL_METADATA: Final[Paths] = ("reason",)


def personal_paths(event_type: str, data: Mapping[str, Any]) -> Paths:
    """The personal paths of an event; an unknown type has none (it is not one of ours to judge)."""
    fields = FIELDS.get(event_type)
    return () if fields is None else fields.personal_for(data)


def leaves(data: Any, path: str) -> Iterator[tuple[str, dict[str, Any] | list[Any], str | int]]:
    """Every present, non-null leaf ``path`` names in ``data``: ``(concrete path, container, key)``.

    The concrete path names list indexes (``to[1]``), so a ciphertext can be bound to its place.
    """
    yield from _walk(data, _steps(path), 0, "")


Step = tuple[str, bool]  # (field name, whether it names every element of a list)


@functools.lru_cache(maxsize=1024)
def _steps(path: str) -> tuple[Step, ...]:
    """A path's steps, parsed once per path (every sealed and opened event walks its paths)."""
    return tuple((step[:-2], True) if step.endswith("[]") else (step, False) for step in path.split("."))


def _walk(node: Any, steps: tuple[Step, ...], at: int, prefix: str) -> Iterator[tuple[str, Any, str | int]]:
    name, is_list = steps[at]
    if not isinstance(node, dict):
        return
    child = node.get(name)
    if child is None:
        return
    here = f"{prefix}.{name}" if prefix else name
    last = at + 1 == len(steps)
    if is_list:
        if not isinstance(child, list):
            return
        for index, item in enumerate(child):
            if item is None:
                continue
            if last:
                yield f"{here}[{index}]", child, index
            else:
                yield from _walk(item, steps, at + 1, f"{here}[{index}]")
    elif last:
        yield here, node, name
    else:
        yield from _walk(child, steps, at + 1, here)
