"""Which fields of each event are personal data: the ones crypto-shredding encrypts and erasure blanks.

The list is explicit per event type (a path language small enough to read at a glance) rather than
inferred, because "personal" is a legal judgement, not a type: a provider's message id is an id, a
summary of the message is personal. Amounts, currencies, counts, positions, ids, channels and
timestamps stay plaintext, so counts and totals survive an erasure. ``tests/unit/test_personal.py``
fails when an event type of the registry has no entry here, or an entry names a field that does not
exist, so a new contract cannot slip through unclassified.

Paths: ``a.b`` walks objects, ``a[]`` every element of a list; a leaf that is absent or null is skipped.
Every erased leaf becomes :data:`ERASED`, a string every personal field of every contract accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

#: What a personal field reads as once its customer's key is destroyed.
ERASED: Final = "[erased]"

_SENDER = ("sender.identities[].value", "sender.display_name", "summary")
#: Attribute values that describe the person (consents and the language tag stay: they identify no one).
_PERSONAL_ATTRIBUTE_VALUES = frozenset({"name", "birthday", "children", "car", "preferences"})

Paths = tuple[str, ...]
#: event type -> its personal paths, or a function of the event's data when it depends on a value.
PERSONAL_FIELDS: Final[Mapping[str, Paths | Callable[[Mapping[str, Any]], Paths]]] = {
    "interaction.email.received": (
        *_SENDER,
        "subject",
        "to[]",
        "cc[]",
        "attachments[].filename",
    ),
    "interaction.chat.received": (*_SENDER, "media[].url", "media[].filename"),
    "interaction.social.received": (*_SENDER, "media[].url", "media[].filename"),
    "interaction.pos.purchase": _SENDER,
    "interaction.pos.refund": (*_SENDER, "reason"),
    "interaction.voice.call": (*_SENDER, "from_number", "to_number"),
    "customer.identity.linked": ("identity.value",),
    "customer.identity.unlinked": ("identity.value", "reason"),
    "customer.merged_into": ("shared_identities[].value",),
    "customer.absorbed": ("shared_identities[].value",),
    "customer.unmerged": ("returned_identities[].value", "reason"),
    "customer.restored": ("returned_identities[].value", "reason"),
    "customer.attribute.set": lambda data: (
        ("value",) if data.get("attribute") in _PERSONAL_ATTRIBUTE_VALUES else ()
    ),
    "customer.attribute.cleared": ("reason",),
    "customer.document.attached": ("filename", "title"),
    "customer.recording.stored": (),
    "customer.recording.unavailable": (),
    "customer.media.stored": ("filename",),
    "customer.media.unavailable": (),
    "customer.forgotten": (),
    "sales.deal.opened": ("title",),
    "sales.deal.stage_moved": (),
    "sales.deal.amount_changed": (),
    "sales.deal.owner_changed": (),
    "sales.deal.expected_close_changed": (),
    "sales.deal.won": (),
    "sales.deal.lost": ("comment",),
    "sales.deal.reopened": (),
    "sales.note.added": ("text",),
    "sales.task.created": ("title",),
    "sales.task.assigned": (),
    "sales.task.completed": ("outcome",),
    "sales.task.cancelled": ("reason",),
    "sales.queue.task_queued": (),
    "sales.queue.task_released": (),
}

#: Store metadata keys that carry free text a staff member typed (a merge's reason).
PERSONAL_METADATA: Final[Paths] = ("reason",)


def personal_paths(event_type: str, data: Mapping[str, Any]) -> Paths:
    """The personal paths of an event; an unknown type has none (it is not one of ours to judge)."""
    entry = PERSONAL_FIELDS.get(event_type, ())
    return entry(data) if callable(entry) else entry


def leaves(data: Any, path: str) -> Iterator[tuple[str, dict[str, Any] | list[Any], str | int]]:
    """Every present, non-null leaf ``path`` names in ``data``: ``(concrete path, container, key)``.

    The concrete path names list indexes (``to[1]``), so a ciphertext can be bound to its place.
    """
    yield from _walk(data, path.split("."), "")


def _walk(node: Any, steps: list[str], prefix: str) -> Iterator[tuple[str, Any, str | int]]:
    step, rest = steps[0], steps[1:]
    name, is_list = (step[:-2], True) if step.endswith("[]") else (step, False)
    if not isinstance(node, dict) or node.get(name) is None:
        return
    here = f"{prefix}.{name}" if prefix else name
    if is_list:
        items = node[name]
        if not isinstance(items, list):
            return
        for index, item in enumerate(items):
            if item is None:
                continue
            if rest:
                yield from _walk(item, rest, f"{here}[{index}]")
            else:
                yield f"{here}[{index}]", items, index
    elif rest:
        yield from _walk(node[name], rest, here)
    else:
        yield here, node, name
